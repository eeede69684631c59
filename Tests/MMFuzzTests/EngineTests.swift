import Foundation
import MMFuzz
import MMModel
import MMSim
import Testing

/// Every variant the simulator accepts (today the baseline with preempt
/// on and off; later variants join without changes here).
let acceptedVariants: [Variant] = Variant.allCombinations.filter {
    (try? Machine(.default(variant: $0))) != nil
}

@Suite struct GeneratorTests {
    let generator = CaseGenerator(settings: GeneratorSettings())

    @Test func sameSeedSameCase() {
        for seed: UInt64 in [0, 1, 42, 0xdead_beef, .max] {
            let a = generator.generate(seed: seed, variant: .baseline)
            let b = generator.generate(seed: seed, variant: .baseline)
            #expect(a == b)
        }
    }

    @Test func differentSeedsDiffer() {
        let cases = (0 ..< 20).map { generator.generate(seed: UInt64($0), variant: .baseline) }
        #expect(Set(cases.map(\.ops)).count == 20)
    }

    @Test func sessionSeedsAreFixed() {
        // Reproducers name case seeds; their derivation must not change.
        #expect(caseSeed(session: 1, index: 0) == caseSeed(session: 1, index: 0))
        #expect(caseSeed(session: 1, index: 0) != caseSeed(session: 1, index: 1))
        #expect(caseSeed(session: 1, index: 0) != caseSeed(session: 2, index: 0))
        var x = Xoshiro256(seed: 1)
        // xoshiro256** seeded by SplitMix64(1): a fixed stream.
        let first = (0 ..< 3).map { _ in x.next() }
        var y = Xoshiro256(seed: 1)
        #expect(first == (0 ..< 3).map { _ in y.next() })
    }

    @Test func casesHaveTheRightShape() {
        var kinds: Set<OpKind> = []
        var hardware: Set<CaseConfig> = []
        for seed in 0 ..< 400 {
            let c = generator.generate(seed: UInt64(seed), variant: .baseline)
            #expect((50 ... 300).contains(c.ops.count))
            #expect(c.ops.first == .newMM)
            #expect((1 ... 4).contains(c.config.cpus))
            kinds.formUnion(c.ops.map(\.kind))
            hardware.insert(c.config)
        }
        #expect(kinds == Set(OpKind.allCases))
        // Some cases on one CPU, some on a small machine.
        #expect(hardware.contains { $0.cpus == 1 })
        #expect(hardware.contains { $0.frames < 4096 })
    }

    @Test func swarmTurnsKindsOff() {
        let counts = (0 ..< 50).map { seed in
            Set(generator.generate(seed: UInt64(seed), variant: .baseline).ops.map(\.kind)).count
        }
        #expect(counts.contains { $0 < OpKind.allCases.count - 2 })
    }

    @Test func addressesClusterAtTableBoundaries() {
        // Most ranges lie within 64 pages of a pmd boundary.
        var near = 0, total = 0
        for seed in 0 ..< 100 {
            for op in generator.generate(seed: UInt64(seed), variant: .baseline).ops {
                guard case .call(_, _, .mmap(let addr, _, _, let flags)) = op, flags.contains(.fixed) else { continue }
                total += 1
                let offset = addr % (1 << 21)
                if offset < 64 * 4096 || offset > (1 << 21) - 64 * 4096 { near += 1 }
            }
        }
        #expect(total > 100)
        #expect(Double(near) / Double(total) > 0.6)
    }

    /// Corners aimed at for the kernel's coverage (README, "What the
    /// fuzzer reaches"): mappings in the first 2 MiB of user space, where
    /// free_pgd_range()'s ceiling rounds down to 0, and, among the bad
    /// calls, mmaps without MAP_FIXED longer than the room above
    /// TASK_UNMAPPED_BASE (get_unmapped_area() finds none).
    @Test func mapsTheBottomOfUserSpaceAndRunsOutOfRoom() {
        var bottom = 0, noRoom = 0
        let room = Machine.taskSize - Model.unmappedBase
        for seed in 0 ..< 300 {
            for op in generator.generate(seed: UInt64(seed), variant: .baseline).ops {
                guard case .call(_, _, .mmap(let addr, let length, _, let flags)) = op else { continue }
                if flags.contains(.fixed), addr < 1 << 21 { bottom += 1 }
                if !flags.contains(.fixed), addr == 0, length > room, length <= Machine.taskSize { noRoom += 1 }
            }
        }
        #expect(bottom > 20)
        #expect(noRoom > 3)
    }

    /// On variants whose fork shares pte tables, about one race case in
    /// five races a munmap of a shared table's whole 2 MiB in one mm
    /// against an unshare in another; never on the others.
    @Test func raceCasesOnASharedTable() {
        let races = RaceGenerator(settings: GeneratorSettings())
        func racesOnATable(_ c: FuzzCase) -> Bool {
            guard case .parallel(let b)? = c.ops.last, case .call(_, let leaver?, .munmap(let a, let l))? = b.ops.first
            else { return false }
            let table = (a + (1 << 21) - 1) & ~((1 << 21) - 1)
            return table + (1 << 21) <= a + l && b.ops.dropFirst().contains { $0.slot != leaver }
        }
        let sharing = Variant(gather: .inplace, ptl: .split, preempt: true, share: .fork)
        let n = (0 ..< 200).filter { racesOnATable(races.generate(seed: UInt64($0), variant: sharing)) }.count
        #expect(n > 20 && n < 80)
        #expect(!(0 ..< 200).contains { racesOnATable(races.generate(seed: UInt64($0), variant: .baseline)) })
    }
}

@Suite struct ReproducerTests {
    static let ops: [Op] = [
        .newMM, .fork(cpu: 1, slot: 0), .mmGet(slot: -3), .exit(cpu: 9, slot: 2), .exec(cpu: -1, slot: 1),
        .mmap(cpu: 0, slot: 0, addr: 0x4000_0000, length: 0x2001, prot: 7, flags: Int32(bitPattern: 0x8000_0032)),
        .munmap(cpu: 2, slot: 1, addr: .max, length: 0),
        .mprotect(cpu: 3, slot: 0, addr: 0x7fff_ffff_f000, length: 4096, prot: -1),
        .madvise(cpu: 0, slot: 5, addr: 0x1000, length: 0x10000, advice: 4),
        .switchMM(cpu: 1, slot: nil), .switchMM(cpu: 2, slot: -2),
        .load(cpu: 0, slot: 0, addr: 0x4000_0007),
        .store(cpu: 3, slot: 7, addr: 0x4000_0000, value: .max),
        .touch(cpu: 1, slot: 0, addr: 0x4000_0000, pages: 600, value: 0x1234),
        .failNthAlloc(n: 3),
    ]

    @Test func fileRoundTrip() throws {
        let c = FuzzCase(config: CaseConfig(cpus: 3, frames: 128, tlb: 8, psc: 2),
                         variant: Variant(gather: .vector, ptl: .mm, preempt: true),
                         seed: .max, ops: Self.ops)
        let repro = Reproducer(fuzzCase: c, failure: Failure(kind: "violation:leak", message: "a \"quoted\"\nline\u{1}"))
        let text = repro.encoded()
        let back = try Reproducer.decode(Data(text.utf8))
        #expect(back == repro)
        #expect(try back.fuzzCase() == c)
        // Stable: encoding again gives the same bytes.
        #expect(back.encoded() == text)
        // And the first keys come in a fixed order.
        #expect(text.hasPrefix("{\n  \"version\": \(Reproducer.currentVersion),\n  \"config\": "))
    }

    @Test func codableRoundTrip() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(Self.ops)
        #expect(try JSONDecoder().decode([Op].self, from: data) == Self.ops)
    }

    @Test func badFilesAreRefused() {
        let bad = [
            "", "{", "[]", "{\"version\": 1}",
            "{\"version\": 2, \"config\": {\"cpus\": 1, \"frames\": 64, \"tlb\": 64, \"psc\": 16}, \"variant\": \"\", \"seed\": 1, \"ops\": []}",
            "{\"version\": 1, \"config\": {\"cpus\": 1, \"frames\": 64, \"tlb\": 64, \"psc\": 16}, \"variant\": \"\", \"seed\": 1, \"ops\": [{\"op\": \"frobnicate\"}]}",
            "{\"version\": 1, \"config\": {\"cpus\": 1, \"frames\": 64, \"tlb\": 64, \"psc\": 16}, \"variant\": \"\", \"seed\": 1, \"ops\": [{\"op\": \"load\", \"cpu\": 0, \"mm\": 0, \"addr\": \"0xzz\"}]}",
        ]
        for text in bad {
            #expect(throws: ReproducerError.self) { try Reproducer.decode(Data(text.utf8)) }
        }
        let badVariant = "{\"version\": 1, \"config\": {\"cpus\": 1, \"frames\": 64, \"tlb\": 64, \"psc\": 16}, \"variant\": \"gather=nope\", \"seed\": 1, \"ops\": []}"
        #expect(throws: ReproducerError.self) { try Reproducer.decode(Data(badVariant.utf8)).fuzzCase() }
        #expect(throws: ReproducerError.self) { try Reproducer.load(path: "/nonexistent/mmfuzz/repro.json") }
    }

    @Test func replayIsExact() {
        // The same case run twice gives the same calls and the same stats.
        let c = CaseGenerator(settings: GeneratorSettings()).generate(seed: 7, variant: .baseline)
        let a = CaseRunner.run(c)
        let b = CaseRunner.run(c)
        #expect(a.failure == nil)
        #expect(a.ops == b.ops)
        #expect(a.stats == b.stats)
    }
}

@Suite struct ShrinkerTests {
    /// Fails when some store is followed later by a munmap of the store's
    /// page in the same slot.
    static func storeThenUnmap(_ c: FuzzCase) -> Failure? {
        for (i, op) in c.ops.enumerated() {
            guard case .call(_, let slot, .store(let addr, _)) = op else { continue }
            for later in c.ops[(i + 1)...] {
                if case .call(_, slot, .munmap(let start, let length)) = later,
                   start <= addr, addr < start &+ length {
                    return Failure(kind: "synthetic", message: "store then munmap")
                }
            }
        }
        return nil
    }

    @Test func shrinksToTheEssentialOps() {
        let generator = CaseGenerator(settings: GeneratorSettings(minOps: 200, maxOps: 300, concurrency: .off))
        var shrunkSome = 0
        for seed: UInt64 in 0 ..< 200 where shrunkSome < 5 {
            let c = generator.generate(seed: seed, variant: .baseline)
            guard let failure = Self.storeThenUnmap(c) else { continue }
            var shrinker = Shrinker(run: Self.storeThenUnmap)
            let (small, smallFailure) = shrinker.shrink(c, failure: failure)
            #expect(smallFailure.kind == "synthetic")
            #expect(small.ops.count == 2, "\(small.ops)")
            #expect(Self.storeThenUnmap(small) != nil)
            // Arguments simplified too: CPU 0, slot 0, one page.
            #expect(small.ops.allSatisfy { $0.cpu == 0 }, "\(small.ops)")
            #expect(small.config.cpus == 1)
            // Both ops name the same mm, folded onto slot 0.
            #expect(small.ops.allSatisfy { $0.slot == 0 })
            shrunkSome += 1
        }
        #expect(shrunkSome == 5)
    }

    @Test func keepsTheFailureKind() {
        // A predicate with two kinds: only the original kind is kept.
        let ops: [Op] = [.newMM, .store(cpu: 0, slot: 0, addr: 0x1000, value: 1),
                         .munmap(cpu: 0, slot: 0, addr: 0x1000, length: 4096), .failNthAlloc(n: 1)]
        let c = FuzzCase(config: CaseConfig(cpus: 2, frames: 4096), variant: .baseline, seed: 0, ops: ops)
        let run: Shrinker.Runner = { c in
            if c.ops.contains(.failNthAlloc(n: 1)) { return Failure(kind: "a", message: "") }
            if c.ops.count >= 2 { return Failure(kind: "b", message: "") }
            return nil
        }
        var shrinker = Shrinker(run: run)
        let (small, f) = shrinker.shrink(c, failure: Failure(kind: "a", message: ""))
        #expect(f.kind == "a")
        #expect(small.ops == [.failNthAlloc(n: 1)])
    }
}

@Suite struct CleanRunTests {
    @Test(arguments: acceptedVariants)
    func shortSessionIsClean(variant: Variant) {
        let session = FuzzSession(settings: SessionSettings(
            seed: 0x5eed, variants: [variant], limit: .cases(40), shrink: false))
        let summary = session.run()
        #expect(summary.cases == 40)
        #expect(summary.ops > 2000)
        for f in summary.failures {
            Issue.record("\(variant): case \(f.caseIndex) seed \(f.original.seed): \(f.failure)")
        }
    }

    @Test func acceptsSomeVariant() {
        #expect(!acceptedVariants.isEmpty)
    }
}

@Suite struct RegressionTests {
    /// Every reproducer kept under Tests/MMFuzzTests/Regressions (bugs the
    /// fuzzer found, and cases from the mutation check): each must pass on
    /// the unmutated code.
    static let files: [URL] = {
        guard let dir = Bundle.module.url(forResource: "Regressions", withExtension: nil),
              let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path)
        else { return [] }
        return names.filter { $0.hasSuffix(".json") }.sorted().map { dir.appendingPathComponent($0) }
    }()

    @Test func regressionsDirectoryIsBundled() {
        #expect(Bundle.module.url(forResource: "Regressions", withExtension: nil) != nil)
    }

    @Test(arguments: files)
    func replayPasses(file: URL) throws {
        let repro = try Reproducer.load(path: file.path)
        let c = try repro.fuzzCase()
        let result = CaseRunner.run(c)
        if let failure = result.failure {
            Issue.record("\(file.lastPathComponent) fails: \(failure)")
        }
    }
}
