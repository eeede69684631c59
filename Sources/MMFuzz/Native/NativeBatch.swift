#if canImport(Glibc)
import Glibc
#endif
import MMModel
import MMSim

/// A batch of a native case (``Op/parallel``): its calls run at once on
/// threads of the process of their mm (a CPU of the case a thread), and
/// the outcomes, with the times the host took them, are judged by the
/// linearizability checker (``Linearizer``), as the engine judges the
/// simulator's.
public struct NativeBatchOp: Hashable, Sendable {
    public var batch: Batch
    /// Its index among the ``FuzzCase``'s ops.
    public var opIndex: Int
    /// The index of the request it runs before (``NativeCase/requests``'s
    /// count: after the last).
    public var before: Int

    /// The 2 MiB windows the batch's calls may name: their ranges and
    /// addresses in user space (a touch's stores as the engine makes them).
    static func windows(of batch: Batch) -> Set<UInt64> {
        var windows = Set<UInt64>()
        func add(_ a: UInt64, _ length: UInt64) {
            guard let r = NativeRelocation.windows(a, length) else { return }
            for w in r { windows.insert(w) }
        }
        func word(_ a: UInt64) {
            if a < 1 << 47 { windows.insert(a >> NativeRelocation.windowShift) }
        }
        for op in batch.ops {
            switch op {
            case .touch(_, _, let a, let n, _):
                for i in 0 ..< max(0, min(n, Batch.touchPages)) { word(a &+ UInt64(i) &* Model.pageSize) }
            case .call(_, _, .mmap(let a, let l, _, let f)) where f.contains(.fixed):
                add(a, l)
            case .call(_, _, .munmap(let a, let l)), .call(_, _, .mprotect(let a, let l, _)),
                 .call(_, _, .madvise(let a, let l, _)):
                add(a, l)
            case .call(_, _, .load(let a)), .call(_, _, .store(let a, _)):
                word(a)
            default:
                break
            }
        }
        return windows
    }
}

extension CaseRun {
    /// What becomes of one call of a batch.
    private enum Plan {
        /// Made on the host: the request's kind, arena offset, length,
        /// protection (before ``hostProt(_:)``), flags or advice, value.
        case host(kind: UInt32, offset: UInt64, length: UInt64, prot: Prot, flags: Int32, value: UInt64)
        /// Answered by the model, by this adaptation (as the sequential
        /// path answers it): a bad mm, bad flags or an unaligned access,
        /// whose outcome no order of the batch changes.
        case model(NativeAdaptation)
        /// Left out of the batch, counted by this name (as the sequential
        /// path leaves it out).
        case dropped(String)
        /// Leaves the whole batch out, counted by this adaptation.
        case leavesBatch(NativeAdaptation)
    }

    /// Runs the case's batches that come before request `i`; false when
    /// the case ends there (a difference, or no verdict).
    mutating func runBatches(before i: Int) throws(NativeChild.Failure) -> Bool {
        while nextBatch < nativeCase.batches.count, nativeCase.batches[nextBatch].before <= i {
            let op = nativeCase.batches[nextBatch]
            nextBatch += 1
            guard try runBatch(op) else { return false }
        }
        return true
    }

    /// The batch's calls as the engine makes them
    /// (``CaseRunner/runBatch(_:op:index:)``): its slots resolved against
    /// the live mms as it begins, ops on CPUs the case lacks or naming no
    /// live mm skipped, a touch a store per page, at most
    /// ``Batch/maxCalls``.
    private func calls(of batch: Batch) -> [Call] {
        batch.calls(cpus: nativeCase.cpus) { resolve($0) }
    }

    /// What becomes of `call` (the sequential path's rules, in its order).
    private func plan(_ call: Call) -> Plan {
        let r = call.request
        switch r.kind {
        case .switchMM, .reclaim, .newMM, .mmGet, .exit, .exec:
            return .dropped("not-native:" + r.kind.rawValue)
        default:
            break
        }
        guard let mm = call.mm, processes[mm] != nil else { return .model(.badMM) }
        let abi = r.abi
        switch r {
        case .fork:
            return .leavesBatch(.batchFork)
        case .mmap(let a, let l, let p, let f):
            if f.rawValue & ~NativeRunner.mapKnown != 0 { return .model(.mmapUnknownFlags) }
            if p.rawValue & ~7 != 0 { return .model(.protUnknownBits) }
            if !f.contains(.fixed) { return .leavesBatch(.batchPlacement) }
            guard NativeRelocation.windows(a, l) != nil, let off = reloc.offset(a) else {
                return .dropped(NativeAdaptation.beyondUserSpace.rawValue)
            }
            return .host(kind: abi.kind, offset: off, length: l, prot: p, flags: f.rawValue, value: 0)
        case .munmap(let a, let l), .mprotect(let a, let l, _), .madvise(let a, let l, _):
            if case .madvise(_, _, let adv) = r, ![.dontneed, .hugepage, .nohugepage].contains(adv) {
                return .model(.madviseUnknownAdvice)
            }
            if case .mprotect(_, _, let p) = r, p.rawValue & ~7 != 0 { return .model(.protUnknownBits) }
            guard NativeRelocation.windows(a, l) != nil, let off = reloc.offset(a) else {
                return .dropped(NativeAdaptation.beyondUserSpace.rawValue)
            }
            return .host(kind: abi.kind, offset: off, length: l, prot: Prot(rawValue: abi.prot), flags: abi.flags,
                         value: 0)
        case .load(let a), .store(let a, _):
            if a & 7 != 0 { return .model(.unalignedAccess) }
            guard a < 1 << 47, let off = reloc.offset(a) else {
                return .dropped(NativeAdaptation.beyondUserSpace.rawValue)
            }
            return .host(kind: abi.kind, offset: off, length: 0, prot: Prot(rawValue: 0), flags: 0, value: abi.value)
        default:
            return .dropped("not-native:" + r.kind.rawValue)
        }
    }

    /// Runs one batch on the host, or leaves it out (counted), and judges
    /// it: some order of its calls that respects the host's times must
    /// explain every outcome in the model and leave the state the host
    /// has (``NativeBatchHost``).  Linearizable: the model goes on after
    /// the order found.  False when the case ends here: a difference
    /// (`linearizability`), or no verdict within the budget
    /// (``NativeAdaptation/linearizerUndecided``).
    mutating func runBatch(_ op: NativeBatchOp) throws(NativeChild.Failure) -> Bool {
        let all = calls(of: op.batch)
        let plans = all.map(plan)
        for p in plans {
            if case .leavesBatch(let a) = p {
                count(a)
                return true
            }
        }
        var kept: [(call: Call, plan: Plan)] = []
        for (call, p) in zip(all, plans) {
            if case .dropped(let name) = p {
                result.adaptations[name, default: 0] += 1
            } else {
                kept.append((call, p))
            }
        }
        var hostMMs = Set<Int32>()
        for (call, p) in kept {
            if case .host = p, let mm = call.mm { hostMMs.insert(mm) }
        }
        if hostMMs.count > 1 {
            count(.batchSeveralMMs)
            return true
        }
        // Each CPU a thread: the CPUs in order, threads 0, 1, ...
        let cpus = Set(kept.map(\.call.cpu)).sorted()
        if cpus.count > NativeChild.threadsMax {
            count(.batchThreads)
            return true
        }
        let thread = Dictionary(uniqueKeysWithValues: cpus.enumerated().map { ($1, $0) })
        var calls: [Call] = []
        var hostIndices: [Int] = []
        var hostCalls: [NativeChild.BatchCall] = []
        for (call, p) in kept {
            let t = thread[call.cpu]!
            calls.append(Call(cpu: t, mm: call.mm, call.request))
            switch p {
            case .host(let kind, let offset, let length, let prot, let flags, let value):
                hostIndices.append(calls.count - 1)
                hostCalls.append(NativeChild.BatchCall(kind: kind, thread: t, offset: offset, length: length,
                                                       prot: hostProt(prot), flags: flags, value: value))
            case .model(let a):
                count(a)
            default:
                break
            }
        }
        guard !calls.isEmpty else { return true }
        result.requests += calls.count

        // The host's outcomes, converted as the sequential path converts
        // them, with its times (nanoseconds from the batch's first call).
        var outcomes: [Int: (Outcome, UInt64, UInt64)] = [:]
        var host: NativeBatchHost?
        var mm: Int32 = -1
        if let hostMM = hostMMs.first, let child = processes[hostMM] {
            mm = hostMM
            let replies = try child.batch(hostCalls)
            let t0 = replies.map(\.start).min() ?? 0
            for (j, i) in hostIndices.enumerated() {
                let request = calls[i].request
                result.onHost[request.kind, default: 0] += 1
                var o = try NativeRunner.outcome(of: replies[j].reply, request, op.before, reloc)
                if case .store(_, let v) = request, o == .value(0) { o = .value(v) }   // a store that completed
                if skewBatchLoads, case .load = request, case .value(let v) = o {
                    o = .value(v ^ 0xa5a5_0000_0000_0000)
                }
                outcomes[i] = (o, replies[j].start &- t0, replies[j].end &- t0)
            }
            result.batches += 1
            let h = try NativeBatchHost(child: child, reloc: reloc,
                                        calls: hostIndices.map { (calls[$0].request, outcomes[$0]!.0) })
            for _ in h.loads {
                count(.batchCheckLoad)
                result.onHost[.load, default: 0] += 1
                result.requests += 1
            }
            host = h
        }
        let last = outcomes.values.map(\.2).max() ?? 0
        var events: [HistoryEvent] = []
        for (i, call) in calls.enumerated() {
            if let (o, start, end) = outcomes[i] {
                events.append(HistoryEvent(call: call, outcome: o, start: start, end: end,
                                           hint: start + (end &- start) / 2))
            } else {
                // No order changes the model's answer: it may go anywhere.
                events.append(HistoryEvent(call: call, outcome: NativeRunner.modelAnswer(model, call),
                                           start: 0, end: last, hint: 0))
            }
        }
        batchTrace?(op.opIndex, events)

        // The host logs no pte changes: each page a MADV_DONTNEED zaps on
        // its own (an access raced it there) is zapped, in the first
        // order tried, when the call took effect (a zap the log lacks
        // would be one that did nothing: the page would be kept).
        var steps = EffectSteps(complete: false)
        for z in Linearizer.Loose(events).zaps {
            if case .zap = z.kind {
                steps.cleared[EffectSteps.Key(event: z.owner, mm: z.mm, page: z.addr)] = events[z.owner].hint
            }
        }
        // Huge faults: a window the model had empty, that an access of
        // the batch found so, and the host maps whole now, went huge at
        // the first such access (by its start); the linearizer adopts
        // it where that access goes.
        let hostAccesses = hostIndices.map { (calls[$0].request, outcomes[$0]!.0) }
        let accesses = checks?.beforeBatch(hostAccesses.map(\.0), mm: mm, model: model)
        let huge = accesses.map { checks?.hugeWindows(hostAccesses, $0, processes: liveProcesses) ?? [] } ?? []
        // The fault: the first access there (by start) to end after
        // every call of the batch that changed the window's mappings had
        // (a fault before such a call would not leave the window whole);
        // the first access at all when none did.
        for w in huge {
            let inWindow = hostIndices.filter { i in
                switch calls[i].request {
                case .load(let a), .store(let a, _):
                    if case .value = outcomes[i]!.0 { return a & ~(NativeRelocation.window - 1) == w }
                    return false
                default:
                    return false
                }
            }
            let settled = hostIndices.filter { i in
                switch calls[i].request {
                case .mmap(let a, let l, _, _), .munmap(let a, let l), .mprotect(let a, let l, _),
                     .madvise(let a, let l, _):
                    return a < w + NativeRelocation.window && a &+ l > w
                default:
                    return false
                }
            }.map { events[$0].end }.max() ?? 0
            let first = inWindow.filter { events[$0].end > settled }.min { events[$0].start < events[$1].start }
                ?? inWindow.min { events[$0].start < events[$1].start }
            if let first {
                let at = max(events[first].hint, min(settled + 1, events[first].end))
                steps.hugeFaults[first, default: []].append(at)
            }
        }
        var mismatch: String?
        // First with the host's huge pages required of the order (the
        // linearizer places each huge fault); when no order places one,
        // again without, the window let through at the checkpoints.
        var tolerated = Set<UInt64>()
        func judge(requireHuge: Bool) -> Linearizer.Verdict {
            var given = steps
            if !requireHuge { given.hugeFaults = [:] }
            return Linearizer().check(events, from: model, mayFailAllocation: false, steps: given) { m, _ in
                if requireHuge {
                    for w in huge where m.presentPages(mm: mm, start: w, end: w + NativeRelocation.window).count
                        != Int(NativeRelocation.window >> 12) {
                        mismatch = "the host maps the 2 MiB at 0x\(String(w, radix: 16)) whole, the model does not"
                        return false
                    }
                }
                guard let host else { return true }
                if let why = host.differs(from: m, mm: mm) {
                    mismatch = why
                    return false
                }
                if case .failure(let d) = host.loading(m, mm: mm) {
                    mismatch = "a load after the batch: \(d.message)"
                    return false
                }
                return true
            }
        }
        var verdict = judge(requireHuge: !huge.isEmpty)

        if !huge.isEmpty, checks != nil, case .notLinearizable = verdict {
            let second = judge(requireHuge: false)
            if case .linearizable(let m, _) = second {
                tolerated = huge.filter {
                    m.presentPages(mm: mm, start: $0, end: $0 + NativeRelocation.window).count
                        != Int(NativeRelocation.window >> 12)
                }
                verdict = second
            }
        }
        switch verdict {
        case .linearizable(let m, _):
            // And the loads the host check made, as the host made them.
            model = host.flatMap { try? $0.loading(m, mm: mm).get() } ?? m
            if var c = checks, let accesses {
                c.afterBatch(hostAccesses, accesses, huge: huge.subtracting(tolerated), model: model)
                c.tolerate(batchHugeWindows: tolerated)
                checks = c
            }
            return true
        case .notLinearizable(let deepest, let refusal):
            var message = "no order of the batch's calls explains it"
            if let mismatch, deepest.count == events.count {
                message += " (the closest leaves another state than the host's: \(mismatch))"
            } else {
                message += " (longest explained prefix \(deepest.count) calls, then \(refusal))"
            }
            // The call the search could not place (or, every call placed,
            // the last).
            let named = deepest.last.map { calls[$0] } ?? calls[0]
            result.difference = NativeDifference(index: op.before, opIndex: op.opIndex, request: named.request,
                                                 check: "linearizability",
                                                 host: events.map(\.description).joined(separator: "; "),
                                                 message: message)
            return false
        case .undecided:
            count(.linearizerUndecided)
            return false
        }
    }
}

/// What a process holds after a batch, where orders of the batch's calls
/// may leave different states: its mappings over the ranges of the
/// batch's mmaps, munmaps and mprotects (`/proc/PID/maps`: ranges,
/// protection, shared or private), and the word at each address a store
/// of the batch completed at, as a load would find it.  `/proc/PID/pagemap` says
/// whether its page is present, and `/proc/PID/mem` reads it; a private
/// page not present reads zero; a shared page not present is loaded by
/// the process, as a case's load is, and the load made in the model too
/// (``NativeAdaptation/batchCheckLoad``): reading it from outside would
/// fault it in behind the model's back.  (A page in swap is not read.)
///
/// The linearizability check accepts an order only when the model after
/// it agrees (``differs(from:mm:)``, ``loading(_:mm:)``): two orders may
/// explain every outcome and leave different states (two mprotects of
/// one page, two stores to one word, a store taken as lost), and the
/// model must go on from the host's.
struct NativeBatchHost {
    /// Ranges (case addresses) and the host's mappings there, clipped and
    /// merged as the model's are (``MMState/mappings``).
    var ranges: [(start: UInt64, end: UInt64, mappings: [Mapping])] = []
    /// Stored-to words (case addresses) and the value the host has there.
    var words: [(addr: UInt64, value: UInt64)] = []
    /// Stored-to words in shared pages the process had no longer present,
    /// loaded by the process after the batch, and what the load got.
    var loads: [(addr: UInt64, outcome: Outcome)] = []

    init(ranges: [(start: UInt64, end: UInt64, mappings: [Mapping])], words: [(addr: UInt64, value: UInt64)],
         loads: [(addr: UInt64, outcome: Outcome)] = []) {
        self.ranges = ranges
        self.words = words
        self.loads = loads
    }

    /// Reads what `child` holds after the batch `calls` made on it (with
    /// their outcomes: only stores that completed are looked at).
    init(child: NativeChild, reloc: NativeRelocation, calls: [(Request, Outcome)]) throws(NativeChild.Failure) {
        let base = child.base
        let path = "/proc/\(child.pid)/"
        guard let found = NativeHost.vmas(pid: child.pid, from: base, to: base + NativeChild.arenaSize) else {
            throw NativeChild.Failure(description: "cannot read \(path)maps")
        }
        // The process's vmas in the arena (absolute addresses), with the
        // protection x86 grants: writable or executable is readable.
        let vmas = found.map {
            Mapping(start: $0.start, end: $0.end, prot: $0.prot & 6 != 0 ? $0.prot | 1 : $0.prot, shared: $0.shared)
        }
        var seen = Set<UInt64>()
        for (request, outcome) in calls {
            switch request {
            case .mmap(let a, let l, _, _), .munmap(let a, let l), .mprotect(let a, let l, _):
                let len = (l &+ 4095) & ~4095
                guard a & 4095 == 0, len >= l, len > 0, let off = reloc.offset(a) else { continue }
                let lo = base + off, hi = lo + len
                var clipped: [Mapping] = []
                for v in vmas where v.start < hi && v.end > lo {
                    clipped.append(Mapping(start: max(v.start, lo) - lo + a, end: min(v.end, hi) - lo + a,
                                           prot: v.prot, shared: v.shared))
                }
                ranges.append((a, a + len, Self.merged(clipped)))
            case .store(let a, let v):
                guard outcome == .value(v), seen.insert(a).inserted, let off = reloc.offset(a) else { continue }
                let at = base + off
                guard let entry = NativeHost.pagemap(pid: child.pid, address: at, pages: 1)?.first else {
                    throw NativeChild.Failure(description: "cannot read \(path)pagemap")
                }
                let vma = vmas.first { $0.start <= at && at < $0.end }
                if entry & NativeHost.Pagemap.present != 0 {
                    if let b = NativeHost.bytes(of: path + "mem", at: at, count: 8) {
                        words.append((a, b.withUnsafeBytes { $0.load(as: UInt64.self) }))
                    }
                } else if entry & NativeHost.Pagemap.swapped == 0, let vma, !vma.shared {
                    words.append((a, 0))
                } else if entry & NativeHost.Pagemap.swapped == 0, vma != nil {
                    let reply = try child.call(kind: Request.Kind.load.number, offset: off)
                    loads.append((a, try NativeRunner.outcome(of: reply, .load(addr: a), -1, reloc)))
                }
            default:
                continue
            }
        }
    }

    /// `model` after the loads the check made (on CPU 0), or why it
    /// cannot make them with the host's outcomes.
    func loading(_ model: Model, mm: Int32) -> Result<Model, Divergence> {
        var m = model
        for (addr, outcome) in loads {
            do {
                try m.apply(Call(cpu: 0, mm: mm, .load(addr: addr)), outcome: outcome, mayFailAllocation: false)
            } catch {
                return .failure(error)
            }
        }
        return .success(m)
    }

    /// The word at `addr` of the shared object `mm` maps there, as a
    /// read fault would find it; nil where nothing is mapped, or no
    /// access is allowed.
    static func sharedWord(_ model: Model, mm: Int32, addr: UInt64) -> UInt64? {
        var faulted = model
        guard faulted.fault(mm: mm, addr: addr, write: false) else { return nil }
        return faulted.presentWord(mm: mm, addr: addr)?.value
    }

    /// `mappings` in order with adjacent ones of the same protection and
    /// sharing merged.
    static func merged(_ mappings: [Mapping]) -> [Mapping] {
        var out: [Mapping] = []
        for m in mappings.sorted(by: { $0.start < $1.start }) {
            if let l = out.last, l.end == m.start, l.prot == m.prot, l.shared == m.shared {
                out[out.count - 1].end = m.end
            } else {
                out.append(m)
            }
        }
        return out
    }

    /// How the model's state of `mm` differs from the host's, or nil when
    /// it does not.  A word is compared where the model knows what a
    /// load would find: a page present; a private page not present
    /// (zero); a shared object's page (what a fault would map).
    func differs(from model: Model, mm: Int32) -> String? {
        guard let state = model.state(of: mm) else { return "mm \(mm) has no users in the model" }
        for (start, end, host) in ranges {
            let clipped = state.mappings.filter { $0.start < end && $0.end > start }.map {
                Mapping(start: max($0.start, start), end: min($0.end, end), prot: $0.prot, shared: $0.shared)
            }
            let mine = Self.merged(clipped)
            if mine != host {
                return "mappings in 0x\(String(start, radix: 16))-0x\(String(end, radix: 16)): host \(host), model \(mine)"
            }
        }
        for (addr, value) in words {
            let expected: UInt64
            if let present = model.presentWord(mm: mm, addr: addr) {
                expected = present.value
            } else if let m = state.mappings.first(where: { $0.start <= addr && addr < $0.end }), !m.shared {
                expected = 0
            } else if let page = Self.sharedWord(model, mm: mm, addr: addr) {
                expected = page
            } else {
                continue
            }
            if expected != value {
                return "the word at 0x\(String(addr, radix: 16)): host 0x\(String(value, radix: 16)), model 0x\(String(expected, radix: 16))"
            }
        }
        return nil
    }
}
