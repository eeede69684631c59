import MMFuzz
import MMModel
import Testing

/// The linearizability check on hand-made histories: it accepts what some
/// order explains and refuses what none does.
@Suite struct LinearizerTests {
    static let page: UInt64 = 4096
    static let base: UInt64 = 0x4000_0000

    /// A model with one mm (id 0) mapping 4 private pages at `base`.
    static func model() throws -> Model {
        var m = Model(cpus: 4)
        try m.apply(.newMM, outcome: .mm(0), mayFailAllocation: false)
        try m.apply(.mmap(cpu: 0, mm: 0, addr: base, length: 4 * page, prot: 3, flags: 0x32),
                    outcome: .address(base), mayFailAllocation: false)
        return m
    }

    static func check(_ events: [HistoryEvent], budget: Int = 100_000) throws -> Linearizer.Verdict {
        Linearizer(budget: budget).check(events, from: try model(), mayFailAllocation: false) { _, _ in true }
    }

    static func linearizable(_ v: Linearizer.Verdict) -> Bool {
        if case .linearizable = v { return true }
        return false
    }

    @Test func overlappingCallsMayTakeEitherOrder() throws {
        // The load overlaps the store: it may see the old value...
        var events = [
            HistoryEvent(call: .store(cpu: 0, mm: 0, addr: Self.base, value: 5), outcome: .value(5), start: 1, end: 10),
            HistoryEvent(call: .load(cpu: 1, mm: 0, addr: Self.base), outcome: .value(0), start: 2, end: 8),
        ]
        #expect(Self.linearizable(try Self.check(events)))
        // ... or the new one.
        events[1].outcome = .value(5)
        #expect(Self.linearizable(try Self.check(events)))
    }

    @Test func realTimeOrderIsKept() throws {
        // The store returned before the load began: the load must see it.
        let events = [
            HistoryEvent(call: .store(cpu: 0, mm: 0, addr: Self.base, value: 5), outcome: .value(5), start: 1, end: 3),
            HistoryEvent(call: .load(cpu: 1, mm: 0, addr: Self.base), outcome: .value(0), start: 4, end: 8),
        ]
        guard case .notLinearizable(let deepest, let refusal) = try Self.check(events) else {
            Issue.record("a stale read after the store returned was accepted")
            return
        }
        #expect(deepest == [0, 1])
        #expect(refusal.contains("load"))
    }

    @Test func aValueNoOneWroteIsRefused() throws {
        let events = [
            HistoryEvent(call: .store(cpu: 0, mm: 0, addr: Self.base, value: 5), outcome: .value(5), start: 1, end: 10),
            HistoryEvent(call: .load(cpu: 1, mm: 0, addr: Self.base), outcome: .value(6), start: 2, end: 8),
        ]
        #expect(!Self.linearizable(try Self.check(events)))
    }

    @Test func theMachinesStateDecidesBetweenOrders() throws {
        // Two overlapping stores: both orders explain the outcomes; the
        // final value tells which one the machine took.
        let events = [
            HistoryEvent(call: .store(cpu: 0, mm: 0, addr: Self.base, value: 1), outcome: .value(1), start: 1, end: 10),
            HistoryEvent(call: .store(cpu: 1, mm: 0, addr: Self.base, value: 2), outcome: .value(2), start: 2, end: 9),
        ]
        for final: UInt64 in [1, 2] {
            let verdict = Linearizer().check(events, from: try Self.model(), mayFailAllocation: false) { m, _ in
                m.state(of: 0)?.pages[Self.base]?.word0 == final
            }
            guard case .linearizable(_, let order) = verdict else {
                Issue.record("no order leaves \(final)")
                continue
            }
            #expect(order.last == Int(final) - 1)
        }
        let none = Linearizer().check(events, from: try Self.model(), mayFailAllocation: false) { m, _ in
            m.state(of: 0)?.pages[Self.base]?.word0 == 3
        }
        #expect(!Self.linearizable(none))
    }

    @Test func aFaultMayOutliveTheAccessThatLostTheRace() throws {
        // The store faulted the page in, then mprotect took write away
        // and the retried store got SIGSEGV: the page stays, zero.
        let events = [
            HistoryEvent(call: .store(cpu: 0, mm: 0, addr: Self.base, value: 5), outcome: .segv, start: 1, end: 20),
            HistoryEvent(call: .mprotect(cpu: 1, mm: 0, addr: Self.base, length: 4 * Self.page, prot: 1),
                         outcome: .ok, start: 5, end: 9),
        ]
        let verdict = Linearizer().check(events, from: try Self.model(), mayFailAllocation: false) { m, _ in
            m.state(of: 0)?.pages[Self.base]?.word0 == 0
        }
        #expect(Self.linearizable(verdict))
    }

    @Test func dontneedZapsPageByPage() throws {
        // MADV_DONTNEED over two pages while another CPU stores to both:
        // the first store's page survives (the zap had passed it), the
        // second's does not.  No single point of the madvise explains it.
        let events = [
            HistoryEvent(call: .madvise(cpu: 1, mm: 0, addr: Self.base, length: 2 * Self.page, advice: 4),
                         outcome: .ok, start: 1, end: 50),
            HistoryEvent(call: .store(cpu: 0, mm: 0, addr: Self.base, value: 1), outcome: .value(1), start: 10, end: 12),
            HistoryEvent(call: .store(cpu: 0, mm: 0, addr: Self.base + Self.page, value: 2), outcome: .value(2),
                         start: 13, end: 15),
        ]
        let verdict = Linearizer().check(events, from: try Self.model(), mayFailAllocation: false) { m, _ in
            let pages = m.state(of: 0)?.pages ?? [:]
            return pages[Self.base]?.word0 == 1 && pages[Self.base + Self.page] == nil
        }
        #expect(Self.linearizable(verdict))
    }

    @Test func aStoreIntoAPageOnItsWayOutMayBeLost() throws {
        // The page holds 9.  MADV_DONTNEED clears its pte; CPU 1 faults in
        // a fresh page and stores 1; CPU 0, still holding the old entry,
        // stores 2 into the old page, which the flush then frees.  CPU 0's
        // store returned after CPU 1's, yet the page ends with 1.
        var m = try Self.model()
        try m.apply(.store(cpu: 0, mm: 0, addr: Self.base, value: 9), outcome: .value(9), mayFailAllocation: false)
        let events = [
            HistoryEvent(call: .madvise(cpu: 2, mm: 0, addr: Self.base, length: Self.page, advice: 4),
                         outcome: .ok, start: 1, end: 30),
            HistoryEvent(call: .store(cpu: 1, mm: 0, addr: Self.base, value: 1), outcome: .value(1), start: 3, end: 5),
            HistoryEvent(call: .store(cpu: 0, mm: 0, addr: Self.base, value: 2), outcome: .value(2), start: 10, end: 12),
        ]
        let verdict = Linearizer().check(events, from: m, mayFailAllocation: false) { m, _ in
            m.state(of: 0)?.pages[Self.base]?.word0 == 1
        }
        #expect(Self.linearizable(verdict))
        // Without a call freeing the page there is nothing to lose it to.
        let plain = Array(events.dropFirst())
        let none = Linearizer().check(plain, from: m, mayFailAllocation: false) { m, _ in
            m.state(of: 0)?.pages[Self.base]?.word0 == 1
        }
        #expect(!Self.linearizable(none))
    }

    /// ../shared/findings/dontneed-over-hole-linearizability.json, by
    /// hand: the page at `base` holds 1; a MADV_DONTNEED of it runs from
    /// 1 to 30; a store into the page (8 to 20) faults a new page in
    /// after the zap; a load on a third CPU (27 to 28), after the store
    /// returned, still reads 1 through its TLB entry for the old page,
    /// which the zap has not flushed yet.
    static func staleRead(load value: UInt64, zapEnds end: UInt64) -> [HistoryEvent] {
        [
            HistoryEvent(call: .madvise(cpu: 1, mm: 0, addr: base, length: 2 * page, advice: 4),
                         outcome: .ok, start: 1, end: end),
            HistoryEvent(call: .store(cpu: 0, mm: 0, addr: base + 0xaa0, value: 1), outcome: .value(1),
                         start: 8, end: 20),
            HistoryEvent(call: .load(cpu: 2, mm: 0, addr: base), outcome: .value(value), start: 27, end: 28),
        ]
    }

    static func checkStaleRead(_ events: [HistoryEvent]) throws -> Linearizer.Verdict {
        var m = try model()
        try m.apply(.store(cpu: 2, mm: 0, addr: base, value: 1), outcome: .value(1), mayFailAllocation: false)
        // The machine ends with the new page: word 0 is 0, 0xaa0 holds 1.
        return Linearizer().check(events, from: m, mayFailAllocation: false) { m, _ in
            m.state(of: 0)?.pages[Self.base]?.word0 == 0
        }
    }

    @Test func aLoadMayReadThePageAZapTookAwayUntilTheZapReturns() throws {
        #expect(Self.linearizable(try Self.checkStaleRead(Self.staleRead(load: 1, zapEnds: 30))))
    }

    @Test func aStaleReadNeedsTheValueTheOldPageHeld() throws {
        #expect(!Self.linearizable(try Self.checkStaleRead(Self.staleRead(load: 9, zapEnds: 30))))
    }

    @Test func aStaleReadAfterTheZapReturnedIsRefused() throws {
        // The MADV_DONTNEED flushed before it returned at 26: the load
        // began after, so no TLB could still hold the old page.
        #expect(!Self.linearizable(try Self.checkStaleRead(Self.staleRead(load: 1, zapEnds: 26))))
    }

    @Test func aSearchThatRunsOutOfBudgetSaysSo() throws {
        // Eight overlapping stores and a final state no order reaches.
        var events: [HistoryEvent] = []
        for i in 0 ..< 8 {
            let value = UInt64(i + 1)
            let addr = Self.base + UInt64(i % 4) * Self.page
            let call = Call.store(cpu: i % 4, mm: 0, addr: addr, value: value)
            events.append(HistoryEvent(call: call, outcome: .value(value), start: UInt64(i), end: 100))
        }
        let verdict = Linearizer(budget: 50).check(events, from: try Self.model(), mayFailAllocation: false) { _, _ in
            false
        }
        guard case .undecided(let explored, _, _) = verdict else {
            Issue.record("expected the budget to run out, got \(verdict)")
            return
        }
        #expect(explored >= 50)
    }
}
