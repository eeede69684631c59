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
