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
        thpFaults = machine[Self.thpFaultsCounter]
        // The machine's own audit runs at the checkpoints, as for
        // sequential ops; a batch counts its ops towards them.
        return linearize(events, steps: Self.effectSteps(run, ops: ops), mayFail: mayFail, op: op,
                         index: index)
    }

    /// Where each op's CPU changed ptes while the op ran; which accesses
    /// mapped a 2 MiB page (their CPU installed other pages of the
    /// access's 2 MiB at once: the machine logs a huge pmd mapped as its
    /// 512 pages); and which stores copied their page.
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
            guard e.mm == ops[i].mm, let addr = ops[i].request.accessAddress else { continue }
            if e.change == .installed, e.addr & ~(Self.hugeSize - 1) == addr & ~(Self.hugeSize - 1),
               e.addr & ~0xfff != addr & ~0xfff, steps.hugeFaults[i]?.last != e.step {
                steps.hugeFaults[i, default: []].append(e.step)
            }
            if e.change == .cleared, e.addr & ~0xfff == addr & ~0xfff, case .store = ops[i].request {
                // A store's own CPU takes its pte away only to copy the page.
                steps.copies.insert(i)
            }
        }
        return steps
    }

    /// Finds an order of `events` the model explains and that leaves the
    /// machine's state; adopts it.
    private func linearize(_ events: [HistoryEvent], steps: EffectSteps, mayFail: Bool, op: Op,
                           index: Int) -> Failure? {
        let before = (_model, _live, users)
        var lastState: Failure?
        // An mprotect stopped by a failed allocation takes what the machine
        // has in its range at the end of the batch; a MADV_DONTNEED so
        // stopped, the pages it has there.
        // Pages each mm's stores of the batch write: a store after a
        // MADV_DONTNEED stopped by ENOMEM leaves its own word in a page
        // the madvise kept.
        var written: [Int32: Set<UInt64>] = [:]
        for e in events {
            if case .store(let a, _) = e.call.request, let mm = e.call.mm { written[mm, default: []].insert(a >> 12) }
        }
        let settle = { (model: inout Model) throws(Divergence) in
            if let undecided = model.undecidedPages {
                // A MADV_DONTNEED stopped by a failed allocation: the
                // pages the machine kept in its range.
                try self.adoptPages(&model, mm: undecided.mm, written: written[undecided.mm] ?? [])
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
            if let f = compareState(index: index, op: op) {
                lastState = f
                return false
            }
            return true
        }
        let history = events.map(\.description).joined(separator: "; ")
        switch verdict {
        case .linearizable:
            _outcomes.adoptedHugePages += UInt64(steps.hugeFaults.values.reduce(0) { $0 + $1.count })
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
        let calls = batch.calls(cpus: cpus) { resolve($0) }
        return (calls, calls.map { ConcurrentOp(cpu: $0.cpu, mm: $0.mm.map { MMID(rawValue: $0) }, $0.request) })
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

private extension Request {
    /// The address of a load or store.
    var accessAddress: UInt64? {
        switch self {
        case .load(let addr), .store(let addr, _): addr
        default: nil
        }
    }
}

private struct PageKey: Hashable {
    var mm: Int32
    var page: UInt64
}
