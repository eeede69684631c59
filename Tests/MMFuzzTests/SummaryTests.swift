import MMFuzz
import MMSim
import Testing

/// The run summary (its text and its JSON's "events") lists the counters of
/// C's one list, whatever they are.
@Suite struct SummaryTests {
    /// Every counter set to a distinct value.
    func distinct(_ base: UInt64) -> Stats {
        var s = Stats()
        for c in Stats.all {
            s[c] = base + UInt64(c.index)
        }
        return s
    }

    @Test func everyEventAndPeakCounterIsARow() {
        var totals = EventTotals()
        totals.add(distinct(100), OutcomeTally())
        totals.add(distinct(1000), OutcomeTally())
        let rows = Dictionary(uniqueKeysWithValues: totals.rows.map { ($0.key, $0) })
        for c in Stats.all {
            switch c.kind {
            case .event:
                #expect(rows[c.name]?.count == 1100 + 2 * UInt64(c.index), "\(c.name)")
                #expect(rows[c.name]?.label == c.description)
            case .peak:
                #expect(rows[c.name]?.count == 1000 + UInt64(c.index), "\(c.name)")
            case .gauge:
                #expect(rows[c.name] == nil, "\(c.name): a gauge after exit says nothing")
            }
        }
        #expect(rows["segv"] != nil)
    }
}

/// The run's last line and JSON count what reclaim and shared tables did.
@Suite struct ReclaimSummaryTests {
    @Test func theFiguresAreTheirCounters() {
        var s = Stats()
        s.pagesReclaimed = 120
        s.swapIns = 40
        s.ptablesShared = 9
        s.ptablesUnshared = 7
        s.sharedFlushes = 3
        var totals = EventTotals()
        totals.add(s, OutcomeTally())
        totals.add(s, OutcomeTally())
        let f = totals.reclaimAndSharing
        #expect(f == ReclaimFigures(pagesReclaimed: 240, swapIns: 80, tablesShared: 18, tablesUnshared: 14,
                                    sharedFlushes: 6))
        #expect(f.line == "reclaimed 240, swapped in 80, tables shared 18 unshared 14, shared flushes 6")
        // Still rows of the events, like every counter.
        let rows = Dictionary(uniqueKeysWithValues: totals.rows.map { ($0.key, $0.count) })
        #expect(rows["pages_reclaimed"] == 240 && rows["shared_flushes"] == 6)
        #expect(rows["adoptedDrops"] == 0)
    }
}

/// The run's last line and JSON count what transparent huge pages did.
@Suite struct HugeSummaryTests {
    @Test func theFiguresAreTheirCounters() {
        var s = Stats()
        s.thpFaults = 12
        s.thpSplits = 5
        s.thpZapsVector = 3
        s.thpZapsInplace = 4
        s.thpFallbacks = 2
        var tally = OutcomeTally()
        tally.adoptedHugePages = 11
        var totals = EventTotals()
        totals.add(s, tally)
        totals.add(s, tally)
        let f = totals.hugePages
        #expect(f == HugeFigures(faults: 24, splits: 10, zapsVector: 6, zapsInplace: 8, fallbacks: 4))
        #expect(f.line == "huge faults 24, splits 10, huge zaps 6 vector 8 inplace, fallbacks 4")
        let rows = Dictionary(uniqueKeysWithValues: totals.rows.map { ($0.key, $0.count) })
        #expect(rows["thp_faults"] == 24 && rows["thp_fallbacks"] == 4 && rows["thp_splits"] == 10)
        #expect(rows["adoptedHugePages"] == 22)
        // thp_now is a gauge: after every mm exited it says nothing.
        #expect(rows["thp_now"] == nil)
    }
}
