import MMModel
import MMSim

extension CaseRunner {
    /// Runs a batch on several CPUs at once and checks it (see
    /// ``CaseRunner``): no violation at any step, outcomes explained by
    /// some order of the calls, and the state that order leaves equal to
    /// the machine's.
    func runBatch(_ batch: Batch, op: Op, index: Int) -> Failure? {
        let (calls, ops) = resolve(batch)
        guard !ops.isEmpty else { return nil }
        // An injected failure would land in whichever call the schedule
        // makes allocate first; it is for the sequential ops.
        machine.failNthAllocation(0)
        let allocBefore = machine.stats.allocFailures
        let thpBefore = machine[Self.thpFaultsCounter]
        let run: ConcurrentRun
        do {
            run = try machine.runConcurrent(ops, scheduler: batch.schedule)
        } catch {
            if machine.violationCount != violationsSeen {
                return violationFailure(after: nil, outcome: nil, op: op, index: index)
            }
            return Failure(kind: "batch", message: "\(where_(op, index)): the machine refused the batch: \(error)",
                           opIndex: index)
        }
        _schedules[index] = run.schedule
        _opsRun += ops.count
        var events: [HistoryEvent] = []
        events.reserveCapacity(ops.count)
        for (call, result) in zip(calls, run.outcomes) {
            let outcome = result.outcome
            tally(outcome)
            if let trace = _trace { trace(index, op, call, outcome) }
            // MADV_DONTNEED zaps from the moment it holds mmap_sem: its
            // pages as they were then go first (later faults are zapped
            // or not by the search's zaps of their own).
            let hint = if case .madvise = call.request { result.locked } else { result.effect }
            // An access that took mmap_sem faulted.
            let faulted = result.locked != result.start
            events.append(HistoryEvent(call: call, outcome: outcome, start: result.start, end: result.end,
                                       hint: hint, faultHint: faulted ? result.locked : nil))
        }
        guard checked else {
            for event in events.sorted(by: { $0.start < $1.start }) {
                track(event.call, event.outcome)
            }
            sortLive()
            return nil
        }
        if machine.violationCount != violationsSeen {
            return violationFailure(after: nil, outcome: nil, op: op, index: index)
        }
        let failures = machine.stats.allocFailures
        let mayFail = failures != allocBefore
        allocFailures = failures
        let thp = machine[Self.thpFaultsCounter]
        thpFaults = thp
        // The machine's own audit runs at the checkpoints, as for
        // sequential ops; a batch counts its ops towards them.
        return linearize(events, steps: Self.effectSteps(run, ops: ops), mayFail: mayFail,
                         huge: thp != thpBefore ? hugeRegions(events) : [], op: op, index: index)
    }

    /// A 2 MiB a huge fault of a batch may have mapped: around one of its
    /// accesses, in the accessing mm and the children its forks in the
    /// batch made (they share what the fault mapped before them).
    struct HugeRegion {
        var start: UInt64
        var mms: [Int32]
    }

    /// The 2 MiB of each access of `events` (a batch in which a huge
    /// fault happened) where one may have been mapped: MADV_HUGEPAGE
    /// may have been in force there before the batch, or the batch gave
    /// it there.
    func hugeRegions(_ events: [HistoryEvent]) -> [HugeRegion] {
        var children: [Int32: [Int32]] = [:]
        for e in events {
            if case .fork = e.call.request, let parent = e.call.mm, case .mm(let child) = e.outcome {
                children[parent, default: []].append(child)
            }
        }
        func family(_ mm: Int32) -> [Int32] {
            var all = [mm]
            var i = 0
            while i < all.count {
                for c in children[all[i], default: []] where !all.contains(c) { all.append(c) }
                i += 1
            }
            return all
        }
        var regions: [HugeRegion] = []
        var seen: Set<PageKey> = []
        for e in events {
            guard let (mm, addr, _) = e.call.access else { continue }
            let start = addr & ~(Self.hugeSize - 1)
            guard seen.insert(PageKey(mm: mm, page: start >> 12)).inserted else { continue }
            let advisedInBatch = events.contains { other in
                guard case .madvise(let a, let l, .hugepage) = other.call.request, other.call.mm == mm else {
                    return false
                }
                return a < start &+ Self.hugeSize && a &+ l > start
            }
            if advisedInBatch || _model.mayMapHuge(mm: mm, start: start) {
                regions.append(HugeRegion(start: start, mms: family(mm)))
            }
        }
        return regions
    }

    /// Where each op's CPU changed ptes while the op ran.
    static func effectSteps(_ run: ConcurrentRun, ops: [ConcurrentOp]) -> EffectSteps {
        var steps = EffectSteps(complete: run.pteEventsComplete)
        guard !run.pteEvents.isEmpty else { return steps }
        var byCPU: [Int: [Int]] = [:]
        for (i, op) in ops.enumerated() { byCPU[op.cpu, default: []].append(i) }
        for e in run.pteEvents {
            guard let i = byCPU[e.cpu]?.first(where: {
                run.outcomes[$0].start <= e.step && e.step <= run.outcomes[$0].end
            }) else { continue }
            let key = EffectSteps.Key(event: i, mm: e.mm.rawValue, page: e.addr)
            switch e.change {
            case .cleared: steps.cleared[key] = e.step
            case .installed, .changed: steps.installed[key, default: []].append(e.step)
            }
        }
        return steps
    }

    /// Finds an order of `events` the model explains and that leaves the
    /// machine's state; adopts it.
    private func linearize(_ events: [HistoryEvent], steps: EffectSteps, mayFail: Bool,
                           huge: [HugeRegion], op: Op, index: Int) -> Failure? {
        let before = (_model, _live, users)
        var lastState: Failure?
        // What the machine has at a page of a huge region, read once.
        var hugePages: [PageKey: (identity: UInt64, word0: UInt64)?] = [:]
        let machinePage = { (mm: Int32, addr: UInt64) -> (identity: UInt64, word0: UInt64)? in
            let key = PageKey(mm: mm, page: addr >> 12)
            if let known = hugePages[key] { return known }
            let pte = (try? self.machine.lookup(mm: MMID(rawValue: mm), addr: addr)) ?? nil
            let page = pte.map { (identity: $0.pfn, word0: $0.word0) }
            hugePages[key] = page
            return page
        }
        var hugeAdopted = 0
        // An mprotect stopped by a failed allocation takes what the machine
        // has in its range at the end of the batch; a MADV_DONTNEED so
        // stopped, the pages it has there.
        let settle = { (model: inout Model) throws(Divergence) in
            if let undecided = model.undecidedPages {
                // A MADV_DONTNEED stopped by a failed allocation: the
                // pages the machine kept in its range.
                try self.adoptPages(&model, mm: undecided.mm)
            }
            guard let undecided = model.undecidedProtection else { return }
            let vmas: [VMAInfo]
            do {
                vmas = try self.machine.vmas(of: MMID(rawValue: undecided.mm))
            } catch {
                throw Divergence("vmas of mm \(undecided.mm): \(error)")
            }
            try model.adoptProtection(mm: undecided.mm, mappings: self.normalize(vmas))
        }
        // Whether the machine kept a page at the address, in the mm or in
        // a child a fork of the batch made (a later munmap may have
        // emptied the parent): a guess to order the search by.
        var pages: [PageKey: Bool] = [:]
        var children: [Int32: [Int32]] = [:]
        for e in events {
            if case .fork = e.call.request, let parent = e.call.mm, case .mm(let child) = e.outcome {
                children[parent, default: []].append(child)
            }
        }
        let present = { (mm: Int32, addr: UInt64) -> Bool in
            let key = PageKey(mm: mm, page: addr >> 12)
            if let known = pages[key] { return known }
            let has = ([mm] + children[mm, default: []]).contains { id in
                ((try? self.machine.lookup(mm: MMID(rawValue: id), addr: addr & ~0xfff)) ?? nil) != nil
            }
            pages[key] = has
            return has
        }
        let verdict = Linearizer().check(events, from: _model, mayFailAllocation: mayFail,
                                         settle: settle, present: present, steps: steps) { model, order in
            (_model, _live, users) = (model, before.1, before.2)
            for i in order {
                track(events[i].call, events[i].outcome)
            }
            sortLive()
            // A huge fault populated its 2 MiB at once; what the batch
            // left of it is the machine's to say.
            hugeAdopted = 0
            for region in huge where _model.adoptHugeRemnants(start: region.start, mms: region.mms,
                                                              machine: machinePage) > 0 {
                hugeAdopted += 1
            }
            if let f = compareState(index: index, op: op) {
                lastState = f
                return false
            }
            return true
        }
        let history = events.map(\.description).joined(separator: "; ")
        switch verdict {
        case .linearizable:
            _outcomes.adoptedHugePages += UInt64(hugeAdopted)
            return nil
        case .notLinearizable(let deepest, let refusal):
            (_model, _live, users) = before
            var message = "\(where_(op, index)): no order of the batch's calls explains it"
            if let lastState, deepest.count == events.count {
                message += " (the closest leaves another state: \(lastState.message))"
            } else {
                message += " (longest explained prefix \(deepest.count) calls, then \(refusal))"
            }
            return Failure(kind: "linearizability", message: message + "; history: \(history)",
                           opIndex: index)
        case .undecided(let explored, let deepest, let refusal):
            (_model, _live, users) = before
            return Failure(kind: "linearizability-undecided",
                           message: "\(where_(op, index)): no verdict after \(explored) model steps (longest explained prefix \(deepest), then \(refusal)\(lastState.map { ": " + $0.message } ?? "")); history: \(history)",
                           opIndex: index)
        }
    }

    /// Live mms in id order, as the model lists them (a batch's forks may
    /// be placed in any order).
    func sortLive() {
        let order = _live.indices.sorted { _live[$0] < _live[$1] }
        _live = order.map { _live[$0] }
        users = order.map { users[$0] }
    }

    /// The calls of a batch, its slots resolved against the live mms as
    /// the batch begins; ops a batch cannot hold are skipped.
    private func resolve(_ batch: Batch) -> ([Call], [ConcurrentOp]) {
        var calls: [Call] = []
        var ops: [ConcurrentOp] = []
        func add(_ cpu: Int, _ mm: Int32?, _ request: Request) {
            guard ops.count < Batch.maxCalls else { return }
            calls.append(Call(cpu: cpu, mm: mm, request))
            ops.append(ConcurrentOp(cpu: cpu, mm: mm.map { MMID(rawValue: $0) }, request))
        }
        for sub in batch.ops where Batch.kinds.contains(sub.kind) {
            guard let cpu = sub.cpu, cpu >= 0, cpu < cpus else { continue }
            var mm: Int32?
            if let slot = sub.slot {
                guard let resolved = resolve(slot) else { continue }
                mm = resolved
            }
            switch sub {
            case .call(_, _, let request):
                add(cpu, mm, request)
            case .touch(_, _, let a, let n, let v):
                for i in 0 ..< max(0, min(n, 64)) {
                    add(cpu, mm, .store(addr: a &+ UInt64(i) &* Machine.pageSize, value: v &+ UInt64(i)))
                }
            default:
                continue
            }
        }
        return (calls, ops)
    }
}

extension FuzzCase {
    /// The case with each batch's schedule replaced by the one it ran
    /// (`schedules` from ``CaseResult``), so that it replays exactly.
    public func pinning(_ schedules: [Int: [ScheduleRun]]) -> FuzzCase {
        var pinned = self
        for (index, runs) in schedules where index < ops.count {
            if case .parallel(var batch) = ops[index] {
                batch.schedule = .replay(runs)
                pinned.ops[index] = .parallel(batch)
            }
        }
        return pinned
    }
}

private struct PageKey: Hashable {
    var mm: Int32
    var page: UInt64
}
