import Foundation
import MMFuzz
import MMSim
import Testing

/// The byte form of a case (the libFuzzer target's input): every byte
/// string decodes to a case the engine runs, and every case a reproducer
/// or the generator makes comes back from its bytes exactly.
@Suite struct ByteCaseTests {
    static func same(_ a: FuzzCase, _ b: FuzzCase) -> Bool {
        a.config == b.config && a.variant == b.variant && a.ops == b.ops
    }

    /// The regression reproducers (the libFuzzer seed corpus) and the
    /// mutation check's.
    static let reproducers: [URL] = {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return ["MMFuzzTests/Regressions", "mutants/reproducers"].flatMap { sub in
            let dir = tests.appendingPathComponent(sub)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            return names.filter { $0.hasSuffix(".json") }.sorted().map { dir.appendingPathComponent($0) }
        }
    }()

    @Test func everyReproducerRoundTrips() throws {
        #expect(Self.reproducers.count >= 60)
        for file in Self.reproducers {
            let c = try Reproducer.load(path: file.path).fuzzCase()
            let bytes = try ByteCase.encode(c)
            let back = ByteCase.decode(bytes)
            #expect(Self.same(c, back), "\(file.lastPathComponent) changed through its \(bytes.count) bytes")
        }
    }

    /// fuzz/corpus, the libFuzzer seed corpus, is the regressions as
    /// bytes (`mmfuzz convert --to-bytes Tests/MMFuzzTests/Regressions -o
    /// fuzz/corpus` remakes it): one input each, naming the same case.
    @Test func seedCorpusIsTheRegressions() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let corpus = root.appendingPathComponent("fuzz/corpus")
        let regressions = Self.reproducers.filter { $0.path.contains("/MMFuzzTests/Regressions/") }
        let inputs = try FileManager.default.contentsOfDirectory(atPath: corpus.path).filter { $0.hasSuffix(".bin") }
        #expect(inputs.sorted() == regressions.map { $0.deletingPathExtension().lastPathComponent + ".bin" }.sorted())
        for file in regressions {
            let input = corpus.appendingPathComponent(file.deletingPathExtension().lastPathComponent + ".bin")
            let c = try Reproducer.load(path: file.path).fuzzCase()
            let decoded = ByteCase.decode(try Data(contentsOf: input))
            #expect(Self.same(c, decoded), "\(input.lastPathComponent) is not \(file.lastPathComponent)")
        }
    }

    @Test(arguments: GeneratorSettings.Concurrency.allCases)
    func generatedCasesRoundTrip(concurrency: GeneratorSettings.Concurrency) throws {
        let generator = CaseGenerator(settings: GeneratorSettings(concurrency: concurrency))
        var batches = 0
        for seed in UInt64(0) ..< 60 {
            let variant = Variant.allCombinations[Int(seed) % Variant.allCombinations.count]
            let c = generator.generate(seed: seed, variant: variant)
            batches += c.ops.filter { $0.kind == .parallel }.count
            let back = ByteCase.decode(try ByteCase.encode(c))
            #expect(Self.same(c, back), "seed \(seed) on \(variant.name)")
        }
        #expect((batches > 0) == (concurrency != .off))
    }

    /// Random byte strings: each decodes to a valid case that runs clean
    /// on the unmutated kernel, and decoding is canonical (the case's own
    /// bytes name it again).
    @Test func anyBytesDecodeToARunnableCase() throws {
        var rng = Xoshiro256(seed: 0x6279_7465)
        var ran = 0, calls = 0
        for _ in 0 ..< 300 {
            let n = rng.int(0 ... 400)
            let bytes = (0 ..< n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let c = ByteCase.decode(bytes)
            #expect(throws: Never.self) { try Reproducer(fuzzCase: c, failure: nil).validate() }
            #expect(Self.same(ByteCase.decode(try ByteCase.encode(c)), c))
            let result = CaseRunner.run(c)
            if let failure = result.failure {
                Issue.record("\(bytes.count) bytes fail: \(failure)")
            }
            ran += 1
            calls += result.ops
        }
        #expect(ran == 300 && calls > 1000)
    }

    @Test func emptyInputIsTheFirstVariantDoingNothing() {
        let c = ByteCase.decode([UInt8]())
        #expect(c.variant == Variant.allCombinations[0])
        #expect(c.ops.isEmpty)
        #expect(CaseRunner.run(c).failure == nil)
    }

    /// The first byte chooses the variant; a mutation of one argument
    /// byte changes that op alone.
    @Test func firstByteChoosesTheVariantAndOpsAreLocal() throws {
        let c = CaseGenerator(settings: GeneratorSettings(concurrency: .off))
            .generate(seed: 7, variant: .baseline)
        var bytes = try ByteCase.encode(c)
        for i in Variant.allCombinations.indices {
            bytes[0] = UInt8(i)
            #expect(ByteCase.decode(bytes).variant == Variant.allCombinations[i])
        }
        bytes[0] = 0
        // The last op is a store, load or the like; its last byte is its
        // last argument's: changing it changes nothing before it.
        var mutated = bytes
        mutated[mutated.count - 1] ^= 0x01
        let a = ByteCase.decode(bytes).ops, b = ByteCase.decode(mutated).ops
        #expect(a.count == b.count)
        #expect(a.dropLast() == b.dropLast())
    }

    @Test func whatTheFormatCannotHoldIsAnError() {
        var c = FuzzCase(config: CaseConfig(cpus: 2, frames: 64), variant: .baseline, seed: 0,
                         ops: [.newMM, .load(cpu: 300, slot: 0, addr: 0x1000)])
        #expect(throws: ByteCaseError.self) { try ByteCase.encode(c) }
        c.ops = [.newMM]
        c.config.frames = 1 << 20
        #expect(throws: ByteCaseError.self) { try ByteCase.encode(c) }
    }
}
