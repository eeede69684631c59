import Foundation
import MMSim
import Synchronization

/// A fuzzing session on several host threads: `jobs` workers, each a
/// ``FuzzSession`` with machines of its own (every case has its own
/// machine, so workers share nothing but the stop flag and the progress
/// figures) and a session seed of its own derived from the run's
/// (``workerSeed(session:worker:)``: worker 0 keeps the run's seed, so one
/// job is exactly the single-threaded session).
///
/// A limit of cases is shared out (worker w runs `n / jobs` of them, one
/// more for the first `n % jobs`); a limit of seconds holds for each.  The
/// first failure stops every worker (the one that found it shrinks it
/// first), unless ``SessionSettings/keepGoing``, which collects the
/// distinct failures of every worker.  The summary sums the workers'.
public struct ParallelSession {
    public var settings: SessionSettings
    public var jobs: Int
    /// Runs one case (``FuzzSession``'s, for tests).
    var runCase: @Sendable (FuzzCase) -> CaseResult = { CaseRunner.run($0) }

    public init(settings: SessionSettings, jobs: Int) {
        self.settings = settings
        self.jobs = max(1, jobs)
    }

    /// The session seed of worker `worker` of a run seeded with `seed`.
    public static func workerSeed(session seed: UInt64, worker: Int) -> UInt64 {
        worker == 0 ? seed : SplitMix64.mix(seed ^ SplitMix64.mix(0x6a0b_5eed_0000 &+ UInt64(worker)))
    }

    /// What the workers share.
    private final class Shared: Sendable {
        let stop = Atomic<Bool>(false)
        let done = Atomic<Int>(0)
        let state: Mutex<[SessionProgress?]>
        let results: Mutex<[SessionSummary?]>

        init(jobs: Int) {
            state = Mutex(Array(repeating: nil, count: jobs))
            results = Mutex(Array(repeating: nil, count: jobs))
        }
    }

    /// Runs the workers to their limits (or the first failure, or until
    /// `shouldStop`, asked by every worker between cases, answers true);
    /// `progress` is called on the calling thread about once a second with
    /// the workers' figures summed.
    public func run(shouldStop: @escaping @Sendable () -> Bool = { false },
                    progress: ((SessionProgress) -> Void)? = nil) -> SessionSummary {
        let clock = ContinuousClock()
        let start = clock.now
        let replayed = replayCorpus(start: start)
        if !replayed.failures.isEmpty, !settings.keepGoing {
            return replayed
        }
        var summary = generate(shouldStop: shouldStop, progress: progress)
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

    /// The generated cases, on `jobs` workers.
    func generate(shouldStop: @escaping @Sendable () -> Bool,
                  progress: ((SessionProgress) -> Void)?) -> SessionSummary {
        if jobs == 1 {
            var one = FuzzSession(settings: settings)
            one.runCase = runCase
            var s = one.run(shouldStop: shouldStop, progress: progress)
            s.jobs = 1
            return s
        }
        let shared = Shared(jobs: jobs)
        let clock = ContinuousClock()
        let start = clock.now
        var started = 0
        for w in 0 ..< jobs {
            var mine = settings
            mine.seed = Self.workerSeed(session: settings.seed, worker: w)
            if case .cases(let n) = settings.limit {
                let share = n / jobs + (w < n % jobs ? 1 : 0)
                if share == 0 { continue }
                mine.limit = .cases(share)
            }
            let keepGoing = settings.keepGoing
            var session = FuzzSession(settings: mine)
            session.runCase = runCase
            let worker = session
            let thread = Thread {
                var summary = worker.run(
                    shouldStop: { shared.stop.load(ordering: .relaxed) || shouldStop() },
                    progress: { p in shared.state.withLock { $0[w] = p } },
                    found: { if !keepGoing { shared.stop.store(true, ordering: .relaxed) } })
                for i in summary.failures.indices { summary.failures[i].worker = w }
                let final = summary
                shared.state.withLock {
                    $0[w] = SessionProgress(cases: final.cases, ops: final.ops, seconds: final.seconds,
                                            failures: final.failures.count)
                }
                shared.results.withLock { $0[w] = final }
                shared.done.add(1, ordering: .releasing)
            }
            // The linearizer's search recurses: the main thread's room.
            thread.stackSize = 16 << 20
            thread.start()
            started += 1
        }
        var lastReport = clock.now
        while shared.done.load(ordering: .acquiring) < started {
            Thread.sleep(forTimeInterval: 0.05)
            if let progress, clock.now - lastReport >= .seconds(1) {
                lastReport = clock.now
                let d = (clock.now - start).components
                let seconds = Double(d.seconds) + Double(d.attoseconds) * 1e-18
                let each = shared.state.withLock { $0.compactMap { $0 } }
                progress(SessionProgress(cases: each.reduce(0) { $0 + $1.cases },
                                         ops: each.reduce(0) { $0 + $1.ops }, seconds: seconds,
                                         failures: each.reduce(0) { $0 + $1.failures }))
            }
        }
        let d = (clock.now - start).components
        let seconds = Double(d.seconds) + Double(d.attoseconds) * 1e-18
        return Self.merge(shared.results.withLock { $0.compactMap { $0 } }, settings: settings,
                          jobs: jobs, seconds: seconds)
    }

    /// The workers' summaries as one: counts summed, failures in the order
    /// they were found (with keepGoing, one per variant and kind: a repeat
    /// across workers is counted as repeated).
    static func merge(_ parts: [SessionSummary], settings: SessionSettings, jobs: Int,
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
            for (i, n) in p.casesPerVariant.enumerated() { s.casesPerVariant[i] += n }
            s.events.add(p.events.stats, p.events.outcomes)
            s.batches += p.batches
            s.schedules += p.schedules
            s.raceCases += p.raceCases
            s.repeatedFailures += p.repeatedFailures
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
