import CMMSim
import Foundation
import MMSim
import Testing

/// The counters come from C's one list, MMSIM_COUNTERS(): Swift, the JSON
/// and the tables restate none of it.
@Suite struct StatsTests {
    @Test func everyCounterOfTheCListIsKnown() {
        #expect(Stats.all.count == Int(MMSIM_NR_COUNTERS))
        #expect(Stats.all.map(\.index) == Array(0..<Stats.all.count))
        #expect(Set(Stats.all.map(\.name)).count == Stats.all.count, "names are unique")
        for c in Stats.all {
            #expect(!c.description.isEmpty, "\(c.name) has a description")
            #expect(c.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "\(c.name)")
            #expect(Stats.counter(named: c.name) == c)
            #expect(Stats.counter(named: c.memberName) == c)
        }
        var info = mmsim_counter_info()
        #expect(mmsim_counter_info(UInt32(MMSIM_NR_COUNTERS), &info) == -EINVAL)
    }

    @Test func kindsAreTheCList() {
        #expect(Stats.counter(named: "faults")?.kind == .event)
        #expect(Stats.counter(named: "max_preempt_off_ptes")?.kind == .peak)
        #expect(Stats.counter(named: "frames_used_now")?.kind == .gauge)
        #expect(Stats.counter(named: "ipis_lazy")?.memberName == "ipisLazy")
    }

    @Test func aMisspeltNameIsNoCounter() {
        #expect(Stats.counter(named: "ipiz") == nil)
        #expect(Stats.counter(named: "ipisLAZY") == nil)
        #expect(Stats.counter(named: "") == nil)
    }

    /// Reading a counter the C list does not have stops the program; it
    /// never reads as 0.
    @Test func readingAMisspeltCounterTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = Stats().ipiz
        }
        await #expect(processExitsWith: .failure) {
            _ = Stats()["ipis-lazy"]
        }
    }

    /// The kernel counts, the wrapper reads the same value under every
    /// spelling.
    @Test func countsWhatTheKernelDid() throws {
        let m = try makeMachine()
        let mm = try m.newMM()
        let before = m.stats
        let addr = try mapAnon(m, mm: mm, pages: 2)
        try put(m, cpu: 0, mm: mm, addr, 1)
        try put(m, cpu: 1, mm: mm, addr + page, 2)
        let after = m.stats
        #expect(after.faults - before.faults == 2)
        #expect(after["faults"] == after.faults)
        #expect(after[Stats.counter(named: "faults")!] == after.faults)
        #expect(after.framesUsedNow > before.framesUsedNow)
        for c in Stats.all {
            #expect(after[c.name] == after.values[c.index])
            #expect(after[c.memberName] == after.values[c.index])
        }
        try expectNoLeaks(m, exiting: [mm])
    }

    /// Every counter is a key of the JSON, under its C name, and the JSON
    /// reads back to the same counters.
    @Test func roundTripsThroughJSON() throws {
        let m = try makeMachine(variant: Variant(gather: .vector, ptl: .mm, preempt: true))
        let mm = try m.newMM()
        let addr = try mapAnon(m, mm: mm, pages: 16)
        for p in 0..<16 {
            try put(m, cpu: p % 4, mm: mm, addr + UInt64(p) * page, UInt64(p))
        }
        try m.munmap(cpu: 0, mm: mm, addr: addr, length: 16 * page)
        let stats = m.stats
        #expect(stats.values.filter { $0 != 0 }.count > 5)

        let data = try JSONEncoder().encode(stats)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == Set(Stats.all.map(\.name)))
        #expect(object["faults"] as? UInt64 == stats.faults)
        #expect(try JSONDecoder().decode(Stats.self, from: data) == stats)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test func decodingAnUnknownCounterFails() {
        let json = Data(#"{"faults": 3, "faultz": 4}"#.utf8)
        #expect(throws: Stats.UnknownCounter.self) {
            try JSONDecoder().decode(Stats.self, from: json)
        }
        let old = Data(#"{"faults": 3}"#.utf8)
        #expect((try? JSONDecoder().decode(Stats.self, from: old))?.faults == 3)
    }

    @Test func accumulateAddsEventsAndKeepsPeaks() {
        var a = Stats(), b = Stats()
        a.faults = 2
        b.faults = 3
        a.maxPreemptOffPtes = 64
        b.maxPreemptOffPtes = 8
        b.slabObjectsNow = 5
        a.accumulate(b)
        #expect(a.faults == 5)
        #expect(a.maxPreemptOffPtes == 64)
        #expect(a.slabObjectsNow == 5)
    }
}
