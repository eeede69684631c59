import Foundation
import Synchronization
import Testing
@testable import MMFuzz
import MMSim

/// `mmfuzz run --jobs N`'s plan and merge: workers with seeds of their
/// own and shares of a case limit, one summary, --keep-going collecting the
/// distinct failures.  (The processes themselves, and the first failure
/// stopping every worker, are `Tests/MMFuzzCLITests/JobsTests.swift`'s.)
@Suite struct ParallelSessionTests {
    static let variant = acceptedVariants[0]

    static func settings(_ limit: SessionSettings.Limit, keepGoing: Bool = false) -> SessionSettings {
        SessionSettings(seed: 0x10b5, variants: [variant],
                        generator: GeneratorSettings(concurrency: .off), limit: limit, shrink: false,
                        keepGoing: keepGoing)
    }

    /// What the run's worker processes do, here one after another: each
    /// worker's session (with `runCase`), merged.
    static func inTurn(_ s: SessionSettings, jobs: Int,
                       runCase: @escaping @Sendable (FuzzCase) -> CaseResult = { CaseRunner.run($0) })
        -> ([ParallelSession.Worker]) -> SessionSummary {
        { workers in
            let parts = workers.map { w in
                var session = FuzzSession(settings: w.settings)
                session.runCase = runCase
                var summary = session.run()
                for i in summary.failures.indices { summary.failures[i].worker = w.index }
                return summary
            }
            return ParallelSession.merge(parts, settings: s, jobs: jobs, seconds: 1)
        }
    }

    @Test("one job is the single-process session, case for case")
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
        let plan = ParallelSession(settings: s, jobs: 2).workers
        // Worker 0 runs 5 cases of the run's seed, worker 1 four of its own.
        #expect(plan.map(\.index) == [0, 1])
        #expect(plan.map(\.settings.limit) == [.cases(5), .cases(4)])
        #expect(plan[0].settings.seed == s.seed)
        #expect(plan[1].settings.seed == ParallelSession.workerSeed(session: s.seed, worker: 1))
        #expect(plan[1].settings.seed != s.seed)
        // A worker with no share is not started; a time limit holds for each.
        #expect(ParallelSession(settings: Self.settings(.cases(1)), jobs: 3).workers.map(\.index) == [0])
        #expect(ParallelSession(settings: Self.settings(.seconds(7)), jobs: 3).workers
            .allSatisfy { $0.settings.limit == .seconds(7) })

        let two = ParallelSession(settings: s, jobs: 2).run(generate: Self.inTurn(s, jobs: 2))
        #expect(two.cases == 9)
        #expect(two.jobs == 2)
        #expect(two.failures.isEmpty)
        let alone = FuzzSession(settings: plan[0].settings).run().ops + FuzzSession(settings: plan[1].settings).run().ops
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

    @Test("--keep-going: every worker runs to the limit; a repeated failure kind is counted, not kept")
    func keepGoingCollectsDistinctFailures() {
        let s = Self.settings(.cases(12), keepGoing: true)
        let planted: @Sendable (FuzzCase) -> CaseResult = { c in
            var r = CaseRunner.run(c)
            if c.seed % 3 == 0 { r.failure = Failure(kind: "test:thirds", message: "", opIndex: nil) }
            if c.seed % 3 == 1 { r.failure = Failure(kind: "test:others", message: "", opIndex: nil) }
            return r
        }
        let summary = ParallelSession(settings: s, jobs: 2).run(generate: Self.inTurn(s, jobs: 2, runCase: planted))
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
        let two = second.run(generate: { _ in
            Issue.record("the workers started after a corpus failure")
            return ParallelSession.merge([], settings: s, jobs: 2, seconds: 0)
        })
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
