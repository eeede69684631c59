import Foundation
import Testing
@testable import MMFuzz
import MMModel
import MMSim

/// Batches on the host (issue 14, its last item): a case's `.parallel`
/// ops run on threads of the process of their mm, started together, and
/// the outcomes, with the host's times, judged by the linearizability
/// checker.
@Suite("Native batches")
struct NativeBatchTests {
    static let base: UInt64 = 0x4000_0000

    /// A native case of `ops` on a four-CPU case.
    static func nativeCase(_ ops: [Op]) throws -> NativeCase {
        try #require(NativeCase(FuzzCase(config: CaseConfig(cpus: 4, frames: 4096), variant: .baseline,
                                         seed: 0, ops: ops)))
    }

    static func batch(_ ops: [Op]) -> Op {
        .parallel(Batch(ops: ops, schedule: .random(seed: 1, switchPermille: 100)))
    }

    /// Every batch's events, as the runner saw them (the trace is called
    /// on the test's thread, inside `run`).
    final class Events: @unchecked Sendable {
        var batches: [[HistoryEvent]] = []
    }

    static func run(_ c: NativeCase, _ runner: NativeRunner = NativeRunner()) throws
        -> (NativeCaseResult, [[HistoryEvent]]) {
        let seen = Events()
        var runner = runner
        runner.batchTrace = { _, events in seen.batches.append(events) }
        let result = try runner.run(c)
        return (result, seen.batches)
    }

    @Test("a fault in one thread is that thread's: each access gets its own value or its own fault")
    func faultsPerThread() throws {
        guard nativeHost else {
            print("NativeBatchTests: skipped, the host is not Linux")
            return
        }
        let child = try NativeChild()
        #expect(try child.call(kind: 1, offset: 0, length: 0x10000, prot: 3, flags: 0x22 | 0x10) == .ok(0))
        for page in UInt64(0) ..< 16 {
            #expect(try child.call(kind: 7, offset: page << 12, value: 1000 + page) == .ok(0))
        }
        // Even calls load a mapped word, odd ones the PROT_NONE
        // reservation above it, every thread both, all at once.
        let calls = (0 ..< NativeChild.batchMax).map { k in
            NativeChild.BatchCall(kind: 6, thread: k % NativeChild.threadsMax,
                                  offset: k % 2 == 0 ? UInt64(k / 2 % 16) << 12 : 0x10_0000 + UInt64(k) << 12)
        }
        for _ in 0 ..< 50 {
            let replies = try child.batch(calls)
            #expect(replies.count == calls.count)
            for (k, r) in replies.enumerated() {
                if k % 2 == 0 {
                    #expect(r.reply == .ok(1000 + UInt64(k / 2 % 16)))
                } else {
                    #expect(r.reply == .fault(signal: 11, code: 2, offset: calls[k].offset))
                }
                #expect(r.start > 0 && r.start <= r.end)
            }
        }
        // The child serves on after the batches.
        #expect(try child.call(kind: 6, offset: 0x3000) == .ok(1003))
        child.stop()
    }

    @Test("two threads store to one word and a third loads it: the load's value is one an order explains")
    func storesAndLoad() throws {
        guard nativeHost else {
            print("NativeBatchTests: skipped, the host is not Linux")
            return
        }
        let a = Self.base + 0x108
        let c = try Self.nativeCase([
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: Self.base, length: 0x4000, prot: .readWrite,
                  flags: [.private, .anonymous, .fixed]),
            Self.batch([.store(cpu: 0, slot: 0, addr: a, value: 1), .store(cpu: 1, slot: 0, addr: a, value: 2),
                        .load(cpu: 2, slot: 0, addr: a), .load(cpu: 2, slot: 0, addr: a)]),
            .load(cpu: 0, slot: 0, addr: a),    // the model follows the host's last store
        ])
        #expect(c.batches.count == 1 && c.batches[0].before == 2)
        var values = Set<UInt64>()
        for _ in 0 ..< 20 {
            let (result, batches) = try Self.run(c)
            #expect(result.difference == nil, "\(result.difference.map(\.description) ?? "")")
            #expect(result.batches == 1)
            #expect(result.onHost[.store] == 2 && result.onHost[.load] == 3)
            let events = try #require(batches.first)
            #expect(Set(events.map(\.call.cpu)) == [0, 1, 2])
            for e in events where e.call.request == .load(addr: a) {
                guard case .value(let v) = e.outcome else {
                    Issue.record("a load got \(e.outcome)")
                    continue
                }
                #expect([0, 1, 2].contains(v))
                values.insert(v)
            }
        }
        #expect(!values.isEmpty)
    }

    @Test("an munmap racing loads on other threads: each load sees the value or SIGSEGV")
    func munmapRacingLoads() throws {
        guard nativeHost else {
            print("NativeBatchTests: skipped, the host is not Linux")
            return
        }
        let loads: [Op] = (0 ..< 8).map { i in
            .load(cpu: 1 + i % 2, slot: 0, addr: Self.base + UInt64(i % 4) << 12)
        }
        let c = try Self.nativeCase([
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: Self.base, length: 0x4000, prot: .readWrite,
                  flags: [.private, .anonymous, .fixed]),
            .touch(cpu: 0, slot: 0, addr: Self.base, pages: 4, value: 40),
            Self.batch([.munmap(cpu: 0, slot: 0, addr: Self.base, length: 0x4000)] + loads),
            .load(cpu: 0, slot: 0, addr: Self.base),     // gone: SIGSEGV
        ])
        var outcomes = Set<String>()
        for _ in 0 ..< 20 {
            let (result, batches) = try Self.run(c)
            #expect(result.difference == nil, "\(result.difference.map(\.description) ?? "")")
            #expect(result.batches == 1)
            for e in try #require(batches.first) {
                guard case .load(let addr) = e.call.request else {
                    #expect(e.outcome == .ok)
                    continue
                }
                #expect(e.outcome == .segv || e.outcome == .value(40 + (addr - Self.base) >> 12), "\(e)")
                outcomes.insert(e.outcome == .segv ? "segv" : "value")
            }
        }
        #expect(outcomes.contains("segv"))
    }

    @Test("MADV_DONTNEED racing a load of its page: the page is gone after, whatever the load read")
    func dontneedRacingLoad() throws {
        guard nativeHost else {
            print("NativeBatchTests: skipped, the host is not Linux")
            return
        }
        // Found by `mmfuzz native --concurrent` (seed 1622), shrunk.
        let page = Self.base + 0x1000
        let c = try Self.nativeCase([
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: Self.base, length: 0x4000, prot: .readWrite,
                  flags: [.private, .anonymous, .fixed]),
            .store(cpu: 0, slot: 0, addr: page, value: 4),
            Self.batch([.load(cpu: 1, slot: 0, addr: page),
                        .madvise(cpu: 0, slot: 0, addr: Self.base, length: 0x2000, advice: .dontneed)]),
            .load(cpu: 0, slot: 0, addr: page),     // 0: zapped
        ])
        for _ in 0 ..< 20 {
            let (result, _) = try Self.run(c)
            #expect(result.difference == nil, "\(result.difference.map(\.description) ?? "")")
        }
    }

    @Test("a store and MADV_DONTNEED racing on a shared page: the page is loaded after, on both sides")
    func sharedPageLoadedAfter() throws {
        guard nativeHost else {
            print("NativeBatchTests: skipped, the host is not Linux")
            return
        }
        // Found by `mmfuzz native --concurrent` (seed 201810): a store the
        // linearizer took as lost while its shared page was zapped.
        let page = Self.base + 0x1000
        let c = try Self.nativeCase([
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: Self.base, length: 0x4000, prot: .readWrite,
                  flags: [.shared, .anonymous, .fixed]),
            Self.batch([.store(cpu: 0, slot: 0, addr: page, value: 3),
                        .madvise(cpu: 1, slot: 0, addr: Self.base, length: 0x4000, advice: .dontneed)]),
            .load(cpu: 0, slot: 0, addr: page),     // 3: the object keeps it
        ])
        var checked = 0
        for _ in 0 ..< 20 {
            let (result, _) = try Self.run(c)
            #expect(result.difference == nil, "\(result.difference.map(\.description) ?? "")")
            checked += result.adaptations[NativeAdaptation.batchCheckLoad.rawValue] ?? 0
        }
        #expect(checked > 0)
    }

    @Test("racing mprotects: the model goes on from the protection the host was left with")
    func racingMprotects() throws {
        guard nativeHost else {
            print("NativeBatchTests: skipped, the host is not Linux")
            return
        }
        let c = try Self.nativeCase([
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: Self.base, length: 0x2000, prot: .readWrite,
                  flags: [.private, .anonymous, .fixed]),
            Self.batch([.mprotect(cpu: 0, slot: 0, addr: Self.base, length: 0x2000, prot: .read),
                        .mprotect(cpu: 1, slot: 0, addr: Self.base, length: 0x2000, prot: .readWrite)]),
            .store(cpu: 0, slot: 0, addr: Self.base, value: 9),     // SIGSEGV or 9, as the host was left
        ])
        for _ in 0 ..< 20 {
            let (result, _) = try Self.run(c)
            #expect(result.difference == nil, "\(result.difference.map(\.description) ?? "")")
            #expect(result.requests == 5)
        }
    }

    @Test("the host's state decides between orders: a model that differs from it is refused")
    func hostStateCompared() throws {
        var model = Model(cpus: 1)
        let mm: Int32 = 1
        let a = Self.base + 8
        try model.apply(.newMM, outcome: .mm(mm), mayFailAllocation: false)
        try model.apply(.mmap(cpu: 0, mm: mm, addr: Self.base, length: 0x2000, prot: 3, flags: 0x32),
                        outcome: .address(Self.base), mayFailAllocation: false)
        try model.apply(.store(cpu: 0, mm: mm, addr: a, value: 5), outcome: .value(5), mayFailAllocation: false)
        let rw = Mapping(start: Self.base, end: Self.base + 0x2000, prot: 3, shared: false)
        let agrees = NativeBatchHost(ranges: [(Self.base, Self.base + 0x2000, [rw])], words: [(a, 5)])
        #expect(agrees.differs(from: model, mm: mm) == nil)
        // A word the model has another value for; a page the model never
        // faulted in, private: zero on both sides.
        #expect(NativeBatchHost(ranges: [], words: [(a, 6)]).differs(from: model, mm: mm)?.contains("word") == true)
        #expect(NativeBatchHost(ranges: [], words: [(Self.base + 0x1000, 0)]).differs(from: model, mm: mm) == nil)
        // A shared page the mm no longer has present keeps its value in
        // the object: that is what a load would find.
        let shared = Self.base + 0x10_0000
        try model.apply(.mmap(cpu: 0, mm: mm, addr: shared, length: 0x1000, prot: 3, flags: 0x31),
                        outcome: .address(shared), mayFailAllocation: false)
        try model.apply(.store(cpu: 0, mm: mm, addr: shared, value: 7), outcome: .value(7), mayFailAllocation: false)
        try model.apply(.madvise(cpu: 0, mm: mm, addr: shared, length: 0x1000, advice: 4), outcome: .ok,
                        mayFailAllocation: false)
        #expect(model.presentWord(mm: mm, addr: shared) == nil)
        #expect(NativeBatchHost(ranges: [], words: [(shared, 7)]).differs(from: model, mm: mm) == nil)
        #expect(NativeBatchHost(ranges: [], words: [(shared, 0)]).differs(from: model, mm: mm) != nil)
        // What the process loaded there after the batch: the model must
        // load the same (a model that lost the store cannot).
        let loaded = NativeBatchHost(ranges: [], words: [], loads: [(shared, .value(7))])
        let after = try loaded.loading(model, mm: mm).get()
        #expect(after.presentWord(mm: mm, addr: shared)?.value == 7)
        #expect((try? NativeBatchHost(ranges: [], words: [], loads: [(shared, .value(0))])
                .loading(model, mm: mm).get()) == nil)
        // Mappings clipped to the range and merged as the model's are.
        let ro = Mapping(start: Self.base, end: Self.base + 0x1000, prot: 1, shared: false)
        let split = NativeBatchHost(ranges: [(Self.base, Self.base + 0x1000, [ro])], words: [])
        #expect(split.differs(from: model, mm: mm)?.contains("mappings") == true)
        #expect(NativeBatchHost.merged([
            Mapping(start: 0x1000, end: 0x2000, prot: 3, shared: false),
            Mapping(start: 0x2000, end: 0x3000, prot: 3, shared: false),
            Mapping(start: 0x3000, end: 0x4000, prot: 3, shared: true),
        ]).count == 2)
    }

    @Test("a load value no order can give (a test-only switch) is a linearizability difference")
    func linearizabilityFires() throws {
        guard nativeHost else {
            print("NativeBatchTests: skipped, the host is not Linux")
            return
        }
        let a = Self.base + 0x10
        let c = try Self.nativeCase([
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: Self.base, length: 0x1000, prot: .readWrite,
                  flags: [.private, .anonymous, .fixed]),
            .store(cpu: 0, slot: 0, addr: a, value: 3),
            Self.batch([.store(cpu: 0, slot: 0, addr: a, value: 4), .load(cpu: 1, slot: 0, addr: a)]),
        ])
        #expect(try NativeRunner().run(c).difference == nil)
        var skewed = NativeRunner()
        skewed.skewBatchLoads = true
        let d = try #require(try skewed.run(c).difference)
        #expect(d.check == "linearizability")
        #expect(d.kind == "native:linearizability")
        #expect(d.opIndex == 3 && d.index == 3)
        #expect(d.message.contains("no order of the batch's calls explains it"))
    }

    @Test("batches a process cannot run on its threads are left out, counted by why")
    func leftOut() throws {
        guard nativeHost else {
            print("NativeBatchTests: skipped, the host is not Linux")
            return
        }
        let c = try Self.nativeCase([
            .newMM,
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: Self.base, length: 0x1000, prot: .readWrite,
                  flags: [.private, .anonymous, .fixed]),
            Self.batch([.load(cpu: 0, slot: 0, addr: Self.base), .load(cpu: 1, slot: 1, addr: Self.base)]),
            Self.batch([.fork(cpu: 0, slot: 0), .load(cpu: 1, slot: 0, addr: Self.base)]),
            Self.batch([.mmap(cpu: 0, slot: 0, addr: 0, length: 0x1000, prot: .readWrite,
                              flags: [.private, .anonymous]), .load(cpu: 1, slot: 0, addr: Self.base)]),
            // Left in: switchMM dropped, an unaligned load and a bad mm
            // answered by the model, a CPU the case lacks skipped.
            Self.batch([.switchMM(cpu: 0, slot: 0), .load(cpu: 1, slot: 0, addr: Self.base + 4),
                        .load(cpu: 2, slot: -3, addr: Self.base), .load(cpu: 7, slot: 0, addr: Self.base),
                        .store(cpu: 3, slot: 0, addr: Self.base, value: 1)]),
        ])
        let (result, batches) = try Self.run(c)
        #expect(result.difference == nil, "\(result.difference.map(\.description) ?? "")")
        #expect(result.adaptations[NativeAdaptation.batchSeveralMMs.rawValue] == 1)
        #expect(result.adaptations[NativeAdaptation.batchFork.rawValue] == 1)
        #expect(result.adaptations[NativeAdaptation.batchPlacement.rawValue] == 1)
        #expect(result.adaptations["not-native:switchMM"] == 1)
        #expect(result.adaptations[NativeAdaptation.unalignedAccess.rawValue] == 1)
        #expect(result.adaptations[NativeAdaptation.badMM.rawValue] == 1)
        #expect(result.batches == 1)
        #expect(batches.count == 1 && batches[0].count == 3)
        #expect(result.onHost[.store] == 1 && result.onHost[.load] == nil)
    }

    @Test("generated concurrent cases run on the host's threads as the model explains them",
          arguments: 0 ..< 2)
    func generated(chunk: Int) throws {
        guard nativeHost else {
            print("NativeBatchTests: skipped, the host is not Linux")
            return
        }
        var cases = 0, batches = 0
        var adaptations: [String: Int] = [:]
        for i in 0 ..< 20 {
            let seed = UInt64(3000 + chunk * 20 + i)
            guard let c = NativeCase.generate(seed: seed, concurrent: true) else { continue }
            let result = try NativeRunner().run(c)
            #expect(result.difference == nil, "seed \(seed): \(result.difference.map(\.description) ?? "")")
            NativeTests.expectGone(result.pids)
            cases += 1
            batches += result.batches
            for (k, n) in result.adaptations { adaptations[k, default: 0] += n }
        }
        #expect(cases >= 16)
        #expect(batches > 4 * cases, "\(batches) batches")
        #expect(adaptations[NativeAdaptation.linearizerUndecided.rawValue] == nil)
        print("NativeBatchTests chunk \(chunk): \(cases) cases, \(batches) batches on the host, "
            + "left out \(adaptations.filter { $0.key.hasPrefix("batch-") }.sorted { $0.key < $1.key })")
    }
}
