import CMMSimTestHooks
import MMSim
import Testing

/// The in-place gather's three phases, watched through its tracepoint.
@Suite struct InplaceGatherTests {
    static let inplaceVariants = Variant.allCombinations.filter { $0.gather == .inplace }

    /// `pages` pages at `base`, written on CPU 0 and read on every other
    /// CPU so that every TLB caches some of them.
    static func populate(_ m: Machine, mm: MMID, base: UInt64, pages: UInt64) throws {
        _ = try m.mmap(cpu: 0, mm: mm, addr: base, length: pages * page, prot: rw,
                       flags: [.anonymousPrivate, .fixed])
        for p in 0 ..< pages {
            try put(m, cpu: 0, mm: mm, base + p * page, tag(1, p))
            for cpu in 1 ..< m.config.cpus {
                #expect(try m.load(cpu: cpu, mm: mm, addr: base + p * page) == .ok(tag(1, p)))
            }
        }
    }

    /// Runs `body` with the phase tracepoint watching [addr, addr+len).
    static func traced(_ m: Machine, mm: MMID, addr: UInt64, length: UInt64,
                       _ body: () throws -> Void) throws -> mmsim_phase_report {
        var report = mmsim_phase_report()
        let armed = m.withCMachine { mmsim_test_trace_unmap($0, mm.rawValue, addr, length, &report) }
        #expect(armed == 0)
        defer { m.withCMachine { mmsim_test_untrace($0) } }
        try body()
        return report
    }

    @Test(arguments: inplaceVariants)
    func munmapOfWholeTables(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        // 40 pages straddling a pmd boundary: two pte pages, no neighbours
        let base: UInt64 = 0x4000_0000 - 20 * page
        try Self.populate(m, mm: mm, base: base, pages: 40)
        let used = m.stats.framesUsedNow
        let r = try Self.traced(m, mm: mm, addr: base, length: 40 * page) {
            try m.munmap(cpu: 1, mm: mm, addr: base, length: 40 * page)
        }
        #expect(r.phases_seen == 0b1110)
        #expect(r.pages == 40 && r.tables == 2)
        // phase 1: unreachable by any new walk, yet nothing freed, and the
        // TLBs still hold stale entries: the flush is still owed
        #expect(r.reachable_after_unmap == 0)
        #expect(r.pages_alive_after_unmap == 40)
        #expect(r.tables_alive_after_unmap == 2)
        #expect(r.tlb_entries_after_unmap > 0)
        // phase 2: no TLB holds the range; pages still allocated
        #expect(r.tlb_entries_after_flush == 0)
        #expect(r.pages_alive_after_flush == 40)
        // phase 3: pages and the emptied tables are free (the pmd page
        // holding both pte pages goes too: nothing else is mapped)
        #expect(r.pages_alive_after_free == 0)
        #expect(r.tables_alive_after_free == 0)
        #expect(m.stats.framesUsedNow <= used - 42)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: inplaceVariants)
    func partialUnmapKeepsTheTable(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base: UInt64 = 0x4000_0000
        try Self.populate(m, mm: mm, base: base, pages: 8)
        let r = try Self.traced(m, mm: mm, addr: base + 2 * page, length: 4 * page) {
            try m.munmap(cpu: 2, mm: mm, addr: base + 2 * page, length: 4 * page)
        }
        #expect(r.phases_seen == 0b1110)
        #expect(r.reachable_after_unmap == 0 && r.pages_alive_after_unmap == 4)
        #expect(r.tlb_entries_after_flush == 0)
        #expect(r.pages_alive_after_free == 0)
        // the table still maps the pages around the hole
        #expect(r.tables_alive_after_free == 1)
        for p: UInt64 in [0, 1, 6, 7] {
            #expect(try m.load(cpu: 3, mm: mm, addr: base + p * page) == .ok(tag(1, p)))
        }
        #expect(try m.load(cpu: 3, mm: mm, addr: base + 3 * page) == .segv)
        // the audit reports any gathered entry left behind
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: inplaceVariants)
    func dontneedFinishesInPlace(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base: UInt64 = 0x4000_0000
        try Self.populate(m, mm: mm, base: base, pages: 16)
        let r = try Self.traced(m, mm: mm, addr: base, length: 16 * page) {
            try m.madvise(cpu: 0, mm: mm, addr: base, length: 16 * page, advice: .dontneed)
        }
        #expect(r.phases_seen == 0b1110)
        #expect(r.pages_alive_after_unmap == 16 && r.pages_alive_after_free == 0)
        #expect(r.tables_alive_after_free == 1)
        for p in 0 ..< UInt64(16) {
            #expect(try m.load(cpu: Int(p % 4), mm: mm, addr: base + p * page) == .ok(0))
        }
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }
}

/// The figures the proposals are judged by, on one workload per variant.
@Suite struct ProposalCostTests {
    /// Flushes, longest preemption-off stretch and per-CPU gather memory
    /// for a munmap of `pages` touched pages.
    static func unmapCost(_ variant: Variant, pages: UInt64) throws -> (flushes: UInt64, preemptOff: UInt64, percpu: UInt64) {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: pages)
        for p in 0 ..< pages {
            try put(m, cpu: Int(p % 4), mm: mm, base + p * page, p)
        }
        let before = m.stats
        try m.munmap(cpu: 0, mm: mm, addr: base, length: pages * page)
        let after = m.stats
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
        return (after.gatherFlushes - before.gatherFlushes, after.maxPreemptOffPtes,
                after.gatherPercpuBytes)
    }

    @Test(arguments: [PTL.mm, .split])
    func oneFlushPerMunmap(ptl: PTL) throws {
        let inplace = try Self.unmapCost(Variant(gather: .inplace, ptl: ptl, preempt: true), pages: 64)
        let vector = try Self.unmapCost(Variant(gather: .vector, ptl: ptl, preempt: true), pages: 64)
        #expect(inplace.flushes == 1)
        // one per ZAP_BLOCK_SIZE of 8 pages, and one for the page tables
        #expect(vector.flushes == 64 / 8 + 1)
    }

    @Test(arguments: [PTL.mm, .split], [true, false])
    func noLongerPreemptOffThanTheBaseline(ptl: PTL, preempt: Bool) throws {
        let inplace = try Self.unmapCost(Variant(gather: .inplace, ptl: ptl, preempt: preempt), pages: 600)
        let vector = try Self.unmapCost(Variant(gather: .vector, ptl: ptl, preempt: preempt), pages: 600)
        let vectorPreempt = try Self.unmapCost(Variant(gather: .vector, ptl: ptl, preempt: true), pages: 600)
        #expect(inplace.preemptOff <= vector.preemptOff)
        if preempt {
            #expect(inplace.preemptOff <= vectorPreempt.preemptOff)
        }
    }

    @Test func noPerCPUGatherMemory() throws {
        let inplace = try Self.unmapCost(Variant(gather: .inplace, ptl: .mm, preempt: true), pages: 8)
        let vector = try Self.unmapCost(Variant(gather: .vector, ptl: .mm, preempt: true), pages: 8)
        #expect(inplace.percpu == 0)
        // FREE_PTE_NR page pointers on each of the 4 CPUs
        #expect(vector.percpu >= 4 * 506 * 8)
    }
}

/// Which lock guards a pte, and the lock checkers that enforce it.
@Suite struct LockRuleTests {
    /// An mm with one populated page at `base`.
    static func oneMappedPage(_ m: Machine) throws -> (MMID, UInt64) {
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 1)
        try put(m, cpu: 0, mm: mm, base, 7)
        return (mm, base)
    }

    @Test(arguments: Variant.allCombinations)
    func pteWriteUnderTheMMLock(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (mm, base) = try Self.oneMappedPage(m)
        #expect(m.withCMachine { mmsim_test_pte_write_mm_locked($0, mm.rawValue, base) } == 0)
        let locking = m.violations.filter { $0.kind == .locking }
        if variant.ptl == .split {
            #expect(locking.count == 1, "\(locking)")
        } else {
            #expect(locking.isEmpty, "\(locking)")
        }
    }

    @Test(arguments: Variant.allCombinations)
    func pteWriteWithoutALock(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (mm, base) = try Self.oneMappedPage(m)
        #expect(m.withCMachine { mmsim_test_pte_write_unlocked($0, mm.rawValue, base) } == 0)
        #expect(m.violations.contains { $0.kind == .locking }, "\(m.violations)")
    }

    @Test func inversionIsReportedWithoutADeadlock() throws {
        let m = try makeMachine(variant: Variant(gather: .inplace, ptl: .split, preempt: true))
        let (mm, base) = try Self.oneMappedPage(m)
        #expect(m.withCMachine { mmsim_test_lock_inversion($0, mm.rawValue, base) } == 0)
        let found = m.violations.filter { $0.kind == .locking }
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.message.contains("inversion") == true)
    }

    /// mmap_sem is a sleeping lock taken before the pte locks (a fault
    /// has just recorded that order): taking it under a pte lock is
    /// reported twice over.
    @Test(arguments: Variant.allCombinations)
    func mmapSemUnderAPteLock(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (mm, base) = try Self.oneMappedPage(m)
        #expect(m.violations.isEmpty)
        #expect(m.withCMachine { mmsim_test_mmap_sem_under_ptl($0, mm.rawValue, base) } == 0)
        let found = m.violations.filter { $0.kind == .locking }.map(\.message)
        #expect(found.contains { $0.contains("sleeping lock") }, "\(found)")
        #expect(found.contains { $0.contains("inversion") }, "\(found)")
    }

    @Test(arguments: Variant.allCombinations)
    func noPreemptionPointUnderASpinlock(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (mm, _) = try Self.oneMappedPage(m)
        #expect(m.withCMachine { mmsim_test_resched_holding_lock($0, mm.rawValue) } == 0)
        #expect(m.violations.contains { $0.kind == .locking }, "\(m.violations)")
    }

    /// With split locks, faults in different pte pages of one mm take
    /// different locks: the fault path never touches the mm lock once the
    /// tables exist.
    @Test func splitFaultsTakeThePteLock() throws {
        for ptl in [PTL.mm, .split] {
            let m = try makeMachine(variant: Variant(gather: .inplace, ptl: ptl, preempt: true))
            let mm = try m.newMM()
            let base: UInt64 = 0x4000_0000
            _ = try m.mmap(cpu: 0, mm: mm, addr: base, length: 4 * 512 * page, prot: rw,
                           flags: [.anonymousPrivate, .fixed])
            for p in 0 ..< UInt64(4) {
                try put(m, cpu: Int(p), mm: mm, base + p * 512 * page, p)
            }
            expectClean(m)
            try expectNoLeaks(m, exiting: [mm])
        }
    }
}
