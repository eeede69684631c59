import Foundation
import MMSim
import Synchronization
import Testing
@testable import MMFuzz

/// `mmfuzz run --corpus DIR --coverage-corpus`: a case that makes a
/// coverage counter go from zero to non-zero is saved to the corpus, and
/// replaying the corpus re-establishes what was reached.
///
/// The LLVM profile counters exist only in a build instrumented for
/// coverage (scripts/coverage's), so these tests give the tracker fake
/// counters and cases that "reach" a counter chosen by their content;
/// scripts/coverage --corpus exercises the real ones (its replay of the
/// corpus must reach every line the run reached).
@Suite struct CoverageTests {
    /// Counters a test moves itself.
    final class FakeCounters: CoverageCounters, @unchecked Sendable {
        private let lock = NSLock()
        private var counts: [UInt64]

        init(_ n: Int) { counts = Array(repeating: 0, count: n) }

        func bump(_ i: Int) {
            lock.lock()
            counts[i] += 1
            lock.unlock()
        }

        func withCounters<R>(_ body: (UnsafeBufferPointer<UInt64>) -> R) -> R {
            lock.lock()
            defer { lock.unlock() }
            return counts.withUnsafeBufferPointer { body($0) }
        }
    }

    static let counters = 16

    /// The counter a case "reaches": a function of what it does, so that
    /// the case replayed from the corpus reaches it again.
    static func counter(of c: FuzzCase) -> Int {
        Int(Corpus.contentHash(c).prefix(4), radix: 16)! % counters
    }

    /// Runs no machine: bumps the case's counter, and fails the cases
    /// `fails` says.
    static func runner(_ fake: FakeCounters, fails: @escaping @Sendable (FuzzCase) -> Bool = { _ in false })
        -> @Sendable (FuzzCase) -> CaseResult {
        { c in
            fake.bump(counter(of: c))
            return CaseResult(failure: fails(c) ? Failure(kind: "test:planted", message: "planted", opIndex: nil) : nil,
                              ops: c.ops.count, stats: Stats(), outcomes: OutcomeTally())
        }
    }

    static func settings(_ dir: String, _ tracker: CoverageTracker, cases: Int = 24) -> SessionSettings {
        var s = ParallelSessionTests.settings(.cases(cases), keepGoing: true)
        s.corpus = Corpus(directory: dir)
        s.coverage = tracker
        return s
    }

    /// The session's cases, as it generates them (one variant, no race
    /// cases in the sequential regime).
    static func generated(_ s: SessionSettings, _ n: Int) -> [FuzzCase] {
        let g = CaseGenerator(settings: s.generator)
        return (0 ..< n).map { g.generate(seed: caseSeed(session: s.seed, index: $0), variant: s.variants[0]) }
    }

    @Test("a counter is new once: when it first reads non-zero")
    func trackerCountsEachCounterOnce() {
        let fake = FakeCounters(8)
        fake.bump(2)
        let t = CoverageTracker(source: fake)
        #expect(t.update() == 1)
        #expect(t.update() == 0)
        fake.bump(2)
        #expect(t.update() == 0)
        fake.bump(5)
        fake.bump(7)
        #expect(t.update() == 2)
        #expect(t.reached == (seen: 3, of: 8))
    }

    @Test("the cases that reached a new counter are saved, each once, as cov-HASH.json")
    func newCoverageIsSaved() throws {
        let dir = CorpusTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = FakeCounters(Self.counters)
        var session = FuzzSession(settings: Self.settings(dir, CoverageTracker(source: fake)))
        session.runCase = Self.runner(fake)
        let summary = session.run()

        var firsts: [Int: FuzzCase] = [:]
        for c in Self.generated(session.settings, 24) where firsts[Self.counter(of: c)] == nil {
            firsts[Self.counter(of: c)] = c
        }
        let expected = Set(firsts.values.map { "cov-\(Corpus.contentHash($0)).json" })
        let saved = try Corpus(directory: dir).entries()
        #expect(summary.coverageCases == firsts.count)
        #expect(Set(saved.map(\.name)) == expected)
        #expect(saved.allSatisfy { $0.reproducer.failure == nil })
    }

    @Test("replaying the corpus first re-establishes what was reached: the same run saves nothing new")
    func corpusReplayIsTheBaseline() throws {
        let dir = CorpusTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = FakeCounters(Self.counters)
        var one = ParallelSession(settings: Self.settings(dir, CoverageTracker(source: first)), jobs: 1)
        one.runCase = Self.runner(first)
        let saved = one.run().coverageCases
        #expect(saved > 0)

        // A new process: counters all zero, the corpus on disk.
        let second = FakeCounters(Self.counters)
        var two = ParallelSession(settings: Self.settings(dir, CoverageTracker(source: second)), jobs: 1)
        two.runCase = Self.runner(second)
        let again = two.run()
        #expect(again.corpusReplayed == saved)
        #expect(again.coverageCases == 0)
        #expect(try Corpus(directory: dir).entries().count == saved)
    }

    @Test("a case that fails is saved as a failure, not for its coverage")
    func failuresAreNotSavedForCoverage() throws {
        let dir = CorpusTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = FakeCounters(Self.counters)
        let tracker = CoverageTracker(source: fake)
        var session = FuzzSession(settings: Self.settings(dir, tracker, cases: 8))
        session.runCase = Self.runner(fake, fails: { _ in true })
        let summary = session.run()
        #expect(summary.coverageCases == 0)
        let entries = try Corpus(directory: dir).entries()
        #expect(entries.allSatisfy { !$0.name.hasPrefix("cov-") })
        // Their counters are seen all the same.
        #expect(tracker.reached.seen > 0)
    }

    @Test("without the profile runtime (an ordinary build) the process has no counters")
    func profileCounters() {
        // `swift test` builds without -fprofile-instr-generate; under
        // `swift test --enable-code-coverage` (scripts/coverage --tests)
        // the counters are there, and some have moved by now.
        if let counters = ProfileCounters.process {
            #expect(counters.withCounters { $0.contains { $0 != 0 } })
        }
    }
}
