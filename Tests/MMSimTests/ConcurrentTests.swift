import MMSim
import Testing

/// The concurrent regime of the machine itself: CPUs interleave, wait for
/// each other's locks, and every run replays exactly.
@Suite struct ConcurrentRegimeTests {
    /// Each of `cpus` CPUs stores into, then loads back, `pages` pages of
    /// its own 2 MiB region of one mm.
    static func disjointFaults(_ m: Machine, mm: MMID, cpus: Int, pages: UInt64) throws
        -> [ConcurrentOp]
    {
        let region: UInt64 = 512 * page
        let base = try m.mmap(cpu: 0, mm: mm, length: UInt64(cpus + 1) * region, prot: rw,
                              flags: .anonymousPrivate)
        let aligned = (base + region - 1) / region * region
        var ops: [ConcurrentOp] = []
        for cpu in 0..<cpus {
            for p in 0..<pages {
                let addr = aligned + UInt64(cpu) * region + p * page
                ops.append(ConcurrentOp(cpu: cpu, mm: mm, .store(addr: addr, value: tag(UInt64(cpu), p))))
                ops.append(ConcurrentOp(cpu: cpu, mm: mm, .load(addr: addr)))
            }
        }
        return ops
    }

    @Test(arguments: Variant.allCombinations)
    func disjointFaultsRunCleanAndLoadWhatWasStored(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let ops = try Self.disjointFaults(m, mm: mm, cpus: 4, pages: 8)
        let run = try m.runConcurrent(ops, scheduler: .random(seed: 7, switchPermille: 300))
        for (op, outcome) in zip(ops, run.outcomes) {
            #expect(outcome.errno == nil)
        }
        for i in stride(from: 0, to: ops.count, by: 2) {
            guard case .store(_, let value) = ops[i].call else { continue }
            #expect(run.outcomes[i + 1].value == value)
        }
        // The CPUs did interleave.
        #expect(Set(run.schedule.map(\.cpu)).count == 4)
        #expect(run.schedule.count > 8)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: [Scheduler.random(seed: 3, switchPermille: 500),
                      .pct(seed: 3, depth: 3, steps: 400)])
    func sameSeedSameRunAndReplayRepeatsIt(scheduler: Scheduler) throws {
        func once(_ scheduler: Scheduler) throws -> (ConcurrentRun, Stats) {
            let m = try makeMachine(variant: Variant(gather: .inplace, ptl: .split, preempt: true))
            let mm = try m.newMM()
            var ops = try Self.disjointFaults(m, mm: mm, cpus: 3, pages: 4)
            ops.append(ConcurrentOp(cpu: 3, mm: mm, .madvise(addr: 0, length: 1 << 40,
                                                            advice: .dontneed)))
            let run = try m.runConcurrent(ops, scheduler: scheduler)
            expectClean(m)
            return (run, m.stats)
        }
        let (a, statsA) = try once(scheduler)
        let (b, statsB) = try once(scheduler)
        #expect(a.outcomes == b.outcomes)
        #expect(a.schedule == b.schedule)
        #expect(statsA.counters.map(\.value) == statsB.counters.map(\.value))
        let (c, statsC) = try once(.replay(a.schedule))
        #expect(c.outcomes == a.outcomes)
        #expect(c.schedule == a.schedule)
        #expect(statsC.counters.map(\.value) == statsA.counters.map(\.value))
    }

    @Test func badBatchesAreRefusedBeforeAnythingRuns() throws {
        let m = try makeMachine()
        let mm = try m.newMM()
        #expect(throws: Errno.EINVAL) {
            try m.runConcurrent([ConcurrentOp(cpu: 4, mm: mm, .load(addr: 0))],
                                scheduler: .random(seed: 1, switchPermille: 10))
        }
        #expect(throws: Errno.EINVAL) {
            try m.runConcurrent([ConcurrentOp(cpu: 0, mm: mm, .load(addr: 0))],
                                scheduler: .random(seed: 1, switchPermille: 1001))
        }
        #expect(throws: Errno.EINVAL) {
            try m.runConcurrent([ConcurrentOp(cpu: 0, mm: mm, .load(addr: 0))],
                                scheduler: .pct(seed: 1, depth: 0, steps: 10))
        }
        #expect(m.stats.faults == 0)
        expectClean(m)
    }
}
