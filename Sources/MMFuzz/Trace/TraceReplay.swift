import MMModel
import MMSim

/// How a trace is replayed.
public struct TraceReplayOptions: Sendable, Hashable {
    /// Simulated CPUs; the kbuild trace ran on 2.
    public var cpus: Int = 2
    /// Physical frames of each machine.  The kbuild trace peaks at about
    /// 40,000 user pages (two compilers at once), page tables aside.
    public var frames: Int = 131_072
    /// Run the reference model and every check alongside (off only to
    /// measure the cost of checking).
    public var checked: Bool = true
    /// A whole-state checkpoint (the machine's audit, and every live mm's
    /// mappings, counters and pages against the model) every this many
    /// events, and one at the end.
    public var checkpointEvery: Int = 16_384
    /// Lines of context kept for a reproducer (the longest excerpt tried).
    public var reproducerLines: Int = 4096
    /// Where reproducers are written; nil writes none.
    public var saveDirectory: String? = "mmfuzz-out"
    /// Stop after this many events (a prefix of the trace), then finish
    /// as at its end; nil replays it all.
    public var maxEvents: Int?
    /// A test-only seam: see ``TraceSeam``.
    public var seam: TraceSeam?
    /// Transparent huge pages (`mmfuzz trace --huge`): see ``HugePages``.
    public var hugePages: HugePages = .off

    public init() {}

    /// Whether a replay gives the anonymous private mappings of the trace
    /// that are 2 MiB or longer `MADV_HUGEPAGE`, right after their mmap, so
    /// that the kernel maps each aligned 2 MiB of them by one huge page.
    public enum HugePages: String, Sendable, Hashable, Codable {
        /// No advice: 4 KiB pages only, as traced.
        case off
        /// Every variant with the advice.
        case only
        /// Every variant twice, side by side from the same pass over the
        /// input: without the advice, then with it.
        case beside
    }

    /// The smallest traced anonymous private mmap given `MADV_HUGEPAGE`
    /// when huge pages are on: one huge page's worth.
    public static let hugeMinimum: UInt64 = 2 << 20
}

/// A deliberate disagreement between machine and model, for the test that
/// proves the replay's checking stops it: right after replaying the first
/// user write fault at or after `time` (µs, the trace's own timestamps, so
/// that an excerpt of the trace hits it too), the replayer stores a value
/// to the machine behind the model's back.  The next check that reads the
/// page (a load, or a checkpoint) must report it.
public struct TraceSeam: Sendable, Hashable {
    public var time: UInt64
    public var value: UInt64

    public init(time: UInt64, value: UInt64 = 0xBAD_C0FFEE) {
        self.time = time
        self.value = value
    }
}

/// Counts of what the replay did with the trace's events.
public struct TraceTally: Sendable, Hashable, Codable {
    /// Events read (comment and empty lines excluded).
    public var events = 0
    /// Events that drove the machine (or completed a call with their other
    /// half, or were bookkeeping the machine needs no call for).
    public var replayed = 0
    /// Events not replayed, by reason.
    public var skipped: [String: Int] = [:]
    /// What the replay had to make up or adapt, by kind: synthetic regions,
    /// file mappings made anonymous, results that differ from the trace's.
    public var notes: [String: Int] = [:]
    /// Calls made to the machine.
    public var machineCalls = 0

    public var skippedTotal: Int { skipped.values.reduce(0, +) }

    /// The note counting the mappings a replay with huge pages gave
    /// MADV_HUGEPAGE.
    public static let hugeAdvised = "anonymous private mappings of 2 MiB or more given MADV_HUGEPAGE (--huge)"

    mutating func skip(_ reason: String) {
        skipped[reason, default: 0] += 1
    }

    mutating func note(_ what: String, _ n: Int = 1) {
        notes[what, default: 0] += n
    }
}

/// What stopped a replay.
public struct TraceFailure: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The engine's failure kind: `violation:<kind>`, `divergence` or
    /// `state:<aspect>`.
    public var kind: String
    public var message: String
    /// The trace line of the event being replayed, or nil at the end.
    public var line: Int?
    /// The reproducer written, if any.
    public var reproducer: String?
    /// Whether replaying the reproducer alone fails the same way.
    public var reproducerReplays: Bool?

    public var isViolation: Bool { kind.hasPrefix("violation") }

    /// The engine's message without its own position ("end of case: ",
    /// which a checkpoint in the middle of a trace is not).
    static func trim(_ message: String) -> String {
        let prefix = "end of case: "
        return message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message
    }

    public var description: String {
        (line.map { "line \($0): " } ?? "end of trace: ") + "\(kind): \(message)"
    }
}

/// One variant's replay of a trace.
public struct TraceVariantResult: Sendable {
    public var variant: Variant
    public var tally: TraceTally
    /// The machine's counters at the end (after the exits of the tasks
    /// still alive), or where the replay stopped.
    public var stats: Stats
    public var failure: TraceFailure?
    /// Time spent in this variant's machine and model, in seconds (the
    /// input is read once for every variant, and not counted).
    public var seconds: Double
    /// The replay was stopped (Ctrl-C) before the end of the trace.
    public var interrupted = false
    /// Replayed with transparent huge pages (``TraceReplayOptions/HugePages``).
    public var hugePages = false

    /// The variant's short name, with ` +thp` for a replay with huge
    /// pages: how tables and messages name the replay.
    public var label: String { TraceVariantResult.label(variant, hugePages: hugePages) }

    public static func label(_ variant: Variant, hugePages: Bool) -> String {
        variant.name + (hugePages ? " +thp" : "")
    }

    public init(variant: Variant, tally: TraceTally, stats: Stats, failure: TraceFailure?, seconds: Double) {
        self.variant = variant
        self.tally = tally
        self.stats = stats
        self.failure = failure
        self.seconds = seconds
    }

    /// Replayed to the end of the trace with no failure.
    public var completed: Bool { failure == nil && !interrupted }
}

/// Replays a `perf script` trace of a workload on one machine, with the
/// reference model checking every call alongside (through the engine's
/// ``CaseRunner``: each trace event becomes the engine's ``Op``s).
///
/// How the trace maps to the machine (see also docs/DESIGN.md section
/// 9):
///
/// - Tasks are TIDs.  A task first seen without a fork gets a new mm.
///   `task_newtask` with `CLONE_VM` (threads, and vfork's
///   `CLONE_VM|CLONE_VFORK`) makes the child one more user of the
///   parent's mm (`mmGet`) until it execs or exits; without `CLONE_VM` it
///   is a fork (copy-on-write copy) on the parent's CPU.  `sched_process_exec`
///   is `exec` (a fresh mm), `sched_process_exit` is `exit`.
/// - Page faults are user loads, or stores when `error_code & 0x2`, of the
///   8-byte word at the address, on the task's CPU; the value stored is the
///   line number.  `page_fault_kernel` likewise (the kernel touching user
///   memory for the task).  Kernel faults just before a task's exec (the
///   ELF loader, the new stack) belong to the new mm: they are held until
///   the task's next event and replayed after the exec when that is it.
/// - mmap, munmap, mprotect and MADV_DONTNEED are made with the traced
///   arguments; mmap with `MAP_FIXED` at the address the traced call
///   returned, so the layout is the trace's.  File mappings become
///   anonymous: `MAP_PRIVATE` ones private, `MAP_SHARED` ones shared
///   anonymous memory (pages shared with forked children, not copied).
///   Calls that failed in the trace are skipped.
/// - brk has no machine call: growing the break maps the new part of the
///   heap (`MAP_FIXED|MAP_PRIVATE|MAP_ANONYMOUS`, read-write), shrinking it
///   unmaps the part given back.
/// - What exec maps in the kernel (program segments, the interpreter, the
///   stack, the vDSO) is not in the trace.  A fault the machine answers
///   with SIGSEGV at an address no mapping covers gets a synthetic mapping
///   of its own page (`MAP_FIXED`, private anonymous, read-write-execute,
///   so that whatever the real mapping allowed is allowed), and the access
///   is made again.  Neighbouring synthetic pages merge into one vma.
/// - Tasks are placed on CPUs as the interleaving implies: a task keeps its
///   CPU while it runs; a task that is not running takes an idle CPU, or
///   else the one whose task was active least recently, with a `switchMM`
///   when that CPU had another mm loaded.
public final class TraceReplayer {
    public let variant: Variant
    public let options: TraceReplayOptions
    /// Anonymous private mmaps of 2 MiB or more get MADV_HUGEPAGE.
    public let hugePages: Bool
    private let runner: CaseRunner
    public private(set) var tally = TraceTally()

    /// A task (thread) of the traced workload.
    private struct Task {
        var mm: Int32
        var cpu: Int?
        var pending: Pending?
        /// Kernel faults held back until the task's next event.
        var heldFaults: [TraceEvent] = []
    }

    /// A system call entered and not yet exited.
    private struct Pending {
        var call: TraceEvent.Syscall
        var event: TraceEvent
    }

    private var tasks: [Int32: Task] = [:]
    private var cpuTask: [Int32?]
    private var cpuLastUse: [Int]
    private var cpuLoaded: [Int32?]
    /// The program break of each mm, once known.
    private var breaks: [Int32: UInt64] = [:]
    private var tick = 0
    private var lastOutcome: Outcome?
    private var seamFired = false
    /// Lenient about syscall halves cut off by the start of an excerpt.
    private var excerpt = false
    /// The CPU of the event being replayed when the trace has perf's CPU
    /// column (modulo the machine's CPUs), or nil.
    private var eventCPU: Int?

    private static let cloneVM: UInt64 = 0x100
    private static let mapShared: UInt64 = 0x01
    private static let mapAnonymous: UInt64 = 0x20
    /// MAP_DENYWRITE, MAP_NORESERVE, MAP_STACK: kept as traced.
    private static let mapKeptBits: Int32 = 0x800 | 0x4000 | 0x20000
    private static let page = Machine.pageSize

    /// A replayer of `variant`; with `hugePages` (nil: as
    /// `options.hugePages` says, `beside` counting as on) the traced
    /// anonymous private mappings of 2 MiB or more are given
    /// MADV_HUGEPAGE.
    public init(variant: Variant, options: TraceReplayOptions, hugePages: Bool? = nil) throws(Errno) {
        self.variant = variant
        self.options = options
        self.hugePages = hugePages ?? (options.hugePages != .off)
        let config = CaseConfig(cpus: options.cpus, frames: options.frames)
        runner = try CaseRunner(config: config, variant: variant, checked: options.checked,
                                checkpointInterval: Int.max)
        cpuTask = Array(repeating: nil, count: options.cpus)
        cpuLastUse = Array(repeating: -1, count: options.cpus)
        cpuLoaded = Array(repeating: nil, count: options.cpus)
        runner.trace = { [unowned self] _, _, _, outcome in
            self.lastOutcome = outcome
            self.tally.machineCalls += 1
        }
    }

    /// The machine, for its counters.
    public var machine: Machine { runner.machine }

    // MARK: Driving

    /// Replays the trace from `source` to its end (then every task still
    /// alive exits and the leak audit runs), or to the first failure.
    ///
    /// Throws ``TraceError`` for bad input (which no variant can replay);
    /// a failure of the kernel or a disagreement with the model is the
    /// result's `failure`, with a reproducer written when
    /// `options.saveDirectory` is set.
    public static func replay(_ source: TraceSource, variant: Variant,
                              options: TraceReplayOptions) throws(TraceError) -> TraceVariantResult {
        var options = options
        if options.hugePages == .beside { options.hugePages = .only }
        return try replay(source, variants: [variant], options: options)[0]
    }

    /// Replays the trace from `source` on one machine per variant, all
    /// fed from one pass over the input: each line is read and decoded
    /// once and handed to every machine still replaying, so that a pipe
    /// or standard input (`-`) serves every variant.  A variant stops at
    /// its first failure, the others go on.
    ///
    /// `shouldStop` is asked between events; when it answers true the
    /// replay stops there, every variant not yet stopped is marked
    /// ``TraceVariantResult/interrupted`` and no end-of-trace exits run.
    ///
    /// With `options.hugePages` `beside`, each variant is replayed twice,
    /// without and with huge pages, in that order, so that the results
    /// come in pairs.
    /// Throws ``TraceError`` for bad input, and for a trace with no events.
    public static func replay(_ source: TraceSource, variants: [Variant], options: TraceReplayOptions,
                              shouldStop: () -> Bool = { false }) throws(TraceError) -> [TraceVariantResult] {
        let clock = ContinuousClock()
        var replayers: [TraceReplayer] = []
        let modes: [Bool] = switch options.hugePages {
        case .off: [false]
        case .only: [true]
        case .beside: [false, true]
        }
        for variant in variants {
            for huge in modes {
                do {
                    replayers.append(try TraceReplayer(variant: variant, options: options, hugePages: huge))
                } catch {
                    throw TraceError(line: nil, "the simulator refuses \(variant.name) with \(options.cpus) CPUs and \(options.frames) frames: \(error)")
                }
            }
        }
        let variants = replayers.map(\.variant)
        var failures: [TraceFailure?] = Array(repeating: nil, count: variants.count)
        var elapsed: [Duration] = Array(repeating: .zero, count: variants.count)
        var sinceCheckpoint = 0
        var events = 0
        var interrupted = false
        let reader = try TraceLineReader(source)
        var ring = LineRing(capacity: max(1, options.reproducerLines))

        /// Saves `f`'s reproducer from the lines read so far.
        func settle(_ i: Int, _ f: TraceFailure) {
            var f = f
            if let dir = options.saveDirectory {
                var options = options
                options.hugePages = replayers[i].hugePages ? .only : .off
                let saved = TraceExcerpt.save(ring: ring, failure: f, source: source, variant: variants[i],
                                              options: options, directory: dir)
                f.reproducer = saved.path
                f.reproducerReplays = saved.replays
            }
            failures[i] = f
        }

        while let line = try reader.nextLine() {
            if let maxEvents = options.maxEvents, events >= maxEvents { break }
            if shouldStop() {
                interrupted = true
                break
            }
            ring.append(line)
            let number = reader.lineNumber
            if number == 1, line.starts(with: TraceExcerpt.marker.utf8) {
                for r in replayers { r.excerpt = true }
            }
            guard let event = try TraceParser.parse(line, number: number) else { continue }
            events += 1
            sinceCheckpoint += 1
            let checkpoint = options.checked && sinceCheckpoint >= options.checkpointEvery
            if checkpoint { sinceCheckpoint = 0 }
            var running = 0
            for (i, r) in replayers.enumerated() where failures[i] == nil {
                let start = clock.now
                var f = try r.handle(event)
                if f == nil, checkpoint, let c = r.runner.checkpoint() {
                    f = TraceFailure(kind: c.kind, message: TraceFailure.trim(c.message), line: number)
                }
                elapsed[i] += clock.now - start
                if let f { settle(i, f) } else { running += 1 }
            }
            if running == 0 { break }
        }
        // A stop asked for while the input was ending (Ctrl-C reaches
        // the writer of a pipe too) is a stop all the same.
        if !interrupted, shouldStop() { interrupted = true }
        if events == 0, !interrupted {
            throw TraceError(line: nil, "no events (an empty trace, or only comments)")
        }
        var results: [TraceVariantResult] = []
        for (i, r) in replayers.enumerated() {
            if failures[i] == nil, !interrupted {
                let start = clock.now
                if let f = r.finish() { settle(i, f) }
                elapsed[i] += clock.now - start
            }
            let d = elapsed[i].components
            var result = TraceVariantResult(variant: variants[i], tally: r.tally, stats: r.machine.stats,
                                            failure: failures[i],
                                            seconds: Double(d.seconds) + Double(d.attoseconds) / 1e18)
            result.interrupted = interrupted && failures[i] == nil
            result.hugePages = r.hugePages
            results.append(result)
        }
        return results
    }

    /// End of the trace: held faults are replayed, calls left open are
    /// counted, every mm still in use exits, and the leak audit runs.
    func finish() -> TraceFailure? {
        for tid in tasks.keys.sorted() {
            if let f = releaseHeldFaults(tid) { return f }
            if tasks[tid]?.pending != nil {
                tally.skip("system call entered but not exited before the end of the trace")
                tasks[tid]?.pending = nil
            }
        }
        if let f = runner.finish() {
            return TraceFailure(kind: f.kind, message: f.message, line: nil)
        }
        return nil
    }

    // MARK: Events

    /// Replays one event; a failure of the kernel or of the model check
    /// stops the replay.
    func handle(_ e: TraceEvent) throws(TraceError) -> TraceFailure? {
        tally.events += 1
        tick += 1
        eventCPU = e.cpu.map { $0 % cpuTask.count }
        // Every event's task exists from here on (a new mm when first seen).
        task(e.tid)
        if case .fault(false, _, _) = e.kind {
            tasks[e.tid]!.heldFaults.append(e)
            return nil
        }
        if case .exec = e.kind {
            // Held kernel faults are the exec's own: replayed after it.
        } else if let f = releaseHeldFaults(e.tid) {
            return f
        }
        switch e.kind {
        case .fault(_, let address, let code):
            return access(e, tid: e.tid, address: address, write: code & 0x2 != 0)
        case .enterMmap, .enterMunmap, .enterMprotect, .enterMremap, .enterMadvise, .enterBrk:
            if task(e.tid).pending != nil {
                tally.skip("system call entered again before its exit (lost event)")
            }
            // Counted with its exit.
            tasks[e.tid]!.pending = Pending(call: Self.syscall(of: e.kind), event: e)
            return nil
        case .exit(let call, let ret):
            guard let pending = tasks[e.tid]?.pending, pending.call == call else {
                if excerpt, tasks[e.tid]?.pending == nil {
                    tally.skip("system call exit whose enter precedes the excerpt")
                    return nil
                }
                let other = tasks[e.tid]?.pending.map {
                    " (its open call is sys_enter_\($0.call.rawValue) of line \($0.event.line))"
                } ?? ""
                throw TraceError(line: e.line, "sys_exit_\(call.rawValue) without its sys_enter_\(call.rawValue) in task \(e.tid)\(other)")
            }
            tasks[e.tid]!.pending = nil
            return syscall(pending.event, ret: ret, exit: e)
        case .newTask(let child, let flags):
            return newTask(e, child: child, flags: flags)
        case .fork(_, let child):
            if tasks[child] == nil {
                // No task_newtask seen: an ordinary fork.
                return newTask(e, child: child, flags: 0)
            }
            tally.replayed += 1
            return nil
        case .exec:
            return exec(e)
        case .processExit:
            return exit(e)
        }
    }

    private static func syscall(of kind: TraceEvent.Kind) -> TraceEvent.Syscall {
        switch kind {
        case .enterMmap: .mmap
        case .enterMunmap: .munmap
        case .enterMprotect: .mprotect
        case .enterMremap: .mremap
        case .enterMadvise: .madvise
        default: .brk
        }
    }

    /// The task `tid`, created with a fresh mm when first seen.
    @discardableResult
    private func task(_ tid: Int32) -> Task {
        if let t = tasks[tid] { return t }
        tally.note("tasks first seen without a fork (given a new mm)")
        _ = runner.step(.newMM, index: 0)
        guard case .mm(let id) = lastOutcome else {
            // Only a machine out of memory refuses an mm; the model checked it.
            let t = Task(mm: -1)
            tasks[tid] = t
            return t
        }
        let t = Task(mm: id)
        tasks[tid] = t
        return t
    }

    /// The engine slot naming mm `id`: its index among the live mms.
    private func slot(_ id: Int32) -> Int? {
        let live = runner.live
        var lo = 0, hi = live.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if live[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < live.count && live[lo] == id ? lo : nil
    }

    /// Runs `op` through the engine; a failure is reported at `line`.
    private func step(_ op: Op, line: Int) -> TraceFailure? {
        lastOutcome = nil
        if let f = runner.step(op, index: line) {
            return TraceFailure(kind: f.kind, message: f.message, line: line)
        }
        return nil
    }

    /// The CPU `tid` runs on now, switching it there if needed.
    private func place(_ tid: Int32, line: Int) -> (cpu: Int, failure: TraceFailure?) {
        let t = tasks[tid]!
        if let c = t.cpu, cpuTask[c] == tid, eventCPU == nil || eventCPU == c {
            cpuLastUse[c] = tick
            return (c, nil)
        }
        var best = eventCPU ?? -1
        if best >= 0, let c = t.cpu, cpuTask[c] == tid { cpuTask[c] = nil }
        if best < 0, let c = t.cpu, cpuTask[c] == nil { best = c }
        if best < 0 { best = cpuTask.firstIndex(where: { $0 == nil }) ?? -1 }
        if best < 0 {
            best = 0
            for c in 1 ..< cpuTask.count where cpuLastUse[c] < cpuLastUse[best] { best = c }
        }
        if let other = cpuTask[best] { tasks[other]?.cpu = nil }
        cpuTask[best] = tid
        cpuLastUse[best] = tick
        tasks[tid]!.cpu = best
        if cpuLoaded[best] != t.mm, let s = slot(t.mm) {
            tally.note("context switches (switchMM)")
            if let f = step(.switchMM(cpu: best, slot: s), line: line) { return (best, f) }
            cpuLoaded[best] = t.mm
        }
        return (best, nil)
    }

    /// Replays the kernel faults held for `tid`, in its current mm.
    private func releaseHeldFaults(_ tid: Int32) -> TraceFailure? {
        guard let held = tasks[tid]?.heldFaults, !held.isEmpty else { return nil }
        tasks[tid]!.heldFaults.removeAll()
        for e in held {
            if case .fault(_, let address, let code) = e.kind,
               let f = access(e, tid: tid, address: address, write: code & 0x2 != 0) {
                return f
            }
        }
        return nil
    }

    // MARK: Accesses

    private func access(_ e: TraceEvent, tid: Int32, address: UInt64, write: Bool) -> TraceFailure? {
        guard address >= Self.page, address < Machine.taskSize else {
            tally.skip("fault address outside user space")
            return nil
        }
        let (cpu, f0) = place(tid, line: e.line)
        if let f0 { return f0 }
        let mm = tasks[tid]!.mm
        guard let s = slot(mm) else {
            tally.skip("task without a live mm")
            return nil
        }
        let addr = address & ~7
        let op: Op = write ? .store(cpu: cpu, slot: s, addr: addr, value: UInt64(e.line))
            : .load(cpu: cpu, slot: s, addr: addr)
        if let f = step(op, line: e.line) { return f }
        if lastOutcome == .segv {
            // Outside every mapping: a region exec mapped in the kernel.
            let vmas = (try? machine.vmas(of: MMID(rawValue: mm))) ?? []
            if vmas.contains(where: { $0.start <= addr && addr < $0.end }) {
                tally.skip("fault the replayed mapping's protection refuses (SIGSEGV in the replay)")
                return nil
            }
            let base = addr & ~(Self.page - 1)
            let flags: MapFlags = [.fixed, .private, .anonymous]
            if let f = step(.mmap(cpu: cpu, slot: s, addr: base, length: Self.page, prot: 7,
                                  flags: flags.rawValue), line: e.line) {
                return f
            }
            guard lastOutcome == .address(base) else {
                tally.skip("synthetic mapping refused by the machine (\(lastOutcome.map { "\($0)" } ?? "?"))")
                return nil
            }
            tally.note("synthetic pages mapped for exec's regions (stack, segments, vDSO)")
            if let f = step(op, line: e.line) { return f }
            if lastOutcome == .segv {
                tally.skip("fault refused even after a synthetic mapping")
                return nil
            }
        }
        tally.replayed += 1
        if let seam = options.seam, !seamFired, write, e.time >= seam.time {
            seamFired = true
            // Behind the model's back: the test-only disagreement.
            _ = try? machine.store(cpu: cpu, mm: MMID(rawValue: mm), addr: addr, value: seam.value)
        }
        return nil
    }

    // MARK: System calls

    private func syscall(_ enter: TraceEvent, ret: UInt64, exit: TraceEvent) -> TraceFailure? {
        let failed = ret >= UInt64(bitPattern: -4095)
        if failed, enter.kind.isMemoryCall {
            let errno = -Int64(bitPattern: ret)
            skipBoth("\(Self.syscall(of: enter.kind).rawValue) failed in the trace (errno \(errno))")
            return nil
        }
        guard tasks[exit.tid] != nil else {
            skipBoth("task without a live mm")
            return nil
        }
        switch enter.kind {
        case .enterMmap(_, let length, let prot, let flags, _):
            var f: MapFlags = [.fixed, .anonymous]
            f.insert(flags & 0x3 == Self.mapShared ? .shared : .private)
            f.formUnion(MapFlags(rawValue: Int32(truncatingIfNeeded: flags) & Self.mapKeptBits))
            if flags & Self.mapAnonymous == 0 {
                tally.note(flags & 0x3 == Self.mapShared ? "MAP_SHARED file mappings made shared anonymous"
                    : "private file mappings made anonymous")
            }
            if let failure = call(exit, traced: .address(ret), pairs: 2, { cpu, s in
                .mmap(cpu: cpu, slot: s, addr: ret, length: length, prot: Int32(truncatingIfNeeded: prot & 7),
                      flags: f.rawValue)
            }) {
                return failure
            }
            // --huge: the traced anonymous private mappings of a huge
            // page or more are given MADV_HUGEPAGE at once, as a program
            // asking for transparent huge pages would.
            if hugePages, flags & Self.mapAnonymous != 0, flags & 0x3 != Self.mapShared,
               length >= TraceReplayOptions.hugeMinimum, lastOutcome == .address(ret) {
                return adviseHuge(exit, addr: ret, length: length)
            }
            return nil
        case .enterMunmap(let addr, let length):
            return call(exit, traced: .ok, pairs: 2) { cpu, s in
                .munmap(cpu: cpu, slot: s, addr: addr, length: length)
            }
        case .enterMprotect(let addr, let length, let prot):
            return call(exit, traced: .ok, pairs: 2) { cpu, s in
                .mprotect(cpu: cpu, slot: s, addr: addr, length: length, prot: Int32(truncatingIfNeeded: prot & 7))
            }
        case .enterMadvise(let addr, let length, let advice):
            guard advice == UInt64(Advice.dontneed.rawValue) else {
                skipBoth("madvise advice \(advice) has no machine call")
                return nil
            }
            return call(exit, traced: .ok, pairs: 2) { cpu, s in
                .madvise(cpu: cpu, slot: s, addr: addr, length: length, advice: Advice.dontneed.rawValue)
            }
        case .enterMremap:
            skipBoth("mremap has no machine call")
            return nil
        case .enterBrk:
            return brk(exit, newBreak: ret)
        default:
            return nil
        }
    }

    /// Makes one call for the task of `exit`, counting both halves of the
    /// traced call as replayed and noting a result that differs from the
    /// trace's.
    private func call(_ exit: TraceEvent, traced: Outcome, pairs: Int,
                      _ make: (Int, Int) -> Op) -> TraceFailure? {
        let (cpu, f0) = place(exit.tid, line: exit.line)
        if let f0 { return f0 }
        guard let s = slot(tasks[exit.tid]!.mm) else {
            skipBoth("task without a live mm")
            return nil
        }
        let op = make(cpu, s)
        if let f = step(op, line: exit.line) { return f }
        tally.replayed += pairs
        if let got = lastOutcome, got != traced {
            // Keyed by the kind of result, not its value, so that the
            // notes stay few.
            let what: String
            switch got {
            case .errno(let e): what = "errno \(e)"
            case .address: what = "another address"
            default: what = "\(got)"
            }
            tally.note("\(op.kind.rawValue) results differing from the trace's (\(what) where the trace succeeded)")
        }
        return nil
    }

    /// MADV_HUGEPAGE on the mapping just made at `addr` (one machine call,
    /// counted apart from the traced ones).
    private func adviseHuge(_ exit: TraceEvent, addr: UInt64, length: UInt64) -> TraceFailure? {
        let (cpu, f0) = place(exit.tid, line: exit.line)
        if let f0 { return f0 }
        guard let s = slot(tasks[exit.tid]!.mm) else { return nil }
        if let f = step(.madvise(cpu: cpu, slot: s, addr: addr, length: length, advice: Advice.hugepage),
                        line: exit.line) {
            return f
        }
        if lastOutcome == .ok {
            tally.note(TraceTally.hugeAdvised)
        } else {
            tally.note("MADV_HUGEPAGE refused by the machine (--huge): \(lastOutcome.map { "\($0)" } ?? "?")")
        }
        return nil
    }

    private func brk(_ exit: TraceEvent, newBreak: UInt64) -> TraceFailure? {
        let mm = tasks[exit.tid]!.mm
        guard newBreak < Machine.taskSize else {
            skipBoth("brk outside user space")
            return nil
        }
        guard let old = breaks[mm] else {
            breaks[mm] = newBreak
            tally.replayed += 2
            return nil
        }
        breaks[mm] = newBreak
        let from = (old + Self.page - 1) & ~(Self.page - 1)
        let to = (newBreak + Self.page - 1) & ~(Self.page - 1)
        if to > from {
            tally.note("brk growths mapped")
            let flags: MapFlags = [.fixed, .private, .anonymous]
            return call(exit, traced: .address(from), pairs: 2) { cpu, s in
                .mmap(cpu: cpu, slot: s, addr: from, length: to - from, prot: Prot.readWrite.rawValue,
                      flags: flags.rawValue)
            }
        }
        if to < from {
            tally.note("brk shrinks unmapped")
            return call(exit, traced: .ok, pairs: 2) { cpu, s in
                .munmap(cpu: cpu, slot: s, addr: to, length: from - to)
            }
        }
        tally.replayed += 2
        return nil
    }

    /// Drops what is kept about `mm` once it has no users, so that memory
    /// stays bounded by the tasks alive, whatever the trace's length.
    private func forgetIfDead(_ mm: Int32) {
        if slot(mm) == nil { breaks[mm] = nil }
    }

    /// Both halves of a traced call are skipped.
    private func skipBoth(_ reason: String) {
        tally.skip(reason)
        tally.skip(reason)
    }

    // MARK: Tasks

    private func newTask(_ e: TraceEvent, child: Int32, flags: UInt64) -> TraceFailure? {
        let parent = task(e.tid)
        if tasks[child] != nil {
            tally.skip("task created twice")
            return nil
        }
        guard let s = slot(parent.mm) else {
            tally.skip("task without a live mm")
            return nil
        }
        if flags & Self.cloneVM != 0 {
            if let f = step(.mmGet(slot: s), line: e.line) { return f }
            tasks[child] = Task(mm: parent.mm)
            tally.note(flags & 0x4000 != 0 ? "vfork children sharing the parent's mm" : "CLONE_VM tasks sharing an mm")
        } else {
            let (cpu, f0) = place(e.tid, line: e.line)
            if let f0 { return f0 }
            if let f = step(.fork(cpu: cpu, slot: s), line: e.line) { return f }
            guard case .mm(let id) = lastOutcome else {
                tally.skip("fork refused by the machine")
                return nil
            }
            tasks[child] = Task(mm: id)
            if let b = breaks[parent.mm] { breaks[id] = b }
        }
        tally.replayed += 1
        return nil
    }

    private func exec(_ e: TraceEvent) -> TraceFailure? {
        task(e.tid)
        let (cpu, f0) = place(e.tid, line: e.line)
        if let f0 { return f0 }
        guard let s = slot(tasks[e.tid]!.mm) else {
            tally.skip("task without a live mm")
            return releaseHeldFaults(e.tid)
        }
        if let f = step(.exec(cpu: cpu, slot: s), line: e.line) { return f }
        guard case .mm(let id) = lastOutcome else {
            tally.skip("exec refused by the machine")
            return releaseHeldFaults(e.tid)
        }
        forgetIfDead(tasks[e.tid]!.mm)
        tasks[e.tid]!.mm = id
        cpuLoaded[cpu] = id
        tally.replayed += 1
        return releaseHeldFaults(e.tid)
    }

    private func exit(_ e: TraceEvent) -> TraceFailure? {
        task(e.tid)
        let (cpu, f0) = place(e.tid, line: e.line)
        if let f0 { return f0 }
        let t = tasks[e.tid]!
        if t.pending != nil {
            tally.skip("system call entered but not exited before its task exited")
        }
        guard let s = slot(t.mm) else {
            tally.skip("task without a live mm")
            tasks[e.tid] = nil
            return nil
        }
        if let f = step(.exit(cpu: cpu, slot: s), line: e.line) { return f }
        forgetIfDead(t.mm)
        tasks[e.tid] = nil
        cpuTask[cpu] = nil
        tally.replayed += 1
        return nil
    }
}

extension TraceEvent.Kind {
    /// A system call enter whose failure means it changed nothing.
    var isMemoryCall: Bool {
        switch self {
        case .enterMmap, .enterMunmap, .enterMprotect, .enterMremap, .enterMadvise: true
        default: false
        }
    }
}

/// The last lines read, for a reproducer.
struct LineRing {
    private var lines: [[UInt8]]
    private var numbers: [Int]
    private var next = 0
    private var count = 0
    private var total = 0

    init(capacity: Int) {
        lines = Array(repeating: [], count: capacity)
        numbers = Array(repeating: 0, count: capacity)
    }

    mutating func append(_ line: UnsafeBufferPointer<UInt8>) {
        total += 1
        lines[next].removeAll(keepingCapacity: true)
        lines[next].append(contentsOf: line)
        numbers[next] = total
        next = (next + 1) % lines.count
        count = min(count + 1, lines.count)
    }

    /// The last `n` lines (at most what is kept), oldest first, with their
    /// line numbers.
    func last(_ n: Int) -> [(Int, [UInt8])] {
        let k = min(n, count)
        var out: [(Int, [UInt8])] = []
        out.reserveCapacity(k)
        for i in 0 ..< k {
            let j = (next - k + i + lines.count) % lines.count
            out.append((numbers[j], lines[j]))
        }
        return out
    }
}
