import CMMSimTestHooks
import MMSim
import Testing

/// The audits and checks that came with reclaim, swap and shared pte
/// tables, each shown to fire on a machine broken on purpose through
/// `mmsim_test_corrupt()`.  Each starts from a clean state, so that what
/// fires is the corruption's doing.
@Suite struct SharingCheckerTests {
    static let base: UInt64 = 0x4000_0000
    static let sharing = supportedVariants.filter { $0.share == .fork }

    /// A parent with `pages` pages stored to, in a region of one whole pte
    /// table, and a child forked from it (which shares the table when
    /// `variant` shares).
    static func family(_ m: Machine, pages: UInt64 = 8) throws -> (MMID, MMID) {
        let parent = try m.newMM()
        _ = try m.mmap(cpu: 0, mm: parent, addr: base, length: 512 * page, prot: rw,
                       flags: [.private, .anonymous, .fixed])
        for p in 0 ..< pages { try put(m, cpu: 0, mm: parent, base + p * page, tag(1, p)) }
        let child = try m.fork(cpu: 0, mm: parent)
        expectClean(m)
        return (parent, child)
    }

    func corrupt(_ m: Machine, _ mm: MMID, _ addr: UInt64, _ what: mmsim_test_corruption) -> Int32 {
        m.withCMachine { mmsim_test_corrupt($0, mm.rawValue, addr, Int32(what.rawValue)) }
    }

    func audit(_ m: Machine) -> [Violation] {
        m.clearViolations()
        _ = m.check()
        return m.violations
    }

    /// The share count (the table's page count) must equal the pmd
    /// entries that point at the table, across every mm.
    @Test(arguments: sharing)
    func shareCountAgainstThePmds(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (parent, _) = try Self.family(m)
        #expect(m.stats.ptablesShared == 1)
        #expect(corrupt(m, parent, Self.base, MMSIM_TEST_SHARE_COUNT) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .badRefcount && $0.message.contains("refcount 3, expected 2") },
                "\(found)")
    }

    /// A shared table lists every mm whose pmd points at it, once.
    @Test(arguments: sharing)
    func sharerListAgainstTheCount(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (parent, _) = try Self.family(m)
        #expect(corrupt(m, parent, Self.base, MMSIM_TEST_SHARER_UNLISTED) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .accounting && $0.message.contains("1 sharers listed") },
                "\(found)")
    }

    /// Fork write-protects a shared table's ptes once for all: one left
    /// writable lets one sharer write what the others read.
    @Test(arguments: sharing)
    func writablePteInASharedTable(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (parent, _) = try Self.family(m)
        #expect(corrupt(m, parent, Self.base + page, MMSIM_TEST_SHARED_WRITABLE) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .accounting && $0.message.contains("writable pte in pte table") },
                "\(found)")
    }

    /// Every present anonymous pte is where its page's reverse map leads:
    /// the page's family is the mm's, and its vpn the pte's address.
    @Test(arguments: supportedVariants)
    func reverseMapAgainstThePte(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (parent, _) = try Self.family(m)
        #expect(corrupt(m, parent, Self.base + 2 * page, MMSIM_TEST_RMAP_INDEX) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .accounting && $0.message.contains("reverse map of frame") },
                "\(found)")
    }

    /// A machine whose pages at `base` went to swap: after a fork and a
    /// reclaim of twice as many pages (the clock's first pass gives the
    /// young ones a second chance).
    static func swapped(_ m: Machine, pages: UInt64 = 8) throws -> (MMID, MMID) {
        let (parent, child) = try family(m, pages: pages)
        #expect(try m.reclaim(cpu: 1, pages: 2 * pages) == pages)
        expectClean(m)
        return (parent, child)
    }

    /// A swap slot's count is the swap entries that name it.
    @Test(arguments: supportedVariants)
    func swapSlotCountAgainstTheEntries(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (parent, _) = try Self.swapped(m)
        #expect(corrupt(m, parent, Self.base, MMSIM_TEST_SWAP_COUNT) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .badRefcount && $0.message.contains("swap entries name it") },
                "\(found)")
    }

    /// No swap entry may name a free slot (one freed under it).
    @Test(arguments: supportedVariants)
    func swapEntryNamingAFreeSlot(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (parent, _) = try Self.swapped(m)
        #expect(corrupt(m, parent, Self.base + page, MMSIM_TEST_SWAP_SLOT_FREED) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .useAfterFree && $0.message.contains("name free swap slot") },
                "\(found)")
    }

    /// An mm's swap_ents counts its ptes that are swap entries.
    @Test(arguments: supportedVariants)
    func swapEntsAgainstThePtes(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (parent, _) = try Self.swapped(m)
        #expect(corrupt(m, parent, Self.base, MMSIM_TEST_SWAP_ENTS) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .accounting && $0.message.contains("swap_ents is") },
                "\(found)")
    }

    /// x86 loads a TLB entry only from a young pte: an old pte under a
    /// cached translation had its accessed bit cleared without a flush.
    @Test(arguments: supportedVariants)
    func oldPteUnderACachedTranslation(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (parent, _) = try Self.family(m)
        #expect(try m.load(cpu: 1, mm: parent, addr: Self.base) == .ok(tag(1, 0)))
        #expect(corrupt(m, parent, Self.base, MMSIM_TEST_OLD_NO_FLUSH) == 0)
        let found = audit(m)
        #expect(found.contains { $0.kind == .incoherent && $0.message.contains("accessed bit was cleared") },
                "\(found)")
    }

    /// Harvesting the accessed bit properly (reclaim's first pass over a
    /// page CPUs have cached) leaves every CPU coherent.
    @Test(arguments: supportedVariants)
    func reclaimHarvestsTheAccessedBitWithAFlush(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let (parent, child) = try Self.family(m, pages: 4)
        for cpu in 0 ..< m.config.cpus {
            #expect(try m.load(cpu: cpu, mm: cpu % 2 == 0 ? parent : child, addr: Self.base) == .ok(tag(1, 0)))
        }
        // one page's worth: the clock finds the young ones and ages them
        _ = try m.reclaim(cpu: 1, pages: 1)
        #expect(m.stats.reclaimReferenced >= 1)
        #expect(audit(m).isEmpty, "\(m.violations)")
    }
}
