import Foundation
import Synchronization
import Testing
@testable import MMFuzz
import MMSim

/// `mmfuzz run --jobs N`: workers with seeds of their own, one summary,
/// the first failure stopping every worker, --keep-going collecting the
/// distinct ones.
@Suite struct ParallelSessionTests {
    static let variant = acceptedVariants[0]

    static func settings(_ limit: SessionSettings.Limit, keepGoing: Bool = false) -> SessionSettings {
        SessionSettings(seed: 0x10b5, variants: [variant],
                        generator: GeneratorSettings(concurrency: .off), limit: limit, shrink: false,
                        keepGoing: keepGoing)
    }

    @Test("one job is the single-threaded session, case for case")
    func oneJobIsTheSession() {
        let one = ParallelSession(settings: Self.settings(.cases(6)), jobs: 1).run()
        let plain = FuzzSession(settings: Self.settings(.cases(6))).run()
        #expect(one.cases == 6 && plain.cases == 6)
        #expect(one.ops == plain.ops)
        #expect(one.jobs == 1)
    }

    @Test("a case limit is shared out; each worker is its own session, seeded apart")
    func casesAreSharedOut() {
        let s = Self.settings(.cases(9))
        let two = ParallelSession(settings: s, jobs: 2).run()
        #expect(two.cases == 9)
        #expect(two.jobs == 2)
        #expect(two.failures.isEmpty)
        // Worker 0 ran 5 cases of the run's seed, worker 1 four of its own.
        var w0 = s, w1 = s
        w0.limit = .cases(5)
        w1.limit = .cases(4)
        w1.seed = ParallelSession.workerSeed(session: s.seed, worker: 1)
        #expect(w1.seed != s.seed)
        let alone = FuzzSession(settings: w0).run().ops + FuzzSession(settings: w1).run().ops
        #expect(two.ops == alone)
    }

    /// A case runner that fails the `index`th case of worker `worker`'s
    /// session (and passes the rest, really run).
    static func failing(worker: Int, index: Int, of s: SessionSettings,
                        kind: String = "test:planted") -> @Sendable (FuzzCase) -> CaseResult {
        let seed = caseSeed(session: ParallelSession.workerSeed(session: s.seed, worker: worker), index: index)
        return { c in
            var r = CaseRunner.run(c)
            if c.seed == seed { r.failure = Failure(kind: kind, message: "planted", opIndex: nil) }
            return r
        }
    }

    @Test("the first failure stops every worker; its report says which worker and seed meet it alone")
    func firstFailureStopsEveryWorker() {
        let s = Self.settings(.seconds(120))
        var p = ParallelSession(settings: s, jobs: 2)
        p.runCase = Self.failing(worker: 1, index: 3, of: s)
        let clock = ContinuousClock()
        let start = clock.now
        let summary = p.run()
        // Both workers stopped long before their 120 s.
        #expect(clock.now - start < .seconds(60))
        #expect(summary.failures.count == 1)
        let f = summary.failures.first
        #expect(f?.worker == 1)
        #expect(f?.caseIndex == 3)
        #expect(f?.workerSeed == ParallelSession.workerSeed(session: s.seed, worker: 1))
        // Alone, with the worker's seed, the session meets it at the same case.
        var alone = FuzzSession(settings: SessionSettings(
            seed: f?.workerSeed ?? 0, variants: [Self.variant], generator: GeneratorSettings(concurrency: .off),
            limit: .cases(10), shrink: false))
        alone.runCase = Self.failing(worker: 1, index: 3, of: s)
        let again = alone.run()
        #expect(again.failures.first?.caseIndex == 3)
        #expect(again.failures.first?.original == f?.original)
    }

    @Test("--keep-going: every worker runs to the limit; a repeated failure kind is counted, not kept")
    func keepGoingCollectsDistinctFailures() {
        let s = Self.settings(.cases(12), keepGoing: true)
        var p = ParallelSession(settings: s, jobs: 2)
        let planted: @Sendable (FuzzCase) -> CaseResult = { c in
            var r = CaseRunner.run(c)
            if c.seed % 3 == 0 { r.failure = Failure(kind: "test:thirds", message: "", opIndex: nil) }
            if c.seed % 3 == 1 { r.failure = Failure(kind: "test:others", message: "", opIndex: nil) }
            return r
        }
        p.runCase = planted
        let summary = p.run()
        #expect(summary.cases == 12)
        #expect(Set(summary.failures.map(\.failure.kind)) == ["test:thirds", "test:others"])
        #expect(summary.failures.count == 2)
        let planted12 = (0 ..< 2).flatMap { w in
            (0 ..< 6).map { caseSeed(session: ParallelSession.workerSeed(session: s.seed, worker: w), index: $0) }
        }.filter { $0 % 3 != 2 }.count
        #expect(summary.repeatedFailures == planted12 - 2)
    }
}

/// `--corpus DIR`: a failure is saved under its content hash, and the next
/// run replays the directory before it generates anything.
@Suite struct CorpusTests {
    static func scratch() -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("mmfuzz-corpus-\(UUID().uuidString)").path
        return dir
    }

    @Test("a failure survives the run: saved once, replayed first by the next run")
    func survivesARestart() throws {
        let dir = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var s = ParallelSessionTests.settings(.cases(8))
        s.corpus = Corpus(directory: dir)
        // First run: case 3 of worker 0 fails (planted), and is saved.
        var first = ParallelSession(settings: s, jobs: 1)
        first.runCase = ParallelSessionTests.failing(worker: 0, index: 3, of: s)
        let one = first.run()
        #expect(one.failures.count == 1)
        let saved = try Corpus(directory: dir).entries()
        #expect(saved.count == 1)
        #expect(saved.first?.name.hasPrefix("crash-") == true)
        #expect(one.failures.first?.corpusFile == saved.first?.name)
        let savedCase = try #require(try saved.first?.reproducer.fuzzCase())

        // Second run, the bug still there: the saved case is the first
        // run, found again before anything is generated.
        let seen = Mutex<[FuzzCase]>([])
        let plantedSeed = caseSeed(session: s.seed, index: 3)
        var second = ParallelSession(settings: s, jobs: 2)
        second.runCase = { c in
            seen.withLock { $0.append(c) }
            var r = CaseRunner.run(c)
            if c.seed == plantedSeed { r.failure = Failure(kind: "test:planted", message: "again", opIndex: nil) }
            return r
        }
        let two = second.run()
        #expect(seen.withLock { $0.first } == savedCase)
        #expect(seen.withLock { $0.count } == 1)
        #expect(two.corpusReplayed == 1)
        #expect(two.failures.first?.corpusFile == saved.first?.name)
        #expect(two.failures.first?.failure.kind == "test:planted")

        // Fixed: the corpus case passes first, then the run goes on.
        var third = ParallelSession(settings: s, jobs: 1)
        let order = Mutex<[UInt64]>([])
        third.runCase = { c in
            order.withLock { $0.append(c.seed) }
            return CaseRunner.run(c)
        }
        let three = third.run()
        #expect(three.failures.isEmpty)
        #expect(three.corpusReplayed == 1)
        #expect(three.cases == 9)
        #expect(order.withLock { $0.first } == savedCase.seed)
        // Saved once: the same case has one name.
        #expect(try Corpus(directory: dir).entries().count == 1)
    }

    @Test("the content hash names a case by what it does, not by its seed")
    func contentHash() {
        let c = NativeCase.fuzzCase(seed: 5)
        var other = c
        other.seed = 99
        #expect(Corpus.contentHash(c) == Corpus.contentHash(other))
        #expect(Corpus.contentHash(c).count == 16)
        #expect(Corpus.contentHash(c) != Corpus.contentHash(NativeCase.fuzzCase(seed: 6)))
    }
}
