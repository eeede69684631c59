import Foundation
import MMFuzz
import MMSim
import Testing

/// `mmfuzz trace --huge`: the traced anonymous private mappings of 2 MiB
/// or more are given MADV_HUGEPAGE, checked against the model as every
/// other call, beside the replay as traced.
@Suite("Trace: huge pages")
struct TraceHugeTests {
    static func line(_ pid: Int, _ time: String, _ event: String, _ fields: String) -> String {
        Snippet.line("cc1", pid, time, event, fields)
    }

    static func mmap(_ t: String, len: UInt64, flags: UInt64, fd: String = "0xffffffff", at ret: UInt64) -> [String] {
        [line(200, t + "1", "syscalls:sys_enter_mmap",
              "addr: 0x00000000, len: 0x\(String(len, radix: 16)), prot: 0x00000003, flags: 0x\(String(flags, radix: 16)), fd: \(fd), off: 0x00000000"),
         line(200, t + "2", "syscalls:sys_exit_mmap", "0x\(String(ret, radix: 16))")]
    }

    static func fault(_ pid: Int, _ t: String, _ addr: UInt64, _ code: String) -> String {
        line(pid, t, "exceptions:page_fault_user", "address=0x\(String(addr, radix: 16)) ip=0x1 error_code=\(code)")
    }

    static let base: UInt64 = 0x7f00_0000_0000

    /// 4 MiB anonymous private at a 2 MiB boundary (advised: two huge
    /// pages), 2 MiB shared anonymous, 4 MiB private file and 1 MiB
    /// anonymous (none advised); a fork whose child reads both huge
    /// pages and exits, a munmap of the second huge page whole, then
    /// exits.  With `splits`, the child writes the first huge page (a
    /// split, then a copy of one page) and the parent unmaps one page of
    /// it (another split).
    static func snippet(splits: Bool) -> String {
        var l: [String] = []
        l += mmap("1.00000", len: 0x40_0000, flags: 0x22, at: base)
        l.append(fault(200, "1.000010", base + 0x10, "0x6"))
        l.append(fault(200, "1.000011", base + 0x20_0008, "0x6"))
        l.append(fault(200, "1.000012", base + 0x10_0000, "0x4"))
        l += mmap("1.00002", len: 0x20_0000, flags: 0x21, at: base + 0x60_0000)
        l += mmap("1.00003", len: 0x40_0000, flags: 0x02, fd: "0x00000003", at: base + 0x80_0000)
        l += mmap("1.00004", len: 0x10_0000, flags: 0x22, at: base + 0xc0_0000)
        l.append(fault(200, "1.000050", base + 0x60_0000, "0x6"))
        l.append(fault(200, "1.000051", base + 0x80_0000, "0x6"))
        l.append(fault(200, "1.000052", base + 0xc0_0000, "0x6"))
        l.append(line(200, "1.000060", "task:task_newtask", "pid=201 comm=cc1 clone_flags=1200000 oom_score_adj=0"))
        l.append(line(200, "1.000061", "sched:sched_process_fork", "comm=cc1 pid=200 child_comm=cc1 child_pid=201"))
        l.append(fault(201, "1.000062", base + 0x10, splits ? "0x7" : "0x4"))
        l.append(fault(201, "1.000063", base + 0x20_0010, "0x4"))
        l.append(line(201, "1.000064", "sched:sched_process_exit", "comm=cc1 pid=201 prio=120 group_dead=true"))
        if splits {
            l.append(line(200, "1.000070", "syscalls:sys_enter_munmap", "addr: 0x\(String(base + 0x3000, radix: 16)), len: 0x00001000"))
            l.append(line(200, "1.000071", "syscalls:sys_exit_munmap", "0x0"))
        }
        l.append(line(200, "1.000072", "syscalls:sys_enter_munmap", "addr: 0x\(String(base + 0x20_0000, radix: 16)), len: 0x00200000"))
        l.append(line(200, "1.000073", "syscalls:sys_exit_munmap", "0x0"))
        l.append(fault(200, "1.000080", base + 0x10, "0x4"))
        l.append(line(200, "1.000090", "sched:sched_process_exit", "comm=cc1 pid=200 prio=120 group_dead=true"))
        return l.joined(separator: "\n") + "\n"
    }

    static let snippet = snippet(splits: false)

    static let advised = TraceTally.hugeAdvised

    @Test("beside: each variant as traced, then with huge pages; only the large anonymous private mapping is advised",
          arguments: [Variant.baseline, Variant(gather: .inplace, ptl: .split, preempt: true)])
    func besideTheTracedReplay(variant: Variant) throws {
        let o = options { $0.hugePages = .beside; $0.checkpointEvery = 4 }
        let results = try TraceReplayer.replay(.bytes(Array(Self.snippet.utf8)), variants: [variant], options: o)
        try #require(results.count == 2)
        let (small, huge) = (results[0], results[1])
        #expect(!small.hugePages && huge.hugePages)
        #expect(small.label == variant.name && huge.label == variant.name + " +thp")
        for r in results {
            #expect(r.failure == nil, "\(r.label): \(r.failure?.description ?? "")")
            #expect(r.tally.skippedTotal == 0 && r.tally.replayed == r.tally.events, "\(r.label)")
            #expect(r.stats.framesUsedNow == 0, "\(r.label)")
        }
        #expect(small.tally.notes[Self.advised] == nil)
        #expect(huge.tally.notes[Self.advised] == 1)
        #expect(huge.tally.machineCalls == small.tally.machineCalls + 1)
        #expect(small.stats.thpFaults == 0 && small.stats.thpFreed == 0 && small.stats.thpSplits == 0)
        // The 4 MiB mapping's two aligned 2 MiB: one huge page each,
        // copied by the fork, zapped whole by the child's exit (2), the
        // parent's munmap (1) and exit (1).
        let s = huge.stats
        #expect(s.thpFaults == 2 && s.thpFallbacks == 0)
        #expect(s.thpForkCopies == 2)
        #expect(s.thpSplits == 0)
        #expect(s.thpFreed == 2)
        let zaps = variant.gather == .inplace ? s.thpZapsInplace : s.thpZapsVector
        let otherZaps = variant.gather == .inplace ? s.thpZapsVector : s.thpZapsInplace
        #expect(zaps == 4 && otherZaps == 0, "\(s.thpZapsVector) \(s.thpZapsInplace)")
        // Nothing else changes with the advice: the same faults and forks.
        #expect(s.forks == small.stats.forks && s.exits == small.stats.exits)
    }

    /// The child's write to a shared huge page splits it (and copies one
    /// page), a munmap of one page splits the parent's: the compound page
    /// stays allocated until its last page is unmapped.  The model merged
    /// here (huge-swift at 6500d4f) counts the unmapped pages as freed, so
    /// the next checkpoint finds the machine holding more user pages than
    /// it; huge-swift's 8fb13e1 ("a 2 MiB page is freed whole") models it,
    /// and with it this replay is clean and every figure is checked.
    @Test("splits: a copy-on-write and a partial munmap of huge pages",
          arguments: [Variant.baseline, Variant(gather: .inplace, ptl: .split, preempt: true)])
    func splits(variant: Variant) throws {
        let r = try TraceReplayer.replay(.bytes(Array(Self.snippet(splits: true).utf8)), variant: variant,
                                         options: options { $0.hugePages = .only; $0.checkpointEvery = 4 })
        #expect(r.hugePages)
        if let f = r.failure, f.kind == "state:user-pages" {
            withKnownIssue("the model before huge-swift's 8fb13e1 frees a split 2 MiB page's pages one by one",
                           isIntermittent: true) {
                Issue.record("\(f)")
            }
            return
        }
        #expect(r.failure == nil, "\(r.failure?.description ?? "")")
        let s = r.stats
        #expect(s.thpFaults == 2 && s.thpForkCopies == 2 && s.thpSplits == 2 && s.thpFreed == 2)
        #expect(s.cowCopies == 1 && s.framesUsedNow == 0)
    }

    @Test("the replay as traced is the same with --huge beside it as without")
    func tracedReplayUnchanged() throws {
        let plain = try TraceReplayer.replay(.bytes(Snippet.kbuildHead), variants: [.baseline], options: options())
        let beside = try TraceReplayer.replay(.bytes(Snippet.kbuildHead), variants: [.baseline],
                                              options: options { $0.hugePages = .beside })
        #expect(beside.count == 2 && plain.count == 1)
        #expect(beside[0].stats == plain[0].stats && beside[0].tally == plain[0].tally)
        #expect(beside.allSatisfy { $0.failure == nil })
        // `only` replays the huge one alone, as the single-variant entry does.
        let only = try TraceReplayer.replay(.bytes(Snippet.kbuildHead), variant: .baseline,
                                            options: options { $0.hugePages = .beside })
        #expect(only.hugePages && only.stats == beside[1].stats)
    }

    @Test("the table, JSON and report name the +thp rows and show the huge-page counters")
    func report() throws {
        let variants = [Variant(gather: .vector, preempt: true), Variant(gather: .inplace, preempt: true)]
        let run = try TraceRun.run(.bytes(Array(Self.snippet.utf8)), variants: variants,
                                   options: options { $0.hugePages = .beside })
        #expect(run.clean)
        #expect(run.metrics.map(\.label) == ["vector/mm/preempt", "vector/mm/preempt +thp",
                                             "inplace/mm/preempt", "inplace/mm/preempt +thp"])
        let text = run.textTable()
        #expect(text.contains("huge faults") && text.contains("huge zaps (inplace)") && text.contains("+thp"))
        let object = try JSONSerialization.jsonObject(with: Data(run.json().utf8)) as! [String: Any]
        let rows = try #require(object["variants"] as? [[String: Any]])
        #expect(rows.map { $0["hugePages"] as? Bool } == [false, true, false, true])
        #expect(rows.map { $0["hugeFaults"] as? Int } == [0, 2, 0, 2])
        #expect(rows.map { $0["hugeAdvised"] as? Int } == [0, 1, 0, 1])
        #expect(rows[3]["hugeZapsInplace"] as? Int ?? 0 > 0 && rows[1]["hugeZapsVector"] as? Int ?? 0 > 0)
        #expect(run.ratioLines().count == 2)
        #expect(run.ratioLines()[1].contains("vector/mm/preempt +thp"))
        let md = run.markdownReport(chartFile: "chart.svg")
        #expect(md.contains("| inplace/mm/preempt +thp |") && md.contains("1: " + Self.advised))
        #expect(run.svgChart().contains("inplace/mm/preempt +thp"))
        // Without --huge nothing of it shows.
        let plain = try TraceRun.run(.bytes(Array(Self.snippet.utf8)), variants: variants, options: options())
        #expect(!plain.textTable().contains("huge faults") && !plain.textTable().contains("+thp"))
    }
}
