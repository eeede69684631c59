import Foundation
import MMFuzz
import MMSim
import Testing

/// Reproducer files as a user hands them over: versions, and input that
/// must be refused with a message saying what is wrong and where.
@Suite struct ReproducerInputTests {
    /// A small valid reproducer, with `variant`, `seed`, the second op's
    /// slot and the version line as given (by default version 1, which
    /// every mmfuzz reads: the defects below are about its fields).
    static func text(variant: String = "gather=vector,ptl=mm,preempt=off",
                     seed: String = "7", slot: String = "0",
                     version: String? = "\"version\": 1,") -> String {
        """
        {
          \(version ?? "")
          "config": {"cpus": 2, "frames": 4096, "tlb": 64, "psc": 16},
          "variant": "\(variant)",
          "seed": \(seed),
          "ops": [
            {"op": "newMM"},
            {"op": "mmap", "cpu": 0, "mm": \(slot), "addr": "0x40000000", "length": "0x2000", "prot": 3, "flags": "0x32"},
            {"op": "store", "cpu": 1, "mm": 0, "addr": "0x40000000", "value": "0x1"}
          ]
        }
        """
    }

    static func decode(_ text: String) throws(ReproducerError) -> Reproducer {
        try Reproducer.decode(Data(text.utf8))
    }

    static func reason(_ text: String) -> String? {
        do {
            _ = try decode(text)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func readsVersionsOneAndTwoAndNone() throws {
        #expect(try Self.decode(Self.text(version: "\"version\": 2,")).version == 2)
        #expect(try Self.decode(Self.text()).version == 1)
        // A file without a version is version 1.
        #expect(try Self.decode(Self.text(version: nil)).version == 1)
        #expect(Self.reason(Self.text(version: "\"version\": 3,"))?.contains("unsupported version 3") == true)
    }

    @Test func writesTheCurrentVersionAndReadsItBack() throws {
        let r = try Self.decode(Self.text(version: nil))
        var copy = r
        copy.version = Reproducer.currentVersion
        let again = try Self.decode(copy.encoded())
        #expect(again.version == Reproducer.currentVersion)
        #expect(again.ops == r.ops)
        #expect(copy.encoded().contains("\"version\": \(Reproducer.currentVersion)"))
    }

    /// `"variant": ""` once replayed on the baseline, silently.
    @Test func refusesAnEmptyVariant() {
        let reason = Self.reason(Self.text(variant: ""))
        #expect(reason?.contains("variant") == true, "\(reason ?? "accepted")")
        #expect(reason?.contains("empty") == true, "\(reason ?? "accepted")")
    }

    /// `"mm": 99` once replayed on `live[99 % live.count]`.  (The rule is
    /// one generated cases keep: see `EngineTests`' `fileRoundTrip` and
    /// `slotsStayWithinTheRule` below.)
    @Test func refusesASlotNamingNoMMOfTheCase() {
        let reason = Self.reason(Self.text(slot: "99"))
        #expect(reason?.contains("op 1") == true, "\(reason ?? "accepted")")
        #expect(reason?.contains("mm 99") == true, "\(reason ?? "accepted")")
        // Slots the generator draws (aliasing modulo the live mms) stay.
        #expect(Self.reason(Self.text(slot: "\(Op.aliasingSlots - 1)")) == nil)
        #expect(Self.reason(Self.text(slot: "\(Op.aliasingSlots)"))?.contains("op 1") == true)
    }

    @Test func generatedCasesKeepTheSlotRule() throws {
        let generator = CaseGenerator(settings: GeneratorSettings())
        for seed in 0 ..< 300 {
            let c = generator.generate(seed: UInt64(seed), variant: .baseline)
            var r = Reproducer(fuzzCase: c, failure: nil)
            r.version = Reproducer.currentVersion
            #expect(throws: Never.self, "seed \(seed)") { try r.validate() }
        }
    }

    @Test func keepsNegativeSlots() throws {
        // A negative slot names an id nobody uses: a bad call on purpose.
        let r = try Self.decode(Self.text(slot: "-3"))
        #expect(r.ops[1].slot == -3)
        #expect(CaseRunner.run(try r.fuzzCase()).failure == nil)
    }

    /// An out-of-range seed was reported as "not valid JSON".
    @Test(arguments: ["-1", "18446744073709551616", "1.5", "\"x\""])
    func saysWhatIsWrongWithTheSeed(seed: String) {
        let reason = Self.reason(Self.text(seed: seed)) ?? "accepted"
        #expect(!reason.contains("invalid JSON"), "\(reason)")
        #expect(reason.contains("seed"), "\(reason)")
        #expect(reason.contains(seed.replacingOccurrences(of: "\"", with: "")), "\(reason)")
    }

    @Test func namesTheOpOfABadField() {
        let bad = Self.text().replacingOccurrences(of: "\"length\": \"0x2000\"", with: "\"length\": \"lots\"")
        let reason = Self.reason(bad) ?? "accepted"
        #expect(reason.contains("ops[1]") && reason.contains("length") && reason.contains("lots"), "\(reason)")
    }

    @Test func stillCallsBrokenJSONInvalid() {
        let reason = Self.reason("{\"version\": 2,") ?? "accepted"
        #expect(reason.contains("invalid JSON"), "\(reason)")
    }
}

/// The mutation check's reproducers (Tests/mutants/reproducers): each was
/// shrunk on a mutated kernel; on the clean tree each must decode (an old
/// format included) and replay clean.
@Suite struct MutantReproducerTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("mutants/reproducers")

    static let files: [URL] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().map { directory.appendingPathComponent($0) }
    }()

    @Test func directoryHasThem() {
        #expect(Self.files.count >= 25, "\(Self.directory.path)")
    }

    @Test(arguments: files)
    func replaysClean(file: URL) throws {
        let repro = try Reproducer.load(path: file.path)
        #expect(repro.failure != nil, "saved without the failure it found")
        let result = CaseRunner.run(try repro.fuzzCase())
        if let failure = result.failure {
            Issue.record("\(file.lastPathComponent) fails on the clean tree: \(failure)")
        }
        // The op format did not change: written again (as the version the
        // file has), the file comes back byte for byte.
        let text = try String(contentsOf: file, encoding: .utf8)
        #expect(repro.encoded() == text)
    }
}
