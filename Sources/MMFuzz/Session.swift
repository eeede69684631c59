import MMSim

/// Kernel events reached, summed over cases (each case has its own
/// machine, so its final counters are its own).
public struct EventTotals: Hashable, Sendable, Codable {
    public var stats = Stats()
    public var outcomes = OutcomeTally()

    public init() {}

    public mutating func add(_ s: Stats, _ o: OutcomeTally) {
        stats.accumulate(s)
        outcomes.add(o)
    }

    /// What reclaim and shared pte tables did, the figures the run's last
    /// line shows: pages reclaimed to swap, pages read back, pte tables
    /// shared by fork and copied to change, and flushes of an entry of a
    /// shared table (all-CPU flushes under sharemask=all).
    public var reclaimAndSharing: ReclaimFigures {
        ReclaimFigures(pagesReclaimed: stats.pagesReclaimed, swapIns: stats.swapIns,
                       tablesShared: stats.ptablesShared, tablesUnshared: stats.ptablesUnshared,
                       sharedFlushes: stats.sharedFlushes)
    }

    /// What transparent huge pages did, the figures the run's last line
    /// shows: 2 MiB faults, huge pmds split, huge pmds zapped by each
    /// gather, and 2 MiB faults fallen back to 4 KiB.
    public var hugePages: HugeFigures {
        HugeFigures(faults: stats.thpFaults, splits: stats.thpSplits, zapsVector: stats.thpZapsVector,
                    zapsInplace: stats.thpZapsInplace, fallbacks: stats.thpFallbacks)
    }

    /// (JSON key, label, count), in the order the summary prints them:
    /// every event and peak counter of the C list (a gauge, read after
    /// every mm exited, says nothing), then the call results.
    public var rows: [(key: String, label: String, count: UInt64)] {
        let s = stats, o = outcomes
        let counters = Stats.all.filter { $0.kind != .gauge }.map { c in
            (key: c.name, label: c.kind == .peak ? c.description + " (max)" : c.description, count: s[c])
        }
        return counters + [
            ("segv", "results: SIGSEGV", o.segv),
            ("oom", "results: OOM in a fault", o.oom),
            ("enomem", "results: ENOMEM", o.enomem),
            ("einval", "results: EINVAL", o.einval),
            ("esrch", "results: ESRCH", o.esrch),
            ("otherErrno", "results: other errno", o.otherErrno),
            ("adoptedProtections", "mprotects stopped by ENOMEM (adopted)", o.adoptedProtections),
            ("adoptedDrops", "MADV_DONTNEEDs stopped by ENOMEM (adopted)", o.adoptedDrops),
            ("adoptedHugePages", "2 MiB pages faulted in (adopted)", o.adoptedHugePages),
        ]
    }
}

/// Reclaim's and shared tables' figures of a run (``EventTotals/reclaimAndSharing``).
public struct ReclaimFigures: Hashable, Sendable, Codable {
    public var pagesReclaimed: UInt64
    public var swapIns: UInt64
    public var tablesShared: UInt64
    public var tablesUnshared: UInt64
    public var sharedFlushes: UInt64

    public init(pagesReclaimed: UInt64, swapIns: UInt64, tablesShared: UInt64, tablesUnshared: UInt64,
                sharedFlushes: UInt64) {
        self.pagesReclaimed = pagesReclaimed
        self.swapIns = swapIns
        self.tablesShared = tablesShared
        self.tablesUnshared = tablesUnshared
        self.sharedFlushes = sharedFlushes
    }

    /// `reclaimed 120, swapped in 40, tables shared 9 unshared 7, shared
    /// flushes 3`.
    public var line: String {
        "reclaimed \(pagesReclaimed), swapped in \(swapIns), tables shared \(tablesShared) "
            + "unshared \(tablesUnshared), shared flushes \(sharedFlushes)"
    }
}

/// Transparent huge pages' figures of a run (``EventTotals/hugePages``).
public struct HugeFigures: Hashable, Sendable, Codable {
    /// `thp_faults`: faults that mapped a 2 MiB page.
    public var faults: UInt64
    /// `thp_splits`: huge pmds split into pte tables.
    public var splits: UInt64
    /// `thp_zaps_vector`, `thp_zaps_inplace`: huge pmds zapped, by gather.
    public var zapsVector: UInt64
    public var zapsInplace: UInt64
    /// `thp_fallbacks`: 2 MiB faults that fell back to a 4 KiB page.
    public var fallbacks: UInt64

    public init(faults: UInt64, splits: UInt64, zapsVector: UInt64, zapsInplace: UInt64, fallbacks: UInt64) {
        self.faults = faults
        self.splits = splits
        self.zapsVector = zapsVector
        self.zapsInplace = zapsInplace
        self.fallbacks = fallbacks
    }

    /// `huge faults 12, splits 5, huge zaps 3 vector 4 inplace, fallbacks 2`.
    public var line: String {
        "huge faults \(faults), splits \(splits), huge zaps \(zapsVector) vector \(zapsInplace) inplace, "
            + "fallbacks \(fallbacks)"
    }
}

/// What a fuzzing session should do.
public struct SessionSettings: Sendable {
    public enum Limit: Sendable, Hashable {
        case cases(Int)
        case seconds(Double)
    }

    public var seed: UInt64
    public var variants: [Variant]
    public var generator: GeneratorSettings
    public var limit: Limit
    /// Shrink a failure before reporting it.
    public var shrink: Bool
    public var shrinkSeconds: Double
    /// Go on after a failure, collecting distinct ones (a variant and a
    /// failure kind not seen before); a repeat is counted, not shrunk.
    public var keepGoing: Bool
    /// Cases replayed before any is generated, and where failures are
    /// saved (``Corpus``; ``ParallelSession`` does both).
    public var corpus: Corpus?
    /// With a corpus: every case that makes a counter of this tracker go
    /// from zero to non-zero (that reaches code no case had reached) is
    /// saved there too, as `cov-<hash>.json` (``FuzzSession``).
    public var coverage: CoverageTracker?

    public init(seed: UInt64, variants: [Variant], generator: GeneratorSettings = GeneratorSettings(),
                limit: Limit = .seconds(30), shrink: Bool = true, shrinkSeconds: Double = 60,
                keepGoing: Bool = false, corpus: Corpus? = nil, coverage: CoverageTracker? = nil) {
        self.seed = seed
        self.variants = variants
        self.generator = generator
        self.limit = limit
        self.shrink = shrink
        self.shrinkSeconds = shrinkSeconds
        self.keepGoing = keepGoing
        self.corpus = corpus
        self.coverage = coverage
    }
}

/// A failure found by a session.
public struct FoundFailure: Sendable {
    public var variant: Variant
    /// The case as generated.
    public var original: FuzzCase
    public var originalFailure: Failure
    /// The case after shrinking (the original when not shrunk).
    public var shrunk: FuzzCase
    public var failure: Failure
    public var secondsToFind: Double
    public var shrinkRuns: Int
    /// Index of the case in the session.
    public var caseIndex: Int
    /// The worker that found it (0 with one job), and that worker's
    /// session seed: `mmfuzz run --jobs 1 --seed <workerSeed>` with the
    /// same variants and regime meets the case again at ``caseIndex``.
    public var worker = 0
    public var workerSeed: UInt64 = 0
    /// Its file in the corpus: the one replayed, or the one it was saved
    /// to (nil without a corpus).
    public var corpusFile: String?
}

/// Progress, reported about once a second.
public struct SessionProgress: Sendable, Codable {
    public var cases: Int
    public var ops: Int
    public var seconds: Double
    public var failures: Int

    public init(cases: Int, ops: Int, seconds: Double, failures: Int) {
        self.cases = cases
        self.ops = ops
        self.seconds = seconds
        self.failures = failures
    }

    public var opsPerSecond: Double { seconds > 0 ? Double(ops) / seconds : 0 }
}

/// The result of a session.
public struct SessionSummary: Sendable, Codable {
    public var seed: UInt64
    /// Cases generated (a race case counts once, however many schedules
    /// it was tried under).
    public var cases: Int
    public var ops: Int
    public var seconds: Double
    public var variants: [Variant]
    public var casesPerVariant: [Int]
    public var events: EventTotals
    public var failures: [FoundFailure]
    /// Distinct batches generated (a race case's is one, however many
    /// schedules it was tried under), and batch runs: schedules tried.
    public var batches = 0
    public var schedules = 0
    /// Race cases generated (``RaceGenerator``).
    public var raceCases = 0
    /// Failures of a variant and kind already found (``SessionSettings/keepGoing``).
    public var repeatedFailures = 0
    /// Workers the run had (``ParallelSession``).
    public var jobs = 1
    /// Corpus cases replayed before the generated ones.
    public var corpusReplayed = 0
    /// Cases saved to the corpus for reaching new code (``SessionSettings/coverage``).
    public var coverageCases = 0

    public var opsPerSecond: Double { seconds > 0 ? Double(ops) / seconds : 0 }
}

/// The seed of case `index` of a session seeded with `seed`.
public func caseSeed(session seed: UInt64, index: Int) -> UInt64 {
    SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(truncatingIfNeeded: index) &+ 0x51ed_270b))
}

/// A fuzzing session: generates cases round-robin over the variants,
/// runs each checked, and stops at the first failure, which it shrinks.
///
/// Unless the regime is sequential, every ``racePeriod``-th case is a race
/// case (``RaceGenerator``), run ``RaceGenerator/tries`` times, each time
/// under another schedule of its batch; race cases take their own turns
/// over the variants.
///
/// With ``SessionSettings/coverage`` and a corpus, every run of a case (a
/// race case's under each schedule) that makes a coverage counter go from
/// zero to non-zero is saved to the corpus as it ran (its batches'
/// schedules pinned), unless it failed (a failure is saved as such);
/// counters already non-zero when the session starts (the corpus
/// replayed) are not new.
public struct FuzzSession: Sendable {
    /// Mixed into the session's seed for the race cases' seeds.
    static let raceStream: UInt64 = 0x7ace_ca5e_5eed_0001

    /// One case in this many is a race case, by regime.  In the mixed
    /// regime race cases take about 30% of the time (a race case's 12
    /// tries cost about as much as two plain cases), so that what plain
    /// cases reach they still reach at 70% of their old pace.
    static func racePeriod(_ c: GeneratorSettings.Concurrency) -> Int? {
        switch c {
        case .off: nil
        case .mixed: 5
        case .only: 2
        }
    }

    public var settings: SessionSettings
    /// Runs one case (tests, and `mmfuzz run --plant-failure`, put a
    /// failure where they want one).
    public var runCase: @Sendable (FuzzCase) -> CaseResult = { CaseRunner.run($0) }

    public init(settings: SessionSettings) {
        self.settings = settings
    }

    /// Runs until the limit or the first failure (with
    /// ``SessionSettings/keepGoing``, the limit), or until `shouldStop`
    /// (asked between cases, and between the tries of a race case)
    /// answers true.  `progress` is called about once a second; `found`
    /// as soon as a failure is found, before it is shrunk.
    public func run(shouldStop: () -> Bool = { false },
                    progress: ((SessionProgress) -> Void)? = nil,
                    found: (() -> Void)? = nil) -> SessionSummary {
        let clock = ContinuousClock()
        let start = clock.now
        let generator = CaseGenerator(settings: settings.generator)
        var summary = SessionSummary(seed: settings.seed, cases: 0, ops: 0, seconds: 0,
                                     variants: settings.variants,
                                     casesPerVariant: Array(repeating: 0, count: settings.variants.count),
                                     events: EventTotals(), failures: [])
        var lastReport = start
        var index = 0
        func elapsed() -> Double {
            let d = clock.now - start
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        guard !settings.variants.isEmpty else { return summary }

        let races = RaceGenerator(settings: settings.generator)
        let period = Self.racePeriod(settings.generator.concurrency)
        var plain = 0
        settings.coverage?.update()
        while true {
            if case .cases(let n) = settings.limit, index >= n { break }
            if case .seconds(let s) = settings.limit, index > 0, elapsed() >= s { break }
            if shouldStop() { break }

            let race = period.map { index % $0 == $0 - 1 } ?? false
            let turn = race ? summary.raceCases : plain
            // Race cases draw from a stream of their own: the plain cases
            // are those of a session without race cases, in order.
            let seed = race ? caseSeed(session: settings.seed ^ Self.raceStream, index: turn)
                            : caseSeed(session: settings.seed, index: turn)
            let v = turn % settings.variants.count
            let variant = settings.variants[v]
            var fuzzCase = race ? races.generate(seed: seed, variant: variant)
                                : generator.generate(seed: seed, variant: variant)
            summary.cases += 1
            summary.casesPerVariant[v] += 1
            if race {
                summary.raceCases += 1
                summary.batches += 1
            } else {
                plain += 1
            }
            // A plain case runs once; a race case under one schedule after
            // another, until one fails or the time is up.
            var result: CaseResult
            var tries = 0
            var steps = 40
            repeat {
                if tries > 0 {
                    fuzzCase = fuzzCase.withLastBatch(
                        schedule: RaceGenerator.schedule(seed, try: tries, steps: steps))
                }
                result = runCase(fuzzCase)
                if let coverage = settings.coverage, let corpus = settings.corpus, coverage.update() > 0,
                   result.failure == nil,
                   (try? corpus.add(fuzzCase.pinning(result.schedules), failure: nil, prefix: "cov")) != nil {
                    summary.coverageCases += 1
                }
                tries += 1
                steps = result.schedules.values.first.map { $0.reduce(0) { $0 + $1.steps } } ?? steps
                if !race { summary.batches += result.batches }
                summary.schedules += result.batches
                summary.ops += result.ops
                summary.events.add(result.stats, result.outcomes)
                if case .seconds(let s) = settings.limit, elapsed() >= s { break }
                if shouldStop() { break }
            } while race && tries < RaceGenerator.tries && result.failure == nil

            if let failure = result.failure,
               settings.keepGoing, summary.failures.contains(where: {
                   $0.variant == variant && $0.originalFailure.kind == failure.kind
               }) {
                summary.repeatedFailures += 1
            } else if let failure = result.failure {
                found?()
                let foundAt = elapsed()
                // Batches replay the interleavings they ran.
                let pinned = fuzzCase.pinning(result.schedules)
                var shrunk = pinned
                var shrunkFailure = failure
                var runs = 0
                if settings.shrink {
                    let runCase = self.runCase
                    var shrinker = Shrinker(maxSeconds: settings.shrinkSeconds) { runCase($0).failure }
                    (shrunk, shrunkFailure) = shrinker.shrink(pinned, failure: failure)
                    runs = shrinker.runs
                    let last = runCase(shrunk)
                    shrunk = shrunk.pinning(last.schedules)
                    shrunkFailure = last.failure ?? shrunkFailure
                }
                summary.failures.append(FoundFailure(
                    variant: variant, original: pinned, originalFailure: failure, shrunk: shrunk,
                    failure: shrunkFailure, secondsToFind: foundAt, shrinkRuns: runs, caseIndex: index,
                    workerSeed: settings.seed))
                if !settings.keepGoing {
                    summary.seconds = foundAt
                    return summary
                }
            }
            index += 1

            if let progress, clock.now - lastReport >= .seconds(1) {
                lastReport = clock.now
                progress(SessionProgress(cases: summary.cases, ops: summary.ops, seconds: elapsed(),
                                         failures: summary.failures.count))
            }
        }
        summary.seconds = elapsed()
        return summary
    }
}
