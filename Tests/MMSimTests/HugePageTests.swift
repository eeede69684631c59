import CMMSimTestHooks
import MMSim
import Testing

/// Transparent huge pages on every variant: a 2 MiB fault, fork's copy
/// and the copy-on-write that splits, the splits of partial calls, the
/// zaps of whole huge pmds in both gathers, and the fallback.  Every test
/// ends with a clean audit and no leak.
@Suite struct HugePageTests {
    static let huge: UInt64 = 2 << 20
    static let hugeAdvice = Advice(rawValue: 14)

    /// A MAP_FIXED private mapping of `hugePages` aligned 2 MiB, marked
    /// MADV_HUGEPAGE.
    func mapHuge(_ m: Machine, mm: MMID, at base: UInt64 = 0x4000_0000, hugePages: UInt64) throws -> UInt64 {
        let addr = try m.mmap(cpu: 0, mm: mm, addr: base, length: hugePages * Self.huge, prot: rw,
                              flags: [.private, .anonymous, .fixed])
        #expect(addr == base)
        try m.madvise(cpu: 0, mm: mm, addr: base, length: hugePages * Self.huge, advice: Self.hugeAdvice)
        return addr
    }

    @Test(arguments: supportedVariants)
    func faultMapsTwoMiB(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapHuge(m, mm: mm, hugePages: 2)
        try put(m, cpu: 0, mm: mm, base + 8, 0x11)
        #expect(m.stats.thpFaults == 1)
        #expect(try m.info(of: mm).anonRSS == 512)
        let pte = try #require(try m.lookup(mm: mm, addr: base + 5 * page))
        #expect(pte.huge && pte.present && pte.writable && pte.word0 == 0)
        let first = try #require(try m.lookup(mm: mm, addr: base))
        #expect(pte.pfn == first.pfn + 5)
        // every CPU reads it through its 2 MiB TLB
        for cpu in 0 ..< 4 {
            #expect(try m.load(cpu: cpu, mm: mm, addr: base + 8) == .ok(0x11))
            #expect(try m.load(cpu: cpu, mm: mm, addr: base + 300 * page) == .ok(0))
        }
        #expect(m.stats.tlb2mHits > 0)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
        #expect(m.stats.thpFreed == 1)
    }

    @Test(arguments: supportedVariants)
    func forkSharesThenWriteSplitsAndCopies(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let parent = try m.newMM()
        let base = try mapHuge(m, mm: parent, hugePages: 1)
        try put(m, cpu: 0, mm: parent, base, 0x11)
        try put(m, cpu: 1, mm: parent, base + 7 * page, 0x77)
        let child = try m.fork(cpu: 0, mm: parent)
        #expect(m.stats.thpForkCopies == 1)
        #expect(try m.lookup(mm: child, addr: base)?.pfn == m.lookup(mm: parent, addr: base)?.pfn)
        #expect(try m.lookup(mm: parent, addr: base)?.writable == false)
        try put(m, cpu: 2, mm: child, base, 0x22)
        #expect(m.stats.thpSplits == 1)
        #expect(try m.load(cpu: 0, mm: parent, addr: base) == .ok(0x11))
        #expect(try m.load(cpu: 3, mm: child, addr: base + 7 * page) == .ok(0x77))
        #expect(try m.lookup(mm: child, addr: base + 7 * page)?.pfn == m.lookup(mm: parent, addr: base + 7 * page)?.pfn)
        #expect(try m.lookup(mm: child, addr: base)?.huge == false)
        // the parent's pmd is still huge: its write splits it too
        try put(m, cpu: 1, mm: parent, base + 7 * page, 0x78)
        #expect(try m.load(cpu: 2, mm: child, addr: base + 7 * page) == .ok(0x77))
        expectClean(m)
        try m.exit(cpu: 0, mm: child)
        expectClean(m)
        try expectNoLeaks(m, exiting: [parent])
    }

    @Test(arguments: supportedVariants)
    func exclusiveHugeWriteReusesInPlace(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let parent = try m.newMM()
        let base = try mapHuge(m, mm: parent, hugePages: 1)
        try put(m, cpu: 0, mm: parent, base, 0x11)
        let child = try m.fork(cpu: 0, mm: parent)
        try m.exit(cpu: 1, mm: child)
        let pfn = try m.lookup(mm: parent, addr: base)?.pfn
        try put(m, cpu: 0, mm: parent, base, 0x12)
        #expect(m.stats.thpCowReuses == 1)
        #expect(try m.lookup(mm: parent, addr: base)?.pfn == pfn)
        #expect(try m.lookup(mm: parent, addr: base)?.huge == true)
        expectClean(m)
        try expectNoLeaks(m, exiting: [parent])
    }

    @Test(arguments: supportedVariants)
    func partialCallsSplit(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapHuge(m, mm: mm, hugePages: 4)
        for i in 0 ..< UInt64(4) {
            try put(m, cpu: Int(i), mm: mm, base + i * Self.huge + page, tag(1, i))
            _ = try m.load(cpu: (Int(i) + 1) % 4, mm: mm, addr: base + i * Self.huge)
        }
        #expect(m.stats.thpFaults == 4)
        // MADV_DONTNEED of one page, mprotect of one page, munmap of one
        try m.madvise(cpu: 0, mm: mm, addr: base + page, length: page, advice: .dontneed)
        #expect(try m.load(cpu: 1, mm: mm, addr: base + page) == .ok(0))
        try m.mprotect(cpu: 1, mm: mm, addr: base + Self.huge + 2 * page, length: page, prot: .read)
        #expect(try m.load(cpu: 2, mm: mm, addr: base + Self.huge + page) == .ok(tag(1, 1)))
        #expect(try m.store(cpu: 2, mm: mm, addr: base + Self.huge + 2 * page, value: 1) == .segv)
        try m.munmap(cpu: 2, mm: mm, addr: base + 2 * Self.huge + 10 * page, length: page)
        #expect(try m.load(cpu: 3, mm: mm, addr: base + 2 * Self.huge + page) == .ok(tag(1, 2)))
        #expect(m.stats.thpSplits == 3)
        // mprotect of a whole huge pmd changes it in place
        try m.mprotect(cpu: 3, mm: mm, addr: base + 3 * Self.huge, length: Self.huge, prot: .read)
        #expect(try m.lookup(mm: mm, addr: base + 3 * Self.huge)?.huge == true)
        #expect(try m.store(cpu: 0, mm: mm, addr: base + 3 * Self.huge, value: 1) == .segv)
        #expect(try m.load(cpu: 0, mm: mm, addr: base + 3 * Self.huge + page) == .ok(tag(1, 3)))
        #expect(m.stats.thpSplits == 3)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: supportedVariants)
    func wholeZapsGoThroughTheGather(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapHuge(m, mm: mm, hugePages: 3)
        for i in 0 ..< UInt64(3) {
            for cpu in 0 ..< 4 {
                _ = try m.load(cpu: cpu, mm: mm, addr: base + i * Self.huge + UInt64(cpu) * page)
            }
        }
        try m.madvise(cpu: 0, mm: mm, addr: base, length: Self.huge, advice: .dontneed)
        try m.munmap(cpu: 1, mm: mm, addr: base + Self.huge, length: Self.huge)
        let zaps = variant.gather == .inplace ? m.stats.thpZapsInplace : m.stats.thpZapsVector
        #expect(zaps == 2)
        #expect(m.stats.thpSplits == 0)
        #expect(m.stats.thpFreed == 2)
        #expect(try m.load(cpu: 2, mm: mm, addr: base) == .ok(0))
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: supportedVariants)
    func failedHugeAllocationFallsBack(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapHuge(m, mm: mm, hugePages: 2) + Self.huge
        try put(m, cpu: 0, mm: mm, base - Self.huge, 0x10)  // the upper tables
        m.failNthAllocation(2)  // the deposit is the first, the page the second
        try put(m, cpu: 0, mm: mm, base, 0x11)
        #expect(m.stats.thpFallbacks == 1)
        #expect(try m.lookup(mm: mm, addr: base)?.huge == false)
        #expect(try m.info(of: mm).anonRSS == 513)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test func noBlockFreeFallsBack() throws {
        // 1024 frames: one block goes to the page tables, one is huge
        let m = try makeMachine(frames: 1024)
        let mm = try m.newMM()
        let base = try mapHuge(m, mm: mm, hugePages: 2)
        try put(m, cpu: 0, mm: mm, base, 1)
        try put(m, cpu: 0, mm: mm, base + Self.huge, 2)
        #expect(m.stats.thpFaults == 1)
        #expect(m.stats.thpFallbacks == 1)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }
}

/// The checks that came with huge pages, each shown to fire on a machine
/// broken on purpose through `mmsim_test_corrupt_huge()`.
@Suite struct HugeCheckerTests {
    static let base: UInt64 = 0x4000_0000
    static let huge: UInt64 = 2 << 20

    /// An mm with one aligned 2 MiB, huge unless `huge` is false, read by
    /// CPUs 1 and 2.
    static func hugeMM(_ m: Machine, huge: Bool = true) throws -> MMID {
        let mm = try m.newMM()
        _ = try m.mmap(cpu: 0, mm: mm, addr: base, length: Self.huge, prot: rw,
                       flags: [.private, .anonymous, .fixed])
        if huge {
            try m.madvise(cpu: 0, mm: mm, addr: base, length: Self.huge, advice: Advice(rawValue: 14))
        }
        try put(m, cpu: 0, mm: mm, base, tag(1, 0))
        #expect(try m.load(cpu: 1, mm: mm, addr: base) == .ok(tag(1, 0)))
        #expect(try m.load(cpu: 2, mm: mm, addr: base + page) == .ok(0))
        #expect(try m.lookup(mm: mm, addr: base)?.huge == huge)
        expectClean(m)
        return mm
    }

    func corrupt(_ m: Machine, _ mm: MMID, _ what: mmsim_test_huge_corruption) -> Int32 {
        m.withCMachine { mmsim_test_corrupt_huge($0, mm.rawValue, Self.base, Int32(what.rawValue)) }
    }

    func audit(_ m: Machine) -> [Violation] {
        m.clearViolations()
        _ = m.check()
        return m.violations
    }

    /// No CPU may hold a 4 KiB and a 2 MiB translation of one address
    /// that disagree: a pte table replaced by a huge pmd without a flush
    /// leaves CPU 1's 4 KiB entry beside the 2 MiB one it fills next.
    @Test func twoPageSizesThatDisagree() throws {
        let m = try makeMachine()
        let mm = try Self.hugeMM(m, huge: false)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_COLLAPSE_NO_FLUSH) == 0)
        _ = try m.load(cpu: 1, mm: mm, addr: Self.base + 5 * page)
        #expect(m.violations.contains {
            $0.kind == .incoherent && $0.message.contains("two page sizes that disagree")
        }, "\(m.violations)")
    }

    /// A compound page freed while CPUs cache its 2 MiB translation.
    @Test(arguments: supportedVariants)
    func hugePageFreedWhileCached(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try Self.hugeMM(m)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_FREE_NO_FLUSH) == 0)
        #expect(m.violations.contains {
            $0.kind == .freeWhileCached && $0.message.contains("(2 MiB)")
        }, "\(m.violations)")
    }

    /// A huge pmd turned into a pte table while a CPU still caches its
    /// 2 MiB translation: the page size changed under it.
    @Test func splitWithoutInvalidateAndFlush() throws {
        let m = try makeMachine()
        let mm = try Self.hugeMM(m)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_SPLIT_NO_FLUSH) == 0)
        #expect(m.violations.contains {
            $0.kind == .incoherent && $0.message.contains("caches its 2 MiB translation (pmd not invalidated)")
        }, "\(m.violations)")
    }

    /// A deposited pte table stays empty until its split fills it.
    @Test func depositStaysEmpty() throws {
        let m = try makeMachine()
        let mm = try Self.hugeMM(m)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_DEPOSIT_DIRTY) == 0)
        let found = audit(m)
        #expect(found.contains { $0.message.contains("is not empty") }, "\(found)")
    }

    /// A huge pmd maps the head of a compound page.
    @Test func hugePmdMapsACompoundPage() throws {
        let m = try makeMachine()
        let mm = try Self.hugeMM(m)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_NOT_COMPOUND) == 0)
        let found = audit(m)
        #expect(found.contains { $0.message.contains("not a compound page") }, "\(found)")
    }

    /// No huge pmd is left invalidated (or gathered) between calls.
    @Test func hugePmdLeftInvalidated() throws {
        let m = try makeMachine()
        let mm = try Self.hugeMM(m)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_LEFT_INVALIDATED) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .accounting && $0.message.contains("invalidated after its split") },
                "\(found)")
    }

    /// Every pmd write holds the pmd lock of the variant.
    @Test(arguments: supportedVariants.filter { $0.share == .off })
    func pmdWriteWithoutItsLock(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try Self.hugeMM(m)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_WRITE_UNLOCKED) == 0)
        let lock = variant.ptl == .split ? "its pmd page's lock" : "mm->page_table_lock"
        #expect(m.violations.contains { $0.kind == .locking && $0.message.contains("pmd write without \(lock)") },
                "\(m.violations)")
    }

    /// A 2 MiB entry that grants more than the pmd: coherence.
    @Test func hugeWriteProtectWithoutFlush() throws {
        let m = try makeMachine()
        let mm = try Self.hugeMM(m)
        try put(m, cpu: 3, mm: mm, Self.base + 8, 1)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_WRPROTECT_NO_FLUSH) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .incoherent && $0.message.contains("the pmd says") }, "\(found)")
    }

    /// A huge pmd is writable only if nothing else maps its page.
    @Test func writableSharedHugePmd() throws {
        let m = try makeMachine()
        let mm = try Self.hugeMM(m)
        _ = try m.fork(cpu: 0, mm: mm)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_WRITABLE) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .accounting && $0.message.contains("writable huge pmd to a page with 2 references") },
                "\(found)")
    }

    /// One deposited pte table per huge pmd.
    @Test func depositPerHugePmd() throws {
        let m = try makeMachine()
        let mm = try Self.hugeMM(m)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_NO_DEPOSIT) == 0)
        let found = audit(m)
        #expect(found.contains { $0.message.contains("1 huge pmds and 0 deposited") }, "\(found)")
        #expect(found.contains { $0.kind == .leak }, "\(found)")
    }

    /// Every frame of a compound page counts the huge pmds that map it.
    @Test func compoundMapcount() throws {
        let m = try makeMachine()
        let mm = try Self.hugeMM(m)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_MAPCOUNT) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .badRefcount && $0.message.contains("mapcount 2") }, "\(found)")
    }

    /// The compound pages allocated, against thp_now.
    @Test func compoundPagesCounted() throws {
        let m = try makeMachine()
        let mm = try Self.hugeMM(m)
        #expect(corrupt(m, mm, MMSIM_TEST_HUGE_COUNT) == 0)
        let found = audit(m)
        #expect(found.contains { $0.message.contains("thp_now says 2") }, "\(found)")
    }
}
