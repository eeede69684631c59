import Foundation
import MMSim
import Testing

/// The Swift side alone: values, parsing, printing.
@Suite struct VariantSpecTests {
    @Test(arguments: [
        ("gather=vector,ptl=mm,preempt=on", Variant(gather: .vector, ptl: .mm, preempt: true)),
        ("preempt=on,ptl=split,gather=inplace", Variant(gather: .inplace, ptl: .split, preempt: true)),
        ("ptl=split", Variant(gather: .vector, ptl: .split, preempt: false)),
        ("gather=inplace", Variant(gather: .inplace, ptl: .mm, preempt: false)),
        (" Gather = InPlace , PREEMPT=off ", Variant(gather: .inplace, ptl: .mm, preempt: false)),
        // The sharing keys: missing ones default to share=off, sharemask=all.
        ("ptl=split,share=fork", Variant(gather: .vector, ptl: .split, preempt: false, share: .fork)),
        ("share=fork,ptl=split,sharemask=precise,preempt=on",
         Variant(gather: .vector, ptl: .split, preempt: true, share: .fork, sharemask: .precise)),
        ("share=off", Variant.baseline),
        ("share=off,sharemask=all,ptl=mm", Variant.baseline),
    ])
    func parses(spec: String, expected: Variant) throws {
        #expect(try Variant(parsing: spec) == expected)
    }

    @Test func baselineIsLinux2616() {
        #expect(Variant.baseline == Variant(gather: .vector, ptl: .mm, preempt: false))
        #expect(Variant.baseline.description == "gather=vector,ptl=mm,preempt=off")
    }

    @Test(arguments: Variant.allCombinations)
    func printsWhatItParses(variant: Variant) throws {
        #expect(try Variant(parsing: variant.description) == variant)
    }

    @Test func allCombinationsAreDistinct() {
        #expect(Variant.allCombinations.count == 16)
        #expect(Set(Variant.allCombinations).count == 16)
        #expect(Variant.allCombinations.first == .baseline)
        // The 8 without sharing first, as before; then share=fork with
        // ptl=split across gather, preempt and sharemask.
        #expect(Variant.allCombinations.prefix(8).allSatisfy { $0.share == .off && $0.sharemask == .all })
        let shared = Variant.allCombinations.dropFirst(8)
        #expect(shared.allSatisfy { $0.share == .fork && $0.ptl == .split })
        #expect(Set(shared.map(\.sharemask)) == [.all, .precise])
        #expect(Variant.allCombinations.allSatisfy { $0.incoherence == nil })
    }

    /// Specs written before the sharing keys existed print as they did, so
    /// that old reproducers re-encode byte for byte.
    @Test func theSharingKeysAppearOnlyWhenTablesAreShared() throws {
        for v in Variant.allCombinations.prefix(8) {
            #expect(!v.description.contains("share"), "\(v)")
        }
        let v = Variant(gather: .inplace, ptl: .split, preempt: true, share: .fork, sharemask: .precise)
        #expect(v.description == "gather=inplace,ptl=split,preempt=on,share=fork,sharemask=precise")
        #expect(Variant(gather: .vector, ptl: .split, preempt: false, share: .fork).description
                == "gather=vector,ptl=split,preempt=off,share=fork,sharemask=all")
        // JSON likewise: no sharing keys for the old variants, and old
        // JSON without them reads back.
        let old = try JSONEncoder().encode(Variant.baseline)
        #expect(!String(decoding: old, as: UTF8.self).contains("share"))
        #expect(try JSONDecoder().decode(Variant.self, from: Data(#"{"gather":"vector","ptl":"mm","preempt":true}"#.utf8))
                == Variant(gather: .vector, ptl: .mm, preempt: true))
        #expect(try JSONDecoder().decode(Variant.self, from: try JSONEncoder().encode(v)) == v)
        var config = MachineConfig.default(variant: v)
        #expect(try JSONDecoder().decode(MachineConfig.self, from: try JSONEncoder().encode(config)) == config)
        config.variant = .baseline
        #expect(!String(decoding: try JSONEncoder().encode(config), as: UTF8.self).contains("share"))
    }

    /// The machine boots every combination; share=fork without the split
    /// lock is refused by the kernel as by the spec.
    @Test func theKernelAgreesOnWhatRuns() throws {
        for v in Variant.allCombinations {
            #expect(throws: Never.self, "\(v)") { _ = try Machine(.default(variant: v)) }
        }
        var bad = MachineConfig.default(variant: .baseline)
        bad.share = .fork
        #expect(throws: Errno.EINVAL) { _ = try Machine(bad) }
    }

    @Test(arguments: [
        ("foo=1", "unknown key 'foo'"),
        ("gather=list", "unknown gather 'list'"),
        ("ptl=page", "unknown ptl 'page'"),
        ("preempt=maybe", "unknown preempt 'maybe'"),
        ("gather", "'gather' is not key=value"),
        ("=vector", "'=vector' is not key=value"),
        ("gather=vector,", "'' is not key=value"),
        ("gather=vector,gather=inplace", "key 'gather' given twice"),
        ("share=yes", "unknown share 'yes'"),
        ("ptl=split,share=fork,sharemask=some", "unknown sharemask 'some'"),
        // The sharers' own page_table_locks cannot serialise a shared table.
        ("share=fork", "share=fork needs ptl=split"),
        ("ptl=mm,share=fork,sharemask=precise", "share=fork needs ptl=split"),
        ("sharemask=precise", "sharemask=precise needs share=fork"),
        ("share=fork,ptl=split,share=off", "key 'share' given twice"),
        // An empty spec once meant the baseline, silently.
        ("", "empty spec"),
        ("  ", "empty spec"),
    ])
    func rejects(spec: String, reason: String) {
        #expect {
            _ = try Variant(parsing: spec)
        } throws: { error in
            guard let error = error as? VariantSpecError else { return false }
            return error.reason.contains(reason) && error.description.contains("'\(spec)'")
        }
    }
}

@Suite struct ValueTests {
    @Test func linuxValues() {
        #expect(Prot.read.rawValue == 1 && Prot.write.rawValue == 2 && Prot.exec.rawValue == 4)
        #expect(Prot.none.rawValue == 0)
        #expect(MapFlags.shared.rawValue == 0x01 && MapFlags.private.rawValue == 0x02)
        #expect(MapFlags.fixed.rawValue == 0x10 && MapFlags.anonymous.rawValue == 0x20)
        #expect(Advice.dontneed.rawValue == 4)
        #expect(Machine.taskSize == 0x7fff_ffff_f000)
        #expect(Machine.pageSize == 4096)
    }

    @Test func descriptions() {
        #expect(Prot.readWrite.description == "rw-")
        #expect(Prot(rawValue: 0x15).description == "r-x+0x10")
        #expect(MapFlags.anonymousPrivate.description == "MAP_PRIVATE|MAP_ANONYMOUS")
        #expect(MapFlags(rawValue: 0x4000_0001).description == "MAP_SHARED|0x40000000")
        #expect(Errno.EINVAL.description == "EINVAL (Invalid argument)")
        #expect(Errno.ENOMEM.name == "ENOMEM")
        #expect(Errno(rawValue: 4095).name == "errno 4095")
        #expect(AccessResult.ok(0x10).description == "ok(0x10)")
        #expect(VMAInfo(start: 0x1000, end: 0x3000, prot: .read, shared: true).description
                == "0x1000-0x3000 r--s")
        let v = Violation(kind: .freeWhileCached, cpu: 2, addr: 0x1000, pfn: 17,
                          function: "free_pages", message: "cached by cpu 1")
        #expect(v.description == "free-while-cached cpu 2 addr 0x1000 pfn 17 in free_pages: cached by cpu 1")
    }

    @Test func defaultConfigMatchesTheHeader() {
        let config = MachineConfig.default
        #expect(config.cpus == 4)
        #expect(config.frames == 4096)
        #expect(config.tlbEntries == 64)
    }

    @Test func configRoundTripsThroughJSON() throws {
        var config = MachineConfig.default
        config.variant = Variant(gather: .inplace, ptl: .split, preempt: true)
        let data = try JSONEncoder().encode(config)
        #expect(try JSONDecoder().decode(MachineConfig.self, from: data) == config)
        let stats = Stats()
        #expect(try JSONDecoder().decode(Stats.self, from: JSONEncoder().encode(stats)) == stats)
        // Every stored counter is in the table, once (StatsTests checks
        // the list against C's).
        #expect(stats.counters.count == stats.values.count)
        #expect(Set(stats.counters.map(\.name)).count == stats.values.count)
    }
}
