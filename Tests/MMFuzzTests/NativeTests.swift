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

/// `mmfuzz native`'s foundation (issue 14): generated sequential cases of
/// one mm run as real system calls on this machine's kernel, in a child
/// process per case, every outcome judged by the reference model.
@Suite("Native")
struct NativeTests {
    static func nativeCase(seed: UInt64) -> NativeCase? {
        NativeCase.generate(seed: seed)
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
        let c = try #require(NativeCase(FuzzCase(config: CaseConfig(cpus: 1, frames: 64), variant: .baseline,
                                                 seed: 0, ops: ops)))
        #expect(c.requests.count == ops.count - 1)
        let result = try NativeRunner().run(c)
        #expect(result.difference == nil, "\(result.difference.map(\.description) ?? "")")
        #expect(result.requests == ops.count - 1)
        #expect(result.adaptations[NativeAdaptation.mmapPlacement.rawValue] == 2)
    }

    @Test("generated single-mm cases run on the host kernel as the model predicts",
          arguments: 0 ..< 4)
    func generated(chunk: Int) throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        var requests = 0, cases = 0
        var adaptations: [String: Int] = [:]
        for i in 0 ..< 10 {
            let seed = UInt64(1000 + chunk * 10 + i)
            guard let c = Self.nativeCase(seed: seed) else { continue }
            let result = try NativeRunner().run(c)
            #expect(result.difference == nil, "seed \(seed): \(result.difference.map(\.description) ?? "")")
            requests += result.requests
            cases += 1
            for (k, n) in result.adaptations { adaptations[k, default: 0] += n }
        }
        #expect(cases >= 8)
        #expect(requests > 100)
        print("NativeTests chunk \(chunk): \(cases) cases, \(requests) requests, adaptations \(adaptations.sorted { $0.key < $1.key })")
    }

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
        let c = try #require(NativeCase(FuzzCase(config: CaseConfig(cpus: 1, frames: 64), variant: .baseline,
                                                 seed: 0, ops: ops)))
        #expect(try NativeRunner().run(c).difference == nil)
        let d = try #require(try NativeRunner(skewStores: true).run(c).difference)
        #expect(d.index == 2)
        #expect(d.request == .load(addr: base))
        #expect(d.host == Outcome.value(0x10).description)
        #expect(d.message.contains("expected value 0x11"))
    }

    @Test("a difference in a generated case is shrunk to the few ops that make it, and replays")
    func differenceShrunk() throws {
        guard nativeHost else {
            print("NativeTests: skipped, the host is not Linux")
            return
        }
        let skewed = NativeRunner(skewStores: true)
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
        #expect(failure.kind == "native:load")
        #expect(original.ops.count >= 40)
        let (small, smallFailure, runs) = skewed.shrink(original, failure: failure, maxSeconds: 30)
        #expect(runs > 0)
        #expect(smallFailure.kind == failure.kind)
        // newMM, the mmap, the store and the load: nothing else matters.
        #expect(small.ops.count <= 4, "\(small.ops)")
        #expect(small.ops.filter { $0.kind == .call(.store) }.count == 1)
        // The saved reproducer fails the same way when read back, and
        // passes with the model's rule intact.
        let back = try Reproducer.decode(Data(Reproducer(fuzzCase: small, failure: smallFailure).encoded().utf8))
            .fuzzCase()
        #expect(try skewed.failure(of: back)?.kind == failure.kind)
        #expect(try NativeRunner().failure(of: back) == nil)
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
