import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import MMFuzz
import MMModel
import MMSim

#if os(Linux)
let nativeHost = true
#else
let nativeHost = false
#endif

/// `mmfuzz native` (issue 14): generated sequential cases run as real
/// system calls on this machine's kernel, every mm of a case a process of
/// its own (fork a real fork, exit a real exit), every outcome judged by
/// the reference model.
@Suite("Native")
struct NativeTests {
    static func nativeCase(seed: UInt64) -> NativeCase? {
        NativeCase.generate(seed: seed)
    }

    static func nativeCase(_ ops: [Op]) throws -> NativeCase {
        try #require(NativeCase(FuzzCase(config: CaseConfig(cpus: 1, frames: 64), variant: .baseline,
                                         seed: 0, ops: ops)))
    }

    /// Runs `c` and expects no difference, and every process it ran gone
    /// (reaped: not even a zombie) once it is over.
    static func runClean(_ c: NativeCase, sourceLocation: SourceLocation = #_sourceLocation) throws
        -> NativeCaseResult {
        let result = try NativeRunner().run(c)
        #expect(result.difference == nil, "\(result.difference.map(\.description) ?? "")",
                sourceLocation: sourceLocation)
        expectGone(result.pids, sourceLocation: sourceLocation)
        return result
    }

    /// No process of `pids` is left, zombies included.
    static func expectGone(_ pids: [Int32], sourceLocation: SourceLocation = #_sourceLocation) {
        #if os(Linux)
        let left = pids.filter { kill($0, 0) == 0 || errno != ESRCH }
        #expect(left.isEmpty, "processes left: \(left)", sourceLocation: sourceLocation)
        #endif
    }

    @Test("relocation keeps order, offsets in a 2 MiB and contiguity; guards between runs")
    func relocation() throws {
        let w = NativeRelocation.window
        let r = try #require(NativeRelocation(caseWindows: [5, 6, 100, 0x3ffff]))
        #expect(r.offset(5 * w + 0x1238) == 0x1238)
        #expect(r.offset(6 * w) == w)
        #expect(r.offset(100 * w + 8) == 3 * w + 8)        // a guard at window 2
        #expect(r.offset(0x3ffff * w) == 5 * w)
        #expect(r.offset(7 * w) == nil)
        #expect(r.address(3 * w + 8) == 100 * w + 8)
        #expect(r.address(2 * w) == nil)
        #expect(r.runs.map { [$0.0, $0.1] } == [[0, 2], [3, 1], [5, 1]])
        #expect(NativeRelocation.windows(Model.taskSize - 4096, 8192) == nil)
        #expect(NativeRelocation(caseWindows: Set((0 ..< NativeRelocation.arenaWindows / 2 + 1).map { $0 * 2 }))
                == nil)
    }

    @Test("a hand-made case: fixed and placed mmaps, faults, copy on nothing, DONTNEED, mprotect")
    func handMade() throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        let base: UInt64 = 0x4000_0000
        let ops: [Op] = [
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: base, length: 0x4000, prot: .readWrite, flags: [.private, .anonymous, .fixed]),
            .store(cpu: 0, slot: 0, addr: base + 8, value: 42),
            .load(cpu: 0, slot: 0, addr: base + 8),
            .load(cpu: 0, slot: 0, addr: base + 0x4000),                       // unmapped: SIGSEGV
            .mprotect(cpu: 0, slot: 0, addr: base, length: 0x1000, prot: .read),
            .store(cpu: 0, slot: 0, addr: base + 16, value: 1),                // read-only: SIGSEGV
            .load(cpu: 0, slot: 0, addr: base + 8),
            .madvise(cpu: 0, slot: 0, addr: base, length: 0x4000, advice: .dontneed),
            .load(cpu: 0, slot: 0, addr: base + 8),                            // zero again
            .madvise(cpu: 0, slot: 0, addr: base, length: 0x8000, advice: .dontneed),  // hole: ENOMEM
            .mprotect(cpu: 0, slot: 0, addr: base, length: 0x8000, prot: .readWrite), // hole: ENOMEM
            .mmap(cpu: 0, slot: 0, addr: 0, length: 0x3000, prot: .readWrite, flags: [.shared, .anonymous]),
            .mmap(cpu: 0, slot: 0, addr: base + 0x1000, length: 0x1000, prot: .readWrite,
                  flags: [.private, .anonymous]),                              // hint taken: mapped
            .munmap(cpu: 0, slot: 0, addr: base + 0x1000, length: 0x2000),
            .load(cpu: 0, slot: 0, addr: base + 0x1000),                       // SIGSEGV
            .munmap(cpu: 0, slot: 0, addr: base + 1, length: 0x1000),          // EINVAL
            .exit(cpu: 0, slot: 0),
        ]
        let c = try Self.nativeCase(ops)
        #expect(c.requests.count == ops.count)
        #expect(c.opIndices == Array(ops.indices))
        let result = try Self.runClean(c)
        #expect(result.requests == ops.count)
        #expect(result.onHost[.exit] == 1)
        #expect(result.pids.count == 1)
        #expect(result.adaptations[NativeAdaptation.mmapPlacement.rawValue] == 2)
    }

    @Test("fork is a real fork: copy-on-write on the host as the model has it, shared pages shared")
    func forkCopyOnWrite() throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        let base: UInt64 = 0x4000_0000, shared: UInt64 = 0x4010_0000
        let ops: [Op] = [
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: base, length: 0x2000, prot: .readWrite, flags: [.private, .anonymous, .fixed]),
            .mmap(cpu: 0, slot: 0, addr: shared, length: 0x1000, prot: .readWrite, flags: [.shared, .anonymous, .fixed]),
            .store(cpu: 0, slot: 0, addr: base, value: 1),
            .store(cpu: 0, slot: 0, addr: shared, value: 7),
            .fork(cpu: 0, slot: 0),                                  // live: parent, child
            .load(cpu: 0, slot: 1, addr: base),                      // the child sees 1
            .store(cpu: 0, slot: 0, addr: base, value: 2),           // parent: copy-on-write
            .store(cpu: 0, slot: 1, addr: base, value: 3),           // child: its own copy
            .store(cpu: 0, slot: 1, addr: shared, value: 8),         // shared: the parent sees it
            .load(cpu: 0, slot: 0, addr: base),                      // 2
            .load(cpu: 0, slot: 1, addr: base),                      // 3
            .load(cpu: 0, slot: 1, addr: base + 0x1000),             // never touched: 0
            .load(cpu: 0, slot: 0, addr: shared),                    // 8
            .exit(cpu: 0, slot: 1),                                  // the child exits
            .load(cpu: 0, slot: 0, addr: base),                      // still 2
            .load(cpu: 0, slot: 1, addr: base),                      // slot 1 is the parent now: 2
            .load(cpu: 0, slot: -2, addr: base),                     // the dead child: bad-mm
        ]
        let c = try Self.nativeCase(ops)
        #expect(c.slots[5] == 0 && c.slots[8] == 1)
        let result = try Self.runClean(c)
        #expect(result.requests == ops.count)
        #expect(result.onHost[.fork] == 1)
        #expect(result.onHost[.exit] == 1)
        #expect(result.onHost[.load] == 7)
        #expect(result.pids.count == 2)
        #expect(result.adaptations[NativeAdaptation.badMM.rawValue] == 1)
        // The model is strict about values: a store it is told wrongly
        // in the child is a difference at the child's load.
        let skewed = try #require(try NativeRunner(skewStores: true).run(c).difference)
        #expect(skewed.opIndex == 6)
    }

    @Test("exec unmaps the arena: the old mappings are gone, the mm has a new id")
    func execUnmaps() throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        let base: UInt64 = 0x7f00_0000_0000
        let ops: [Op] = [
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: base, length: 0x3000, prot: .readWrite, flags: [.private, .anonymous, .fixed]),
            .store(cpu: 0, slot: 0, addr: base + 0x1000, value: 5),
            .exec(cpu: 0, slot: 0),
            .load(cpu: 0, slot: 0, addr: base + 0x1000),             // SIGSEGV: gone
            .munmap(cpu: 0, slot: 0, addr: base, length: 0x3000),   // nothing there: 0
            .mprotect(cpu: 0, slot: 0, addr: base, length: 0x1000, prot: .read),  // a hole: ENOMEM
            .mmap(cpu: 0, slot: 0, addr: base, length: 0x1000, prot: .readWrite, flags: [.private, .anonymous, .fixed]),
            .load(cpu: 0, slot: 0, addr: base),                      // a fresh page: 0
            .exec(cpu: 0, slot: 0),
            .exit(cpu: 0, slot: 0),
            .load(cpu: 0, slot: 0, addr: base),                      // no mm live: skipped
        ]
        let result = try Self.runClean(try Self.nativeCase(ops))
        #expect(result.requests == ops.count - 1)
        #expect(result.adaptations[NativeAdaptation.execUnmapsArena.rawValue] == 2)
        #expect(result.onHost[.exit] == 1)
        #expect(result.pids.count == 1)
    }

    @Test("two newMMs are two independent processes")
    func twoProcesses() throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        let base: UInt64 = 0x10_0000_0000
        let ops: [Op] = [
            .load(cpu: 0, slot: 0, addr: base),                      // before any newMM: skipped
            .newMM,
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: base, length: 0x1000, prot: .readWrite, flags: [.private, .anonymous, .fixed]),
            .mmap(cpu: 0, slot: 1, addr: base, length: 0x1000, prot: .readWrite, flags: [.shared, .anonymous, .fixed]),
            .store(cpu: 0, slot: 0, addr: base, value: 5),
            .store(cpu: 0, slot: 1, addr: base, value: 6),
            .load(cpu: 0, slot: 0, addr: base),                      // 5
            .load(cpu: 0, slot: 3, addr: base),                      // 3 % 2: the second, 6
            .exit(cpu: 0, slot: 0),
            .load(cpu: 0, slot: 0, addr: base),                      // the second now: 6
            .munmap(cpu: 0, slot: 0, addr: base, length: 0x1000),
            .load(cpu: 0, slot: 0, addr: base),                      // SIGSEGV
        ]
        let c = try Self.nativeCase(ops)
        #expect(c.opIndices.first == 0 && c.slots.first == 0)
        let result = try Self.runClean(c)
        #expect(result.requests == ops.count - 1)
        #expect(result.onHost[.newMM] == 2)
        #expect(Set(result.pids).count == 2)
    }

    @Test("a touch is a store per page, value + i, until one does not complete")
    func touches() throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        let base: UInt64 = 0x2_0000_0000
        let ops: [Op] = [
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: base, length: 0x4000, prot: .readWrite, flags: [.private, .anonymous, .fixed]),
            .touch(cpu: 0, slot: 0, addr: base, pages: 6, value: 100),   // 4 stores, the 5th faults
            .load(cpu: 0, slot: 0, addr: base + 0x3000),                   // 103
            .touch(cpu: 0, slot: 0, addr: base + 4, pages: 2, value: 1),  // unaligned: EINVAL, stops
            .touch(cpu: 0, slot: 0, addr: base, pages: -3, value: 1),     // no pages
        ]
        let c = try Self.nativeCase(ops)
        #expect(c.requests.count == 2 + 6 + 1 + 2)
        #expect(c.opIndices == [0, 1, 2, 2, 2, 2, 2, 2, 3, 4, 4])
        #expect(c.requests[7] == .store(addr: base + 0x5000, value: 105))
        let result = try Self.runClean(c)
        #expect(result.requests == 2 + 5 + 1 + 1)
        #expect(result.onHost[.store] == 5)
        #expect(result.adaptations[NativeAdaptation.unalignedAccess.rawValue] == 1)
    }

    @Test("cases with ops deleted, as the shrinker deletes them, still run and agree")
    func opsDeleted() throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        var rng = Xoshiro256(seed: 14)
        var cases = 0
        for seed in UInt64(2000) ..< 2020 {
            var fuzzCase = CaseGenerator(settings: NativeCase.generatorSettings).generate(seed: seed, variant: .baseline)
            // Keep each op with probability 1/2 (the first newMM too).
            fuzzCase.ops = fuzzCase.ops.filter { _ in rng.next() & 1 == 0 }
            let kept = fuzzCase.ops
            guard let c = NativeCase(fuzzCase) else { continue }
            #expect(c.opIndices.allSatisfy { kept.indices.contains($0) })
            #expect(c.opIndices == c.opIndices.sorted())
            _ = try Self.runClean(c)
            cases += 1
        }
        #expect(cases >= 16)
    }

    @Test("generated cases, every mm a process, run on the host kernel as the model predicts",
          arguments: 0 ..< 4)
    func generated(chunk: Int) throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        var requests = 0, cases = 0
        var adaptations: [String: Int] = [:]
        var onHost: [Request.Kind: Int] = [:]
        for i in 0 ..< Self.generatedPerChunk {
            let seed = UInt64(1000 + chunk * Self.generatedPerChunk + i)
            guard let c = Self.nativeCase(seed: seed) else { continue }
            let result = try NativeRunner().run(c)
            #expect(result.difference == nil, "seed \(seed): \(result.difference.map(\.description) ?? "")")
            Self.expectGone(result.pids)
            requests += result.requests
            cases += 1
            for (k, n) in result.adaptations { adaptations[k, default: 0] += n }
            for (k, n) in result.onHost { onHost[k, default: 0] += n }
        }
        #expect(cases >= Self.generatedPerChunk * 4 / 5)
        #expect(requests > 40 * cases)
        // Every mm a process: forks, exits and second processes happen.
        #expect(onHost[.fork] ?? 0 > cases / 2, "\(onHost)")
        #expect(onHost[.exit] ?? 0 > cases / 4, "\(onHost)")
        #expect(onHost[.newMM] ?? 0 > cases, "\(onHost)")
        #expect(adaptations[NativeAdaptation.execUnmapsArena.rawValue] ?? 0 > 0)
        print("NativeTests chunk \(chunk): \(cases) cases, \(requests) requests, on the host "
            + "\(onHost.map { "\($0.key.rawValue) \($0.value)" }.sorted()), adaptations \(adaptations.sorted { $0.key < $1.key })")
    }

    static let generatedPerChunk = 75

    @Test("a model rule broken on purpose (stores skewed) is reported as a difference at the load")
    func differenceReported() throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        let base: UInt64 = 0x7000_0000_0000
        let ops: [Op] = [
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: base, length: 0x1000, prot: .readWrite, flags: [.private, .anonymous, .fixed]),
            .store(cpu: 0, slot: 0, addr: base, value: 0x10),
            .load(cpu: 0, slot: 0, addr: base),
        ]
        let c = try Self.nativeCase(ops)
        #expect(try NativeRunner().run(c).difference == nil)
        let d = try #require(try NativeRunner(skewStores: true).run(c).difference)
        #expect(d.index == 3)
        #expect(d.opIndex == 3)
        #expect(d.request == .load(addr: base))
        #expect(d.host == Outcome.value(0x10).description)
        #expect(d.message.contains("expected value 0x11"))
    }

    /// The skewed stores are found by the load that reads one back (no
    /// checkpoints) or by the checkpoint that reads the page's first word
    /// (`contents`), whichever comes first.
    @Test("a difference in a generated case is shrunk to the few ops that make it, and replays",
          arguments: [(nil, "native:load"), (NativeCheckpoint.defaultInterval, "native:contents")])
    func differenceShrunk(interval: Int?, kind: String) throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        let skewed = NativeRunner(skewStores: true, checkpointInterval: interval)
        // The first generated case whose stores are loaded back.
        var found: (FuzzCase, Failure)?
        for seed in UInt64(1) ... 50 {
            let c = NativeCase.fuzzCase(seed: seed)
            if let f = try skewed.failure(of: c) {
                found = (c, f)
                break
            }
        }
        let (original, failure) = try #require(found)
        #expect(failure.kind == kind)
        #expect(original.ops.count >= 40)
        let (small, smallFailure, runs) = skewed.shrink(original, failure: failure, maxSeconds: 30)
        #expect(runs > 0)
        #expect(smallFailure.kind == failure.kind)
        // newMM, the mmap, the store and the load (or the checkpoint at
        // the end): nothing else matters.
        #expect(small.ops.count <= 4, "\(small.ops)")
        #expect(small.ops.filter { $0.kind == .call(.store) }.count == 1)
        // The saved reproducer fails the same way when read back, and
        // passes with the model's rule intact.
        let back = try Reproducer.decode(Data(Reproducer(fuzzCase: small, failure: smallFailure).encoded().utf8))
            .fuzzCase()
        #expect(try skewed.failure(of: back)?.kind == failure.kind)
        #expect(try NativeRunner(checkpointInterval: interval).failure(of: back) == nil)
    }
}

/// A wider sweep, only when asked (MMFUZZ_NATIVE_SWEEP=N cases).
@Test("native sweep", .enabled(if: nativeHost && (Int(Environment.get("MMFUZZ_NATIVE_SWEEP") ?? "") ?? 0) > 0))
func nativeSweep() throws {
    let n = Int(Environment.get("MMFUZZ_NATIVE_SWEEP")!)!
    var diffs: [String] = [], cases = 0, requests = 0
    var adaptations: [String: Int] = [:]
    for seed in UInt64(5000) ..< UInt64(5000 + n) {
        guard let c = NativeTests.nativeCase(seed: seed) else { continue }
        let r = try NativeRunner().run(c)
        cases += 1
        requests += r.requests
        for (k, v) in r.adaptations { adaptations[k, default: 0] += v }
        if let d = r.difference { diffs.append("seed \(seed): \(d)") }
    }
    print("sweep: \(cases) cases, \(requests) requests, \(diffs.count) differences; \(adaptations.sorted { $0.key < $1.key })")
    for d in diffs.prefix(30) { print(d) }
    #expect(diffs.isEmpty)
}

enum Environment {
    static func get(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        return String(cString: v)
    }
}
