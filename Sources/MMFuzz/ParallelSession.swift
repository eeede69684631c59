import Foundation
import MMSim

/// A fuzzing run over `jobs` workers (`mmfuzz run --jobs N`): the plan
/// (each worker's session seed and share of a case limit), the corpus
/// replayed first and saved to last, and the workers' summaries merged
/// into one.
///
/// The workers are processes, as libFuzzer's `-jobs` runs them: `mmfuzz
/// run` starts a copy of itself per worker (`Sources/mmfuzz/Workers.swift`),
/// each a ``FuzzSession`` of its own that reports back in
/// ``WorkerReport`` lines, and passes their merged summary back through
/// ``run(shouldStop:progress:generate:)``'s `generate`.  (Threads of one
/// process lost a fifth of the second core to contention in the
/// allocator and the runtime: docs/RESULTS.md, section 14.)  One job runs
/// in this process.
///
/// Worker w's session seed is ``workerSeed(session:worker:)`` (worker 0
/// keeps the run's seed, so one job is exactly the single-process
/// session).  A limit of cases is shared out (worker w runs `n / jobs` of
/// them, one more for the first `n % jobs`); a limit of seconds holds for
/// each.  The first failure stops every worker (the one that found it
/// shrinks it first), unless ``SessionSettings/keepGoing``, which collects
/// the distinct failures of every worker.
public struct ParallelSession {
    public var settings: SessionSettings
    public var jobs: Int
    /// Runs one case: the corpus's here, and the generated ones of one job
    /// (tests, and `mmfuzz run --plant-failure`, put a failure where they
    /// want one).
    public var runCase: @Sendable (FuzzCase) -> CaseResult = { CaseRunner.run($0) }

    public init(settings: SessionSettings, jobs: Int) {
        self.settings = settings
        self.jobs = max(1, jobs)
    }

    /// The session seed of worker `worker` of a run seeded with `seed`.
    public static func workerSeed(session seed: UInt64, worker: Int) -> UInt64 {
        worker == 0 ? seed : SplitMix64.mix(seed ^ SplitMix64.mix(0x6a0b_5eed_0000 &+ UInt64(worker)))
    }

    /// One worker of the run: its index and its session's settings.
    public struct Worker: Sendable {
        public var index: Int
        public var settings: SessionSettings
    }

    /// The workers that have work: each with its seed and its share of a
    /// case limit (a worker whose share is 0 is left out); none replays
    /// the corpus or saves to it, which the run does once.
    public var workers: [Worker] {
        (0 ..< jobs).compactMap { w in
            var mine = settings
            mine.seed = Self.workerSeed(session: settings.seed, worker: w)
            mine.corpus = nil
            if case .cases(let n) = settings.limit {
                let share = n / jobs + (w < n % jobs ? 1 : 0)
                if share == 0 { return nil }
                mine.limit = .cases(share)
            }
            return Worker(index: w, settings: mine)
        }
    }

    /// Replays the corpus, then runs the generated cases to their limits
    /// (or the first failure, or until `shouldStop`, asked between cases,
    /// answers true), then saves the new failures to the corpus.  The
    /// generated cases are `generate`'s, given ``workers`` (it returns
    /// their summary, ``merge(_:settings:jobs:seconds:)``), or without
    /// `generate` one ``FuzzSession``'s in this process, with `progress`
    /// called about once a second (one job only).
    public func run(shouldStop: @escaping @Sendable () -> Bool = { false },
                    progress: ((SessionProgress) -> Void)? = nil,
                    generate: (([Worker]) -> SessionSummary)? = nil) -> SessionSummary {
        precondition(jobs == 1 || generate != nil, "more than one job needs worker processes")
        let clock = ContinuousClock()
        let start = clock.now
        let replayed = replayCorpus(start: start)
        if !replayed.failures.isEmpty, !settings.keepGoing {
            return replayed
        }
        var summary: SessionSummary
        if let generate {
            summary = generate(workers)
        } else {
            var mine = workers.first?.settings ?? settings
            // One job, in this process, where the corpus was replayed:
            // the cases that reach new code go to the corpus too.
            if mine.coverage != nil { mine.corpus = settings.corpus }
            var one = FuzzSession(settings: mine)
            one.runCase = runCase
            summary = one.run(shouldStop: shouldStop, progress: progress)
        }
        summary.jobs = jobs
        // The new failures go to the corpus; the replayed ones come first.
        if let corpus = settings.corpus {
            for i in summary.failures.indices {
                let f = summary.failures[i]
                if let path = try? corpus.add(f.shrunk, failure: f.failure) {
                    summary.failures[i].corpusFile = (path as NSString).lastPathComponent
                }
            }
        }
        summary.cases += replayed.cases
        summary.ops += replayed.ops
        summary.events.add(replayed.events.stats, replayed.events.outcomes)
        summary.corpusReplayed = replayed.corpusReplayed
        summary.failures = replayed.failures + summary.failures
        return summary
    }

    /// Runs every case of the corpus, in name order: a summary of them
    /// (a failure found is reported as found, not shrunk again).
    func replayCorpus(start: ContinuousClock.Instant) -> SessionSummary {
        var s = SessionSummary(seed: settings.seed, cases: 0, ops: 0, seconds: 0, variants: settings.variants,
                               casesPerVariant: Array(repeating: 0, count: settings.variants.count),
                               events: EventTotals(), failures: [])
        s.jobs = jobs
        guard let corpus = settings.corpus, let entries = try? corpus.entries() else { return s }
        for (name, repro) in entries {
            guard let c = try? repro.fuzzCase() else { continue }
            let r = runCase(c)
            s.cases += 1
            s.corpusReplayed += 1
            s.ops += r.ops
            s.events.add(r.stats, r.outcomes)
            if let f = r.failure {
                let d = (ContinuousClock.now - start).components
                var found = FoundFailure(
                    variant: c.variant, original: c, originalFailure: f, shrunk: c, failure: f,
                    secondsToFind: Double(d.seconds) + Double(d.attoseconds) * 1e-18, shrinkRuns: 0,
                    caseIndex: s.corpusReplayed - 1, workerSeed: settings.seed)
                found.corpusFile = name
                s.failures.append(found)
                if !settings.keepGoing { break }
            }
        }
        let d = (ContinuousClock.now - start).components
        s.seconds = Double(d.seconds) + Double(d.attoseconds) * 1e-18
        return s
    }

    /// The workers' summaries as one, lasting `seconds`: counts summed,
    /// failures in the order they were found (with keepGoing, one per
    /// variant and kind: a repeat across workers is counted as repeated).
    public static func merge(_ parts: [SessionSummary], settings: SessionSettings, jobs: Int,
                             seconds: Double) -> SessionSummary {
        var s = SessionSummary(seed: settings.seed, cases: 0, ops: 0, seconds: seconds,
                               variants: settings.variants,
                               casesPerVariant: Array(repeating: 0, count: settings.variants.count),
                               events: EventTotals(), failures: [])
        s.jobs = jobs
        var failures: [FoundFailure] = []
        for p in parts {
            s.cases += p.cases
            s.ops += p.ops
            for (i, n) in p.casesPerVariant.enumerated() where i < s.casesPerVariant.count {
                s.casesPerVariant[i] += n
            }
            s.events.add(p.events.stats, p.events.outcomes)
            s.batches += p.batches
            s.schedules += p.schedules
            s.raceCases += p.raceCases
            s.repeatedFailures += p.repeatedFailures
            s.coverageCases += p.coverageCases
            failures += p.failures
        }
        failures.sort { $0.secondsToFind < $1.secondsToFind }
        for f in failures {
            if settings.keepGoing, s.failures.contains(where: {
                $0.variant == f.variant && $0.originalFailure.kind == f.originalFailure.kind
            }) {
                s.repeatedFailures += 1
            } else {
                s.failures.append(f)
            }
        }
        return s
    }
}
