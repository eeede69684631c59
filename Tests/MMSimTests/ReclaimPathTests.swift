import MMSim
import Testing

/// Reclaim, swap and pte tables shared at fork, through the wrapper: each
/// path ends with a clean audit (`check()`) and no leak.
@Suite struct ReclaimPathTests {
    /// A private region of one whole 2 MiB pte table, so that fork may
    /// share its table (a region covering part of a table would share it
    /// too, but this one's munmap and exit let go of it whole).
    static let table: UInt64 = 512 * page
    static let base: UInt64 = 0x4000_0000

    func mapTable(_ m: Machine, mm: MMID) throws -> UInt64 {
        try m.mmap(cpu: 0, mm: mm, addr: Self.base, length: Self.table, prot: rw,
                   flags: [.private, .anonymous, .fixed])
    }

    /// Reclaim takes pages to swap and changes nothing a program sees:
    /// after a fork, parent and child read every value back (swap-ins),
    /// write their own copies, and read them back again after another
    /// reclaim.
    @Test(arguments: supportedVariants)
    func reclaimThenLoadsReadTheSameValuesAfterFork(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let parent = try m.newMM()
        let base = try mapTable(m, mm: parent)
        let pages: UInt64 = 16
        for p in 0 ..< pages { try put(m, cpu: Int(p % 4), mm: parent, base + p * page, tag(1, p)) }
        let child = try m.fork(cpu: 0, mm: parent)
        // Twice the pages: the clock's first pass gives the young ones a
        // second chance.
        #expect(try m.reclaim(cpu: 1, pages: 2 * pages) == pages)
        #expect(m.stats.pagesReclaimed == pages)
        for mm in [parent, child] {
            let info = try m.info(of: mm)
            #expect(info.anonRSS == 0 && info.swapEnts == pages, "\(info)")
            let pte = try #require(try m.lookup(mm: mm, addr: base + 3 * page))
            #expect(pte.swapped && !pte.present && pte.word0 == tag(1, 3))
            #expect(pte.pfn > UInt64(m.config.frames))
        }
        // Parent and child name one page in swap for each address.
        #expect(try m.lookup(mm: parent, addr: base)?.pfn == m.lookup(mm: child, addr: base)?.pfn)
        expectClean(m)

        for p in 0 ..< pages {
            #expect(try m.load(cpu: 2, mm: child, addr: base + p * page) == .ok(tag(1, p)))
            #expect(try m.load(cpu: 3, mm: parent, addr: base + p * page) == .ok(tag(1, p)))
        }
        #expect(m.stats.swapIns >= 1)
        #expect(try m.info(of: parent).anonRSS + m.info(of: parent).swapEnts == pages)
        // Copy-on-write still separates them after a swap-in.
        try put(m, cpu: 0, mm: child, base, tag(2, 0))
        try put(m, cpu: 1, mm: parent, base + page, tag(3, 1))
        _ = try m.reclaim(cpu: 2, pages: 4 * pages)
        #expect(try m.load(cpu: 0, mm: parent, addr: base) == .ok(tag(1, 0)))
        #expect(try m.load(cpu: 1, mm: child, addr: base) == .ok(tag(2, 0)))
        #expect(try m.load(cpu: 2, mm: child, addr: base + page) == .ok(tag(1, 1)))
        #expect(try m.load(cpu: 3, mm: parent, addr: base + page) == .ok(tag(3, 1)))
        expectClean(m)
        try expectNoLeaks(m, exiting: [parent, child])
    }

    /// A page in swap that one mm faults back in stays one page for the
    /// others: the swap cache serves their faults, with the same frame.
    @Test(arguments: supportedVariants)
    func swapInThroughTheSwapCache(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let parent = try m.newMM()
        let base = try mapTable(m, mm: parent)
        try put(m, cpu: 0, mm: parent, base, tag(1, 0))
        let child = try m.fork(cpu: 0, mm: parent)
        #expect(try m.reclaim(cpu: 3, pages: 8) == 1)
        #expect(try m.load(cpu: 1, mm: parent, addr: base) == .ok(tag(1, 0)))
        #expect(m.stats.swapIns == 1)
        #expect(try m.load(cpu: 2, mm: child, addr: base) == .ok(tag(1, 0)))
        let p = try #require(try m.lookup(mm: parent, addr: base))
        let c = try #require(try m.lookup(mm: child, addr: base))
        #expect(p.present && c.present && p.pfn == c.pfn && p.pfn < UInt64(m.config.frames))
        #expect(m.stats.swapIns + m.stats.swapCacheHits >= 2)
        expectClean(m)
        try expectNoLeaks(m, exiting: [parent, child])
    }

    static let sharing = supportedVariants.filter { $0.share == .fork }

    /// share=fork: fork shares the pte table (one table, two mms); a
    /// write by the child unshares it (a copy of its own), and values
    /// stay private to each.
    @Test(arguments: sharing)
    func forkSharesATableAndAWriteUnsharesIt(variant: Variant) throws {
        #expect(Self.sharing.count == 8)
        let m = try makeMachine(variant: variant)
        let parent = try m.newMM()
        let base = try mapTable(m, mm: parent)
        for p: UInt64 in [0, 1, 100, 511] { try put(m, cpu: 0, mm: parent, base + p * page, tag(1, p)) }
        let tablesBefore = m.stats.ptablesAlloced
        let child = try m.fork(cpu: 1, mm: parent)
        #expect(m.stats.ptablesShared == 1)
        // The child's pgd, pud and pmd are its own, the pte table is not.
        #expect(m.stats.ptablesAlloced - tablesBefore == 3)
        #expect(try m.info(of: child).anonRSS == 4)
        #expect(try m.lookup(mm: child, addr: base + 100 * page)?.pfn
                == m.lookup(mm: parent, addr: base + 100 * page)?.pfn)
        expectClean(m)

        // Both read through the one table.
        #expect(try m.load(cpu: 2, mm: child, addr: base + 511 * page) == .ok(tag(1, 511)))
        #expect(try m.load(cpu: 3, mm: parent, addr: base) == .ok(tag(1, 0)))
        #expect(m.stats.ptablesUnshared == 0)

        // The child writes: it gets a table of its own and a copy of the page.
        try put(m, cpu: 2, mm: child, base + page, tag(2, 1))
        #expect(m.stats.ptablesUnshared == 1)
        #expect(try m.load(cpu: 3, mm: parent, addr: base + page) == .ok(tag(1, 1)))
        #expect(try m.load(cpu: 0, mm: child, addr: base + page) == .ok(tag(2, 1)))
        #expect(try m.load(cpu: 1, mm: child, addr: base + 100 * page) == .ok(tag(1, 100)))
        try put(m, cpu: 0, mm: parent, base + 100 * page, tag(3, 100))
        #expect(try m.load(cpu: 1, mm: child, addr: base + 100 * page) == .ok(tag(1, 100)))
        expectClean(m)
        try expectNoLeaks(m, exiting: [parent, child])
    }

    /// Reclaim changes a shared table's entries in place for every sharer,
    /// flushing them from the CPUs that may cache them; each sharer reads
    /// its values back, and unshares only to change them.
    @Test(arguments: sharing)
    func reclaimInASharedTable(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let parent = try m.newMM()
        let base = try mapTable(m, mm: parent)
        for p: UInt64 in 0 ..< 8 { try put(m, cpu: Int(p % 4), mm: parent, base + p * page, tag(1, p)) }
        let child = try m.fork(cpu: 0, mm: parent)
        #expect(try m.load(cpu: 1, mm: child, addr: base) == .ok(tag(1, 0)))
        #expect(try m.reclaim(cpu: 3, pages: 16) == 8)
        #expect(m.stats.sharedFlushes >= 1)
        #expect(m.stats.ptablesUnshared == 0)
        for mm in [parent, child] { #expect(try m.info(of: mm).swapEnts == 8) }
        expectClean(m)
        // A swap-in is a change of the table: it unshares first.
        #expect(try m.load(cpu: 2, mm: child, addr: base + 5 * page) == .ok(tag(1, 5)))
        #expect(try m.load(cpu: 0, mm: parent, addr: base + 5 * page) == .ok(tag(1, 5)))
        try put(m, cpu: 1, mm: child, base + 6 * page, tag(2, 6))
        #expect(try m.load(cpu: 3, mm: parent, addr: base + 6 * page) == .ok(tag(1, 6)))
        expectClean(m)
        try expectNoLeaks(m, exiting: [child, parent])
    }

    /// MADV_DONTNEED of part of a shared table needs a copy of it: when
    /// that allocation fails it returns ENOMEM and the table's pages stay.
    @Test(arguments: sharing)
    func dontneedThatCannotUnshareFailsAndKeepsThePages(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let parent = try m.newMM()
        let base = try mapTable(m, mm: parent)
        for p: UInt64 in 0 ..< 4 { try put(m, cpu: 0, mm: parent, base + p * page, tag(1, p)) }
        let child = try m.fork(cpu: 0, mm: parent)
        m.failNthAllocation(1)
        #expect(throws: Errno.ENOMEM) {
            try m.madvise(cpu: 1, mm: child, addr: base, length: 2 * page, advice: .dontneed)
        }
        #expect(try m.load(cpu: 2, mm: child, addr: base) == .ok(tag(1, 0)))
        #expect(try m.load(cpu: 2, mm: parent, addr: base + page) == .ok(tag(1, 1)))
        try m.madvise(cpu: 1, mm: child, addr: base, length: 2 * page, advice: .dontneed)
        #expect(try m.load(cpu: 2, mm: child, addr: base) == .ok(0))
        #expect(try m.load(cpu: 3, mm: parent, addr: base) == .ok(tag(1, 0)))
        expectClean(m)
        try expectNoLeaks(m, exiting: [parent, child])
    }
}
