import CMMSimTestHooks
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
            #expect(outcome.errno == nil, "\(op.request)")
        }
        for i in stride(from: 0, to: ops.count, by: 2) {
            guard case .store(_, let value) = ops[i].request else { continue }
            #expect(run.outcomes[i + 1].value == value)
        }
        // The CPUs did interleave.
        #expect(Set(run.schedule.map(\.cpu)).count == 4)
        #expect(run.schedule.count > 8)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: [Scheduler.random(seed: 3, switchPermille: 500),
                      .pct(seed: 3, depth: 3, steps: 400),
                      .window(seed: 3, switchPermille: 5, windowPermille: 1000)])
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

    @Test func theRunLogsEachPteChangeWithItsCPUAndStep() throws {
        // A store faults its page in while a MADV_DONTNEED on another CPU
        // zaps another page: each change is logged once, by the CPU that
        // made it, inside its op's interval.
        let m = try makeMachine()
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 2)
        try put(m, cpu: 0, mm: mm, base, 1)
        let ops = [ConcurrentOp(cpu: 1, mm: mm, .madvise(addr: base, length: page, advice: .dontneed)),
                   ConcurrentOp(cpu: 2, mm: mm, .store(addr: base + page, value: 2))]
        let run = try m.runConcurrent(ops, scheduler: .random(seed: 4, switchPermille: 500))
        #expect(run.pteEventsComplete)
        let cleared = run.pteEvents.filter { $0.change == .cleared }
        let installed = run.pteEvents.filter { $0.change == .installed }
        #expect(cleared.count == 1 && installed.count == 1, "\(run.pteEvents)")
        for (e, (cpu, addr, i)) in zip(cleared + installed, [(1, base, 0), (2, base + page, 1)]) {
            #expect(e.cpu == cpu && e.addr == addr && e.mm == mm)
            #expect(run.outcomes[i].start <= e.step && e.step <= run.outcomes[i].end)
        }
        expectClean(m)
    }

    @Test func windowDemotesACPUWhereItEntersAShootdownWindow() throws {
        // With switch odds 0, the only change points of `window` are
        // shootdown windows: a munmap on CPU 0 that ran first is set
        // aside once it has cleared its pte, CPU 1 runs, then CPU 0
        // finishes.
        var sawWindow = false
        for seed: UInt64 in 0 ..< 16 {
            let m = try makeMachine()
            let mm = try m.newMM()
            let base = try mapAnon(m, mm: mm, pages: 2)
            try put(m, cpu: 0, mm: mm, base, 1)
            try put(m, cpu: 1, mm: mm, base + page, 2)
            let ops = [ConcurrentOp(cpu: 0, mm: mm, .munmap(addr: base, length: page)),
                       ConcurrentOp(cpu: 1, mm: mm, .store(addr: base + page, value: 3))]
            let run = try m.runConcurrent(ops, scheduler: .window(seed: seed, switchPermille: 0,
                                                                  windowPermille: 1000))
            let cpus = run.schedule.map(\.cpu)
            if cpus.first == 0 {
                #expect(cpus == [0, 1, 0], "seed \(seed): \(run.schedule)")
                sawWindow = true
            } else {
                #expect(cpus == [1, 0], "seed \(seed): \(run.schedule)")
            }
            expectClean(m)
        }
        #expect(sawWindow)
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

/// The checkers of the concurrent regime fire.
@Suite struct ConcurrentCheckerTests {
    @Test func everyCPUWaitingIsADeadlock() throws {
        let m = try makeMachine(variant: Variant(gather: .vector, ptl: .mm, preempt: true))
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 4)
        // CPU 3 "holds" the mm's lock and runs nothing: faults on 0 and 1
        // wait for it for ever.
        #expect(m.withCMachine { mmsim_test_hold_mm_lock($0, mm.rawValue, 3) } == 0)
        let ops = [ConcurrentOp(cpu: 0, mm: mm, .store(addr: base, value: 1)),
                   ConcurrentOp(cpu: 1, mm: mm, .store(addr: base + page, value: 2))]
        #expect(throws: Errno.EDEADLK) {
            try m.runConcurrent(ops, scheduler: .random(seed: 1, switchPermille: 500))
        }
        #expect(m.violations.contains { $0.kind == .locking && $0.message.contains("deadlock") })
        // The machine says so again rather than running on.
        #expect(throws: Errno.EDEADLK) {
            try m.runConcurrent(ops, scheduler: .random(seed: 1, switchPermille: 500))
        }
    }

    @Test func aStaleEntryLeftInACallsRangeIsIncoherentAtItsRelease() throws {
        let m = try makeMachine(variant: Variant(gather: .inplace, ptl: .split, preempt: true))
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 2)
        for cpu in 0 ..< 2 { try put(m, cpu: cpu, mm: mm, base, 7) }
        // A broken unmap leaves CPU 1's entry for the page behind.
        #expect(m.withCMachine { mmsim_test_unmap_no_remote_flush($0, 0, mm.rawValue, base) } == 0)
        m.clearViolations()
        // MADV_DONTNEED of the range finds nothing to zap: it must still
        // not return while CPU 1 can use the page.
        let ops = [ConcurrentOp(cpu: 0, mm: mm, .madvise(addr: base, length: page, advice: .dontneed)),
                   ConcurrentOp(cpu: 2, mm: mm, .load(addr: base + page))]
        _ = try m.runConcurrent(ops, scheduler: .random(seed: 5, switchPermille: 300))
        let found = m.violations.filter { $0.kind == .incoherent }
        #expect(found.contains { $0.function == "mmsim_madvise" && $0.cpu == 1 }, "\(m.violations)")
    }

    @Test func anEntryFilledDuringTheCallIsJudgedToo() throws {
        // A call that reduced a translation after its own flush (an
        // mprotect that flushed first, then rewrote the ptes): CPU 1
        // filled a writable entry after the call began, the pte is now
        // read-only and nothing flushes it.  The fill time excuses
        // nothing; only another CPU's call still owing the flush would.
        let m = try makeMachine()
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 2)
        try put(m, cpu: 0, mm: mm, base, 1)
        let since = m.withCMachine { mmsim_test_clock($0) }
        try put(m, cpu: 1, mm: mm, base, 2)
        #expect(m.withCMachine { mmsim_test_wrprotect_no_flush($0, mm.rawValue, base) } == 0)
        m.clearViolations()
        let found = m.withCMachine { mmsim_test_release_check($0, 0, mm.rawValue, base, 2 * page, since) }
        // CPU 0's entry, filled before, and CPU 1's, filled during.
        #expect(found == 2)
        #expect(m.violations.contains { $0.kind == .incoherent && $0.cpu == 1 && $0.message.contains("rw") },
                "\(m.violations)")
    }

    @Test func fillTimesCompareAcrossBatches() throws {
        // CPU 1 fills its entry late in one batch; a broken unmap leaves
        // it behind; a MADV_DONTNEED early in the next batch must see it
        // (with a clock that restarted at every batch, the entry looked
        // filled during the call, and was excused).
        let m = try makeMachine()
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 2)
        try put(m, cpu: 0, mm: mm, base, 7)
        var first: [ConcurrentOp] = (0 ..< 12).map { i in
            ConcurrentOp(cpu: 2, mm: mm, .store(addr: base + page, value: UInt64(i)))
        }
        first.append(ConcurrentOp(cpu: 1, mm: mm, .load(addr: base)))
        _ = try m.runConcurrent(first, scheduler: .replay([ScheduleRun(cpu: 2, steps: 200)]))
        #expect(m.withCMachine { mmsim_test_unmap_no_remote_flush($0, 0, mm.rawValue, base) } == 0)
        m.clearViolations()
        let second = [ConcurrentOp(cpu: 0, mm: mm, .madvise(addr: base, length: page, advice: .dontneed))]
        _ = try m.runConcurrent(second, scheduler: .random(seed: 1, switchPermille: 0))
        #expect(m.violations.contains { $0.kind == .incoherent && $0.function == "mmsim_madvise" && $0.cpu == 1 },
                "\(m.violations)")
    }

    @Test func entriesFilledWhileACallRunsAreNotItsBusiness() throws {
        // The same batch on a sound machine: CPUs fault pages in while
        // others zap them; nothing is reported.
        let m = try makeMachine(variant: Variant(gather: .inplace, ptl: .split, preempt: true))
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 8)
        var ops: [ConcurrentOp] = []
        for cpu in 0 ..< 3 {
            for p in 0 ..< UInt64(8) {
                ops.append(ConcurrentOp(cpu: cpu, mm: mm, .store(addr: base + p * page, value: p)))
            }
        }
        ops.append(ConcurrentOp(cpu: 3, mm: mm, .madvise(addr: base, length: 8 * page, advice: .dontneed)))
        ops.append(ConcurrentOp(cpu: 3, mm: mm, .madvise(addr: base, length: 8 * page, advice: .dontneed)))
        for seed: UInt64 in 0 ..< 20 {
            _ = try m.runConcurrent(ops, scheduler: .pct(seed: seed, depth: 3, steps: 300))
        }
        expectClean(m)
    }
}
