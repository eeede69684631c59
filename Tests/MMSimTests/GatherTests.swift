import MMSim
import Testing

/// The baseline mmu_gather's batching, as 2.6.16 ran it: fast mode on one
/// CPU, ZAP_BLOCK_SIZE breaks under PREEMPT, a full vector at FREE_PTE_NR.
@Suite struct GatherTests {
    /// Maps `pages` pages, touches each (spread over the CPUs), unmaps them
    /// all from CPU 0, and returns the counters the munmap moved.
    static func unmapTouched(_ m: Machine, pages: UInt64) throws -> (before: Stats, after: Stats) {
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: pages)
        for p in 0 ..< pages {
            try put(m, cpu: Int(p) % m.config.cpus, mm: mm, base + p * page, p + 1)
        }
        let before = m.stats
        try m.munmap(cpu: 0, mm: mm, addr: base, length: pages * page)
        let after = m.stats
        #expect(try m.load(cpu: 0, mm: mm, addr: base) == .segv)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
        return (before, after)
    }

    @Test(arguments: [false, true])
    func oneCPUUsesFastMode(preempt: Bool) throws {
        let m = try makeMachine(cpus: 1, variant: Variant(gather: .vector, ptl: .mm, preempt: preempt))
        let (before, after) = try Self.unmapTouched(m, pages: 32)
        #expect(after.gatherFastFrees >= before.gatherFastFrees + 32)
        #expect(after.gatherFull == before.gatherFull)
        #expect(after.ipis == 0)
    }

    @Test func smpDoesNotUseFastMode() throws {
        let m = try makeMachine(cpus: 4, variant: .baseline)
        let (before, after) = try Self.unmapTouched(m, pages: 32)
        #expect(after.gatherFastFrees == before.gatherFastFrees)
        #expect(after.pagesGathered >= before.pagesGathered + 32)
    }

    @Test func preemptBreaksTheGatherEveryZapBlock() throws {
        let on = try makeMachine(variant: Variant(gather: .vector, ptl: .mm, preempt: true))
        let off = try makeMachine(variant: Variant(gather: .vector, ptl: .mm, preempt: false))
        let withPreempt = try Self.unmapTouched(on, pages: 64)
        let without = try Self.unmapTouched(off, pages: 64)
        let flushesOn = withPreempt.after.gatherFlushes - withPreempt.before.gatherFlushes
        let flushesOff = without.after.gatherFlushes - without.before.gatherFlushes
        // ZAP_BLOCK_SIZE is 8 pages with PREEMPT: 64 pages take 8 blocks;
        // without, 1024 pages: one block.
        #expect(flushesOn > flushesOff)
        #expect(flushesOn >= 8)
        #expect(withPreempt.after.zapBreaks - withPreempt.before.zapBreaks >= 7)
        #expect(without.after.zapBreaks == without.before.zapBreaks)
        #expect(withPreempt.after.preemptPoints > withPreempt.before.preemptPoints)
        #expect(without.after.maxPreemptOffPtes >= 64)
    }

    @Test func bigUnmapFillsTheVector() throws {
        // More than FREE_PTE_NR (506) pages in one ZAP_BLOCK_SIZE (1024).
        let m = try makeMachine(variant: Variant(gather: .vector, ptl: .mm, preempt: false))
        let (before, after) = try Self.unmapTouched(m, pages: 600)
        #expect(after.gatherFull > before.gatherFull)
        #expect(after.pagesFreed >= before.pagesFreed + 600)
    }

    @Test func preemptKeepsTheVectorFromFilling() throws {
        let m = try makeMachine(variant: Variant(gather: .vector, ptl: .mm, preempt: true))
        let (before, after) = try Self.unmapTouched(m, pages: 600)
        #expect(after.gatherFull == before.gatherFull)
    }
}
