import CMMSimTestHooks
import MMSim
import Testing

/// Each run-time checker fires when the kernel is broken on purpose
/// through the test hooks.
@Suite struct CheckerTests {
    /// An mm with `pages` pages stored to on CPU 0 and read on every CPU,
    /// so that every TLB caches them.
    static func cachedEverywhere(_ m: Machine, pages: UInt64 = 4) throws -> (MMID, UInt64) {
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: pages)
        for p in 0 ..< pages {
            try put(m, cpu: 0, mm: mm, base + p * page, tag(1, p))
            for cpu in 1 ..< m.config.cpus {
                #expect(try m.load(cpu: cpu, mm: mm, addr: base + p * page) == .ok(tag(1, p)))
            }
        }
        expectClean(m)
        return (mm, base)
    }

    @Test(arguments: supportedVariants)
    func freeingACachedFrame(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (mm, base) = try Self.cachedEverywhere(m)
        let ret = m.withCMachine { mmsim_test_free_cached_frame($0, mm.rawValue, base) }
        #expect(ret == 0)
        let atFree = m.violations
        #expect(atFree.contains { $0.kind == .freeWhileCached }, "\(atFree)")
        let v = try #require(atFree.first { $0.kind == .freeWhileCached })
        #expect(!v.function.isEmpty)
        #expect(v.pfn != nil)

        // CPU 1 still has the entry: using it reaches a freed frame.
        m.clearViolations()
        #expect(m.violations.isEmpty)
        _ = try m.load(cpu: 1, mm: mm, addr: base)
        #expect(m.violations.contains { $0.kind == .useAfterFree }, "\(m.violations)")
    }

    /// The freeing CPU may keep entries to a frame it freed only until its
    /// flush, which must come before it runs user code again.
    @Test(arguments: supportedVariants)
    func runningUserCodeBeforeTheOwedFlush(variant: Variant) throws {
        let m = try makeMachine(cpus: 1, variant: variant)
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 1)
        try put(m, cpu: 0, mm: mm, base, 1)
        #expect(m.withCMachine { mmsim_test_free_cached_frame($0, mm.rawValue, base) } == 0)
        // only this CPU caches it: tolerated for now
        #expect(m.violations.isEmpty, "\(m.violations)")
        _ = try m.load(cpu: 0, mm: mm, addr: base)
        #expect(m.violations.contains { $0.kind == .unflushedReturn }, "\(m.violations)")
    }

    /// The audit keeps its per-frame counts from one audit to the next:
    /// each must start from zero, or an audit would count the references
    /// an earlier one saw again (every frame's refcount then looks wrong).
    @Test(arguments: supportedVariants)
    func repeatedAuditsAgree(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 4)
        for i: UInt64 in 0 ..< 4 {
            try put(m, cpu: 0, mm: mm, base + i * Machine.pageSize, 1)
        }
        #expect(m.check() == 0)
        #expect(m.check() == 0)
        try m.munmap(cpu: 0, mm: mm, addr: base, length: 2 * Machine.pageSize)
        #expect(m.check() == 0)
        let page = base + 2 * Machine.pageSize
        #expect(m.withCMachine { mmsim_test_miscount($0, mm.rawValue, page, 1) } == 0)
        let first = m.check()
        #expect(first > 0)
        #expect(m.check() == first)
    }

    @Test(arguments: supportedVariants)
    func miscountedBooks(variant: Variant) throws {
        for (what, kind) in [(Int32(0), Violation.Kind.accounting), (1, .badRefcount)] {
            let m = try makeMachine(variant: variant)
            let mm = try m.newMM()
            let base = try mapAnon(m, mm: mm, pages: 2)
            try put(m, cpu: 1, mm: mm, base, 5)
            #expect(m.check() == 0)
            #expect(m.withCMachine { mmsim_test_miscount($0, mm.rawValue, base, what) } == 0)
            #expect(m.check() > 0)
            #expect(m.violations.contains { $0.kind == kind }, "\(m.violations)")
        }
    }

    @Test(arguments: supportedVariants)
    func unmapWithoutRemoteFlush(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (mm, base) = try Self.cachedEverywhere(m)
        let ret = m.withCMachine { mmsim_test_unmap_no_remote_flush($0, 0, mm.rawValue, base) }
        #expect(ret == 0)
        let found = m.violations
        #expect(found.contains { $0.kind == .incoherent }, "\(found)")
    }

    @Test(arguments: supportedVariants)
    func leakedPageTable(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (mm, base) = try Self.cachedEverywhere(m)
        let ret = m.withCMachine { mmsim_test_leak_pte_table($0, 0, mm.rawValue, base) }
        #expect(ret == 0)
        try m.exit(cpu: 0, mm: mm)
        #expect(try m.checkLeaks() > 0)
        #expect(m.violations.contains { $0.kind == .leak }, "\(m.violations)")
    }
}
