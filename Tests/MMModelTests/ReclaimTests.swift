import Testing
@testable import MMModel

/// Reclaim and swap, as the model sees them: nothing a program can see.
@Suite struct ReclaimTests {
    /// Any count from 0 to the pages asked for; a bad CPU is EINVAL; the
    /// state does not change.
    @Test func reclaimMayTakeAnyCountAndChangesNothing() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 4)
        try d.store(a, 0x10000, 1)
        try d.store(a, 0x13000, 4)
        let before = d.model
        for n: UInt64 in [0, 1, 8] {
            try d.only(.reclaim(cpu: 1, pages: 8), .count(n), not: [.count(9), .ok, .errno(12), .value(0)])
        }
        try d.run(.reclaim(cpu: 3, pages: 0), .count(0))
        d.diverges(.reclaim(cpu: 3, pages: 0), .count(1))
        try d.only(.reclaim(cpu: 4, pages: 1), EINVAL, not: [.count(0)])
        try d.only(.reclaim(cpu: -1, pages: 1), EINVAL, not: [.count(1)])
        // Pages keep their values and their frames: only where they live
        // changed, which the model does not know.
        #expect(d.state(a) == before.state(of: a)!)
        #expect(d.model.userPages == before.userPages)
        try d.load(a, 0x10000, 1)
        try d.load(a, 0x13000, 4)
        try d.load(a, 0x11000, 0)
    }

    /// After a reclaim took pages to swap, an access to a page the model
    /// has present may run out of memory (its swap-in needs a frame) when
    /// an allocation failed; before it, it may not.
    @Test func aSwapInMayRunOutOfMemoryOnlyAfterAReclaim() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.store(a, 0x10000, 1)
        let load = Call.load(cpu: 0, mm: a, addr: 0x10000)
        let store = Call.store(cpu: 0, mm: a, addr: 0x10000, value: 2)
        d.diverges(load, .oom, mayFail: true)
        d.diverges(store, .oom, mayFail: true)
        // A reclaim that took nothing changes nothing either.
        try d.run(.reclaim(cpu: 0, pages: 4), .count(0))
        d.diverges(load, .oom, mayFail: true)
        try d.run(.reclaim(cpu: 0, pages: 4), .count(1))
        #expect(d.model.pagesMayBeInSwap)
        d.diverges(load, .oom)
        d.diverges(store, .oom)
        try d.run(load, .oom, mayFail: true)
        try d.run(store, .oom, mayFail: true)
        // The failed accesses changed nothing.
        try d.load(a, 0x10000, 1)
        try d.store(a, 0x10000, 2)
        try d.load(a, 0x10000, 2)
    }

    /// A MADV_DONTNEED stopped by ENOMEM (a shared pte table not copied):
    /// the pages the machine kept stay, with their values, the others go.
    @Test func adoptPagesKeepsWhatTheMachineKept() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 4)
        for p: UInt64 in 0 ..< 4 { try d.store(a, 0x10000 + p * page, 10 + p) }
        let b = try d.fork(a)
        try d.run(.madvise(cpu: 0, mm: a, addr: 0x10000, length: 4 * page, advice: MADV_DONTNEED), ENOMEM,
                  mayFail: true)
        // The machine zapped the first two pages, then stopped.
        var wrong = d.model
        #expect(throws: Divergence.self) {
            try wrong.adoptPages(mm: a) { addr in addr >= 0x12000 ? 99 : nil }
        }
        try d.model.adoptPages(mm: a) { addr in addr >= 0x12000 ? 10 + (addr - 0x10000) / page : nil }
        #expect(d.state(a).pages.keys.sorted() == [0x12000, 0x13000])
        try d.load(a, 0x10000, 0)
        try d.load(a, 0x12000, 12)
        // The fork's copy lost nothing, and shares what a kept.
        try d.load(b, 0x10000, 10)
        #expect(d.state(b).pages[0x12000]?.frame == d.state(a).pages[0x12000]?.frame)
        // Nothing undecided: adopting again is a mistake of the caller.
        #expect(throws: Divergence.self) { try d.model.adoptPages(mm: a) { _ in nil } }
    }

    /// With tables that may be shared, an munmap may run out of memory
    /// before it changes anything, even where no mapping is cut.
    @Test func munmapMayFailForATableCopyOnlyWhenTablesMayBeShared() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.store(a, 0x10000, 5)
        let call = Call.munmap(cpu: 0, mm: a, addr: 0x10000, length: 2 * page)
        d.diverges(call, ENOMEM, mayFail: true)
        d.model.tablesMayBeShared = true
        d.diverges(call, ENOMEM)
        try d.run(call, ENOMEM, mayFail: true)
        try d.load(a, 0x10000, 5)
    }
}
