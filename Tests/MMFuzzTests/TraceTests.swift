import Foundation
import MMFuzz
import MMSim
import Testing

/// Trace snippets, as the README's format.
enum Snippet {
    static func line(_ comm: String, _ pid: Int, _ time: String, _ event: String, _ fields: String) -> String {
        "\(comm) \(pid)/\(pid) \(time): \(event): \(fields)"
    }

    /// A shell that vforks a child, which execs and maps, faults and
    /// exits; the shell grows its heap with brk and touches it.
    static let vforkExecBrk = [
        line("sh", 100, "1.000001", "syscalls:sys_enter_brk", "brk: 0x00000000"),
        line("sh", 100, "1.000002", "syscalls:sys_exit_brk", "0x55550000"),
        line("sh", 100, "1.000003", "syscalls:sys_enter_brk", "brk: 0x55571000"),
        line("sh", 100, "1.000004", "syscalls:sys_exit_brk", "0x55571000"),
        line("sh", 100, "1.000005", "exceptions:page_fault_user", "address=0x55550010 ip=0x1 error_code=0x6"),
        line("sh", 100, "1.000006", "exceptions:page_fault_user", "address=0x55570ff8 ip=0x1 error_code=0x6"),
        line("sh", 100, "1.000007", "exceptions:page_fault_user", "address=0x55550010 ip=0x1 error_code=0x4"),
        line("sh", 100, "1.000008", "task:task_newtask", "pid=101 comm=sh clone_flags=4100 oom_score_adj=0"),
        line("sh", 100, "1.000009", "sched:sched_process_fork", "comm=sh pid=100 child_comm=sh child_pid=101"),
        line("ls", 101, "1.000010", "exceptions:page_fault_kernel", "address=0x7ffe3ae6aa79 ip=_copy_to_user error_code=0x2"),
        line("ls", 101, "1.000011", "sched:sched_process_exec", "filename=/bin/ls pid=101 old_pid=101"),
        line("ls", 101, "1.000012", "syscalls:sys_enter_mmap", "addr: 0x00000000, len: 0x00002000, prot: 0x00000003, flags: 0x00000022, fd: 0xffffffff, off: 0x00000000"),
        line("ls", 101, "1.000013", "syscalls:sys_exit_mmap", "0x7f0000000000"),
        line("ls", 101, "1.000014", "exceptions:page_fault_user", "address=0x7f0000001008 ip=0x1 error_code=0x6"),
        line("ls", 101, "1.000015", "syscalls:sys_enter_mprotect", "start: 0x7f0000000000, len: 0x00001000, prot: 0x00000001"),
        line("ls", 101, "1.000016", "syscalls:sys_exit_mprotect", "0x0"),
        line("ls", 101, "1.000017", "syscalls:sys_enter_munmap", "addr: 0x7f0000000000, len: 0x00002000"),
        line("ls", 101, "1.000018", "syscalls:sys_exit_munmap", "0x0"),
        line("ls", 101, "1.000019", "sched:sched_process_exit", "comm=ls pid=101 prio=120 group_dead=true"),
        line("sh", 100, "1.000020", "exceptions:page_fault_user", "address=0x55550010 ip=0x1 error_code=0x4"),
        line("sh", 100, "1.000021", "task:task_newtask", "pid=102 comm=sh clone_flags=1200000 oom_score_adj=0"),
        line("sh", 102, "1.000022", "exceptions:page_fault_user", "address=0x55550010 ip=0x1 error_code=0x7"),
        line("sh", 102, "1.000023", "sched:sched_process_exit", "comm=sh pid=102 prio=120 group_dead=true"),
        line("sh", 100, "1.000024", "sched:sched_process_exit", "comm=sh pid=100 prio=120 group_dead=true"),
    ].joined(separator: "\n") + "\n"

    static var kbuildHead: [UInt8] {
        let url = Bundle.module.url(forResource: "TraceSnippets/kbuild-head2000.perfscript", withExtension: "xz")!
        return [UInt8](try! Data(contentsOf: url))
    }

    /// The shared kbuild trace, where CI and the developers have it.
    static let sharedTrace: String? = {
        let here = URL(fileURLWithPath: #filePath)
        let root = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.deletingLastPathComponent().appendingPathComponent("shared/traces/kbuild-init-ipc.perfscript.xz").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }()
}

func options(_ body: (inout TraceReplayOptions) -> Void = { _ in }) -> TraceReplayOptions {
    var o = TraceReplayOptions()
    o.frames = 16_384
    o.saveDirectory = nil
    o.checkpointEvery = 256
    body(&o)
    return o
}

func traceError(_ source: TraceSource) -> TraceError? {
    do {
        _ = try TraceReplayer.replay(source, variant: .baseline, options: options())
        return nil
    } catch {
        return error
    }
}

@Suite("Trace: reading and parsing")
struct TraceParsingTests {
    @Test("every event of the README's format parses")
    func parsesEveryKind() throws {
        let events = try TraceParser.parse(text: """
            make 23492/23492 1028.282366:  syscalls:sys_enter_mprotect: start: 0x7f2209a44000, len: 0x00004000, prot: 0x00000001
            make 23492/23492 1028.282379:  syscalls:sys_exit_mprotect: 0x0
            make 19255/19255  816.655622:  exceptions:page_fault_user: address=0x7f08f51e6e06 ip=0x7f08f51ce7ad error_code=0x6
            make 23492/23492 1028.283876:  task:task_newtask: pid=23494 comm=make clone_flags=4100 oom_score_adj=0
            sh   19257/19257  816.659357:  sched:sched_process_fork: comm=sh pid=19257 child_comm=sh child_pid=19258
            sh   23494/23494 1028.284274:  sched:sched_process_exec: filename=/bin/sh pid=23494 old_pid=23494
            mkdir 19258/19258 816.660810:  sched:sched_process_exit: comm=mkdir pid=19258 prio=120 group_dead=true
            Web Content 7/8 1.5: syscalls:sys_exit_mmap: -12
            """)
        #expect(events.count == 8)
        #expect(events[0].kind == .enterMprotect(addr: 0x7f22_09a4_4000, length: 0x4000, prot: 1))
        #expect(events[0].time == 1_028_282_366)
        #expect(events[1].kind == .exit(.mprotect, ret: 0))
        #expect(events[2].kind == .fault(user: true, address: 0x7f08_f51e_6e06, errorCode: 6))
        #expect(events[3].kind == .newTask(pid: 23494, cloneFlags: 0x4100))
        #expect(events[4].kind == .fork(parent: 19257, child: 19258))
        #expect(events[5].kind == .exec(pid: 23494))
        #expect(events[6].kind == .processExit(pid: 19258))
        #expect(events[7].pid == 7 && events[7].tid == 8)
        #expect(events[7].kind == .exit(.mmap, ret: UInt64(bitPattern: -12)))
    }

    @Test("an unknown event is an error naming its line")
    func unknownEvent() {
        let text = Snippet.vforkExecBrk + "sh 100/100 2.0: sched:sched_switch: prev_comm=sh\n"
        let e = traceError(.bytes(Array(text.utf8)))
        #expect(e?.line == 25)
        #expect(e?.message.contains("unknown event 'sched:sched_switch'") == true)
    }

    @Test("a malformed field is an error naming its line and field")
    func malformedField() {
        var lines = Snippet.vforkExecBrk.split(separator: "\n").map(String.init)
        lines[11] = lines[11].replacingOccurrences(of: "len: 0x00002000", with: "len: 0xZZ")
        let e = traceError(.bytes(Array((lines.joined(separator: "\n") + "\n").utf8)))
        #expect(e?.line == 12)
        #expect(e?.message.contains("malformed field 'len'") == true)

        let missing = "sh 5/5 1.0: exceptions:page_fault_user: ip=0x1 error_code=0x6\n"
        #expect(traceError(.bytes(Array(missing.utf8)))?.message.contains("no 'address' field") == true)
        let noTask = "garbage\n"
        #expect(traceError(.bytes(Array(noTask.utf8)))?.line == 1)
        let badTime = "sh 5/5 soon: exceptions:page_fault_user: address=0x1000 error_code=0x6\n"
        #expect(traceError(.bytes(Array(badTime.utf8)))?.message.contains("timestamp") == true)
    }

    @Test("a system call exit without its enter is an error naming its line")
    func exitWithoutEnter() {
        var lines = Snippet.vforkExecBrk.split(separator: "\n").map(String.init)
        lines.remove(at: 14)   // sys_enter_mprotect
        let e = traceError(.bytes(Array((lines.joined(separator: "\n") + "\n").utf8)))
        #expect(e?.line == 15)
        #expect(e?.message.contains("sys_exit_mprotect without its sys_enter_mprotect") == true)
    }

    @Test("a plain trace cut in the middle of a line is a truncated file")
    func truncatedPlain() {
        let text = Snippet.vforkExecBrk
        let cut = Array(text.utf8.dropLast(30))
        let e = traceError(.bytes(cut))
        #expect(e?.line == 24)
        #expect(e?.message.contains("truncated") == true)
    }

    @Test("a truncated xz stream is an error, with the line it stopped in")
    func truncatedXZ() {
        let xz = Snippet.kbuildHead
        let e = traceError(.bytes(Array(xz.prefix(xz.count / 2))))
        #expect(e != nil)
        #expect(e?.message.contains("truncated") == true)
        #expect((e?.line ?? 0) > 1)
    }

    @Test("a corrupt xz stream is an error, never a trap")
    func corruptXZ() {
        var xz = Snippet.kbuildHead
        for i in stride(from: xz.count / 3, to: xz.count / 3 + 64, by: 1) { xz[i] ^= 0x5A }
        let e = traceError(.bytes(xz))
        #expect(e?.message.contains("corrupt xz stream") == true)
        #expect(e?.line != nil)
    }

    @Test("a missing file is a clear error")
    func missingFile() {
        let e = traceError(.file("/nonexistent/trace.xz"))
        #expect(e?.line == nil)
        #expect(e?.message.contains("cannot open /nonexistent/trace.xz") == true)
    }

    @Test("xz and plain text of the same trace read the same, line by line")
    func xzMatchesPlain() throws {
        let xz = try TraceLineReader(.bytes(Snippet.kbuildHead))
        #expect(xz.isCompressed)
        var lines: [String] = []
        while let l = try xz.nextLine() { lines.append(String(decoding: l, as: UTF8.self)) }
        #expect(lines.count == 2000)
        let plain = try TraceLineReader(.bytes(Array((lines.joined(separator: "\n") + "\n").utf8)))
        #expect(!plain.isCompressed)
        var n = 0
        while let l = try plain.nextLine() {
            #expect(String(decoding: l, as: UTF8.self) == lines[n])
            n += 1
        }
        #expect(n == 2000)
    }
}

@Suite("Trace: replay")
struct TraceReplayTests {
    @Test("vfork, exec, brk, fork and exits replay cleanly, heap faults need no synthetic page")
    func mappingRules() throws {
        let r = try TraceReplayer.replay(.bytes(Array(Snippet.vforkExecBrk.utf8)), variant: .baseline,
                                         options: options())
        #expect(r.failure == nil)
        #expect(r.tally.events == 24)
        #expect(r.tally.skippedTotal == 0)
        #expect(r.tally.replayed == 24)
        #expect(r.tally.notes["brk growths mapped"] == 1)
        #expect(r.tally.notes["vfork children sharing the parent's mm"] == 1)
        // Only the exec'd child's stack write (a kernel fault held for the
        // exec) lands outside every traced mapping.
        #expect(r.tally.notes["synthetic pages mapped for exec's regions (stack, segments, vDSO)"] == 1)
        #expect(r.stats.forks == 1)
        #expect(r.stats.cowCopies == 1)
        #expect(r.stats.framesUsedNow == 0)
    }

    @Test("hostile values are refused by the machine or skipped, never a trap")
    func hostileValues() throws {
        let text = [
            Snippet.line("a", 1, "1.0", "syscalls:sys_enter_brk", "brk: 0x0"),
            Snippet.line("a", 1, "1.1", "syscalls:sys_exit_brk", "0xfffffffffffff000"),
            Snippet.line("a", 1, "1.2", "syscalls:sys_enter_mmap", "addr: 0x0, len: 0xffffffffffffffff, prot: 0xff, flags: 0xffffffff, fd: 0x0, off: 0x0"),
            Snippet.line("a", 1, "1.3", "syscalls:sys_exit_mmap", "0xfffffffffffff000"),
            Snippet.line("a", 1, "1.4", "syscalls:sys_enter_munmap", "addr: 0xffffffffffff0000, len: 0xffffffffffffffff"),
            Snippet.line("a", 1, "1.5", "syscalls:sys_exit_munmap", "0x0"),
            Snippet.line("a", 1, "1.6", "exceptions:page_fault_user", "address=0xffffffffffffffff ip=0x0 error_code=0x6"),
            Snippet.line("a", 1, "1.7", "exceptions:page_fault_user", "address=0x0 ip=0x0 error_code=0x6"),
            Snippet.line("a", 1, "1.8", "task:task_newtask", "pid=2147483647 comm=a clone_flags=ffffffffffffffff oom_score_adj=0"),
            Snippet.line("a", 1, "1.9", "sched:sched_process_exit", "comm=a pid=1 prio=120 group_dead=true"),
        ].joined(separator: "\n") + "\n"
        let r = try TraceReplayer.replay(.bytes(Array(text.utf8)), variant: .baseline, options: options())
        #expect(r.failure == nil, "\(r.failure?.description ?? "")")
        #expect(r.tally.events == 10)
        #expect(r.tally.skipped["fault address outside user space"] == 2)
        #expect(r.tally.replayed + r.tally.skippedTotal == 10)
    }

    @Test("the head of the kbuild trace replays cleanly on every variant", arguments: Variant.allCombinations)
    func kbuildHead(variant: Variant) throws {
        let r = try TraceReplayer.replay(.bytes(Snippet.kbuildHead), variant: variant, options: options())
        #expect(r.failure == nil, "\(r.failure?.description ?? "")")
        #expect(r.tally.events == 2000)
        #expect(r.tally.skippedTotal <= 2)
        #expect(r.tally.replayed + r.tally.skippedTotal == r.tally.events)
        #expect(r.stats.gatherFlushes > 0)
        #expect(r.stats.framesUsedNow == 0)
    }

    @Test("a prefix of the shared kbuild trace replays cleanly, streamed",
          .enabled(if: Snippet.sharedTrace != nil, "the shared trace is not beside the checkout"))
    func sharedTracePrefix() throws {
        let o = options { $0.maxEvents = 6000; $0.frames = 65_536; $0.checkpointEvery = 2000 }
        let r = try TraceReplayer.replay(.file(Snippet.sharedTrace!),
                                         variant: Variant(gather: .inplace, ptl: .split, preempt: true), options: o)
        #expect(r.failure == nil, "\(r.failure?.description ?? "")")
        #expect(r.tally.events == 6000)
        #expect(r.tally.skippedTotal <= 5)
    }

    @Test("a disagreement stops the replay at its line and writes an excerpt that fails again")
    func disagreementStops() throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("mmfuzz-trace-test-\(UInt64.random(in: 0 ... .max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Line 22 of the kbuild head: make writes 0x7f2209a65000 at
        // 1028.282088; the seam writes behind the model's back there.
        let seam = TraceSeam(time: 1_028_282_088)
        let o = options { $0.seam = seam; $0.saveDirectory = dir; $0.checkpointEvery = 50 }
        let r = try TraceReplayer.replay(.bytes(Snippet.kbuildHead), variant: .baseline, options: o)
        let f = try #require(r.failure)
        #expect(f.kind == "state:page")
        #expect(f.line == 50)
        #expect(!f.isViolation)
        #expect(f.message.contains("0xbadc0ffee"))
        let path = try #require(f.reproducer)
        #expect(f.reproducerReplays == true)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix(TraceExcerpt.marker))
        // The excerpt replays the failure on its own (with the same seam)
        // and not without it.
        var again = o
        again.saveDirectory = nil
        let r2 = try TraceReplayer.replay(.file(path), variant: .baseline, options: again)
        #expect(r2.failure?.kind == "state:page")
        again.seam = nil
        let r3 = try TraceReplayer.replay(.file(path), variant: .baseline, options: again)
        #expect(r3.failure == nil)

        let metrics = TraceMetrics(r, cost: .standard)
        #expect(metrics.disagreements == 1 && metrics.violations == 0 && !metrics.completed)
    }

    @Test("without the seam the same replay is clean: the failure above is the seam's")
    func noSeamClean() throws {
        let r = try TraceReplayer.replay(.bytes(Snippet.kbuildHead), variant: .baseline,
                                         options: options { $0.checkpointEvery = 50; $0.maxEvents = 200 })
        #expect(r.failure == nil)
    }
}

@Suite("Trace: metrics and report")
struct TraceReportTests {
    @Test("the cost model weighs each counter once, as documented")
    func costModel() {
        var s = Stats()
        s.flushOne = 3
        s.flushAll = 2
        s.ipis = 5
        s.missesAfterFlush = 10
        let c = TLBCostModel.standard
        let expected: Double = 3 * 100 + 2 * 200 + 5 * 3000 + 10 * 30
        #expect(c.nanoseconds(s) == expected)
        #expect(c.breakdown(s).map(\.1).reduce(0, +) == c.nanoseconds(s))
    }

    @Test("JSON has the issue's keys; the report has a table and an SVG chart")
    func jsonAndReport() throws {
        let variants = [Variant(gather: .vector, ptl: .mm, preempt: true),
                        Variant(gather: .inplace, ptl: .mm, preempt: true)]
        let run = try TraceRun.run(.bytes(Snippet.kbuildHead), variants: variants, options: options())
        let object = try JSONSerialization.jsonObject(with: Data(run.json().utf8)) as! [String: Any]
        #expect(object["events"] as? Int == 2000)
        #expect(object["skipped"] is Int)
        let rows = try #require(object["variants"] as? [[String: Any]])
        #expect(rows.count == 2)
        for key in ["variant", "violations", "disagreements", "flushes", "ipis", "modelledTlbNs", "maxPreemptOffPtes"] {
            #expect(rows[0][key] != nil, "missing \(key)")
        }
        #expect(rows[0]["variant"] as? String == "vector/mm/preempt")
        #expect(run.ratios(variants[0], over: variants[1]) != nil)
        let md = run.markdownReport(chartFile: "chart.svg")
        #expect(md.contains("| inplace/mm/preempt |"))
        #expect(md.contains("5x less time flushing"))
        let svg = run.svgChart()
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("vector/mm/preempt") && svg.contains("modelled TLB time"))
        #expect(svg.contains("longest preempt-off stretch"))
    }
}

@Suite("Trace: mutated input")
struct TraceMutationTests {
    /// Bytes of the snippet with a few replaced by digits, letters and
    /// punctuation the format uses.
    static func mutate(_ text: [UInt8], seed: UInt64) -> [UInt8] {
        var rng = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt64 {
            rng ^= rng << 13
            rng ^= rng >> 7
            rng ^= rng << 17
            return rng
        }
        let alphabet = Array("0123456789abcdefx:/=, -\n".utf8)
        var out = text
        for _ in 0 ..< 1 + Int(next() % 4) {
            let i = Int(next() % UInt64(out.count))
            out[i] = alphabet[Int(next() % UInt64(alphabet.count))]
        }
        return out
    }

    @Test("mutated traces give a TraceError or a clean replay, never a trap or a disagreement")
    func mutated() throws {
        let text = Array(Snippet.vforkExecBrk.utf8)
        var errors = 0, clean = 0
        for seed in 1 ... 400 as ClosedRange<UInt64> {
            do {
                let r = try TraceReplayer.replay(.bytes(Self.mutate(text, seed: seed)), variant: .baseline,
                                                 options: options())
                #expect(r.failure == nil, "seed \(seed): \(r.failure?.description ?? "")")
                clean += 1
            } catch {
                #expect(error.line != nil || error.message.contains("truncated"))
                errors += 1
            }
        }
        #expect(errors > 0 && clean > 0)
    }
}
