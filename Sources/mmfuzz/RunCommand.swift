import ArgumentParser
import Foundation
import MMFuzz
import MMSim

/// `mmfuzz run`: differential fuzzing of the machine against the reference
/// model, on every variant, until a time or case limit or the first
/// failure.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Fuzz the kernel against the reference model (the default command).",
        discussion: """
            Generates cases of 50-300 operations from the seed (mm creation, \
            fork, exit, exec, mmap, munmap, mprotect, madvise, context \
            switches, loads and stores, injected allocation failures, and bad \
            calls), round-robin over the variants (default: every variant the \
            simulator accepts), and checks every result against the model, the \
            machine's checkers after every call, the whole state at \
            checkpoints, and leaks at the end of each case. Stops at the first \
            failure, shrinks it, and writes a reproducer for `mmfuzz replay`.

            Some operations run as batches on several CPUs at once (the \
            concurrent regime): the CPUs interleave at every page-table \
            write, lock operation, preemption point, walker step, user access \
            and IPI under a seeded random or PCT scheduler; the checkers run \
            at every step and the batch's results must be explained by some \
            order of its calls. --concurrent makes batches most of the work, \
            --sequential turns them off. A reproducer records the exact \
            interleaving of each batch.

            The last line is a greppable summary: `Done N cases, M ops in S \
            s (R ops/s), reclaimed P, swapped in I, tables shared T unshared \
            U, shared flushes X, huge faults H, splits L, huge zaps V vector \
            W inplace, fallbacks B, F failures, stop REASON` (pages reclaimed \
            to swap and read back, pte tables shared by fork and copied to \
            change, flushes of entries of shared tables; faults that mapped \
            a 2 MiB page, huge pmds split, huge pmds zapped by each gather, \
            2 MiB faults fallen back to 4 KiB; on standard error with \
            --json, whose object is then all of standard output). Ctrl-C or SIGTERM stops \
            after the case running, prints the summary so far (with --json \
            too, stopReason "interrupted") and exits with 130. --save is \
            checked before the run starts.

            --jobs N runs N workers, each a process of its own (default: \
            the number of cores), with a seed of its own derived from --seed \
            (worker 0 keeps it, so --jobs 1 is the run in this one process); \
            --cases is shared out among them, --time holds for each, and the \
            progress line and the summary add them up. --corpus cases are \
            replayed first, once, and failures saved once. The first failure \
            stops every worker (--keep-going: every worker goes on to the \
            limit, and each distinct failure, by variant and kind, is shrunk \
            and saved). A failure's report names its worker and the \
            worker's seed: `--jobs 1 --seed WORKER_SEED` meets the case \
            again. A worker that dies without reporting (a crash) stops the \
            run with status 1 and is named with its seed on standard error.

            --corpus DIR replays the cases in DIR first and saves every \
            failure there (crash-HASH.json). With --coverage-corpus, in a \
            build whose C is instrumented for coverage (scripts/coverage \
            makes one), every case that makes an LLVM profile counter go \
            from zero to non-zero (that reaches code no case had reached, \
            the corpus replayed included) is saved there too, as it ran \
            (cov-HASH.json); one job (the corpus is replayed, and what it \
            reached known, in this process alone).

            Exit status: 0 when nothing was found, 1 when a failure was found, \
            2 for bad command-line input, 130 when interrupted.
            """
    )

    @Option(help: "The session's seed (default 1).")
    var seed: UInt64?

    @Flag(help: "Take the seed from the clock (it is printed).")
    var randomSeed = false

    @Option(help: "Run for this many seconds (default 30).")
    var time: Double?

    @Option(help: "Run this many cases instead of a time.")
    var cases: Int?

    @OptionGroup var machine: MachineOptions

    @Flag(help: "Mostly batches of operations run on several CPUs at once.")
    var concurrent = false

    @Flag(help: "Only one operation at a time (no batches).")
    var sequential = false

    @Option(help: "Directory for reproducers.")
    var save: String = "./mmfuzz-out"

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @Flag(help: "Print a progress line every second even when stderr is not a terminal.")
    var progress = false

    @Flag(inversion: .prefixedNo, help: "Shrink a failing case before saving it.")
    var shrink = true

    @Option(help: "Worker processes (default: the number of cores).")
    var jobs: Int?

    @Flag(help: "Go on after a failure, collecting the distinct ones.")
    var keepGoing = false

    @Option(help: "A corpus directory: its cases are replayed first, and every failure is saved there.")
    var corpus: String?

    @Flag(help: "Also save to --corpus every case that reaches new kernel code (a build instrumented for coverage, as scripts/coverage makes; one job).")
    var coverageCorpus = false

    @Option(help: "Seconds allowed for shrinking.")
    var shrinkTime: Double = 60

    /// Internal: this process is worker I of a run with --jobs N, started
    /// by it (``WorkerProcesses``): it reports in ``WorkerReport`` lines on
    /// standard output and stops when its standard input ends.
    @Option(help: .hidden)
    var workerIndex: Int?

    /// Test-only: a case generated from this seed fails (kind
    /// `test:planted`) once it has run, so that tests reach the failure
    /// paths of a run, its workers included, without a bug in the kernel.
    @Option(name: .customLong("plant-failure"), help: .hidden)
    var plantedFailures: [UInt64] = []

    mutating func validate() throws {
        if concurrent && sequential {
            throw ValidationError("--concurrent and --sequential exclude each other")
        }
        if seed != nil && randomSeed {
            throw ValidationError("--seed and --random-seed exclude each other")
        }
        if time != nil && cases != nil {
            throw ValidationError("give --time or --cases, not both")
        }
        if let time, !(time > 0 && time <= 1e7) {
            throw ValidationError("--time must be a positive number of seconds, not \(time)")
        }
        if let cases, cases < 1 {
            throw ValidationError("--cases must be at least 1, not \(cases)")
        }
        if !(shrinkTime >= 0 && shrinkTime <= 1e6) {
            throw ValidationError("--shrink-time must be a non-negative number of seconds")
        }
        if save.isEmpty {
            throw ValidationError("--save needs a directory")
        }
        try OutputPath.check("--save", save)
        if let corpus {
            try OutputPath.check("--corpus", corpus)
            do {
                _ = try Corpus(directory: corpus).entries()
            } catch {
                throw ValidationError("--corpus \(corpus): \(error.reason)")
            }
        }
        if let jobs, !(1 ... 256).contains(jobs) {
            throw ValidationError("--jobs must be 1 to 256, not \(jobs)")
        }
        if let workerIndex, !(0 ..< 256).contains(workerIndex) || jobs != 1 || corpus != nil {
            throw ValidationError("--worker-index is the run's own, with --jobs 1 and no --corpus")
        }
        if coverageCorpus {
            if corpus == nil {
                throw ValidationError("--coverage-corpus needs --corpus DIR, where the cases go")
            }
            if let jobs, jobs > 1 {
                throw ValidationError("--coverage-corpus needs --jobs 1: the corpus is replayed, and what it reached known, in this process alone")
            }
            if ProfileCounters.process == nil {
                throw ValidationError("--coverage-corpus: this mmfuzz has no coverage counters; build it as scripts/coverage does (the C with -fprofile-instr-generate)")
            }
        }
        if machine.fuzzVariants.isEmpty {
            throw ValidationError("the simulator refuses every variant asked for with \(machine.hardware)")
        }
    }

    func run() throws {
        let sessionSeed: UInt64
        if randomSeed {
            var g = SplitMix64(seed: UInt64(Date().timeIntervalSince1970 * 1e6) ^ UInt64(getpid()))
            sessionSeed = g.next()
        } else {
            sessionSeed = seed ?? 1
        }
        let variants = machine.fuzzVariants
        let limit: SessionSettings.Limit = cases.map { .cases($0) } ?? .seconds(time ?? 30)
        let settings = SessionSettings(
            seed: sessionSeed, variants: variants,
            generator: GeneratorSettings(cpus: machine.cpus, frames: machine.framesOrDefault,
                                         concurrency: concurrent ? .only : sequential ? .off : .mixed),
            limit: limit, shrink: shrink, shrinkSeconds: shrinkTime, keepGoing: keepGoing,
            corpus: corpus.map { Corpus(directory: $0) },
            coverage: coverageCorpus ? ProfileCounters.process.map { CoverageTracker(source: $0) } : nil)
        if let workerIndex {
            runWorker(settings, index: workerIndex)
            return
        }
        let jobs = self.jobs ?? (coverageCorpus ? 1 : ProcessInfo.processInfo.activeProcessorCount)

        let showProgress = progress || stderrIsTerminal
        let terminal = stderrIsTerminal
        let regime = concurrent ? "concurrent" : sequential ? "sequential" : "mixed"
        if !json {
            let what = cases.map { "\($0) cases" } ?? "\(time ?? 30) s"
            print("mmfuzz run: seed \(sessionSeed), \(what), \(variants.count) variants, \(machine.hardware), \(regime) regime, \(jobs) \(jobs == 1 ? "job" : "jobs")")
            for (i, v) in variants.enumerated() {
                print("  [\(i + 1)] \(v.name)")
            }
        }
        Interrupt.install()
        var printedProgress = false
        let progressLine: ((SessionProgress) -> Void)? = showProgress ? { p in
            let line = String(format: "[mmfuzz] %6.1fs  cases %d  ops %@  ops/s %@  failures %d",
                              p.seconds, p.cases, compact(Double(p.ops)), compact(p.opsPerSecond),
                              p.failures)
            if terminal {
                printError("\r" + line + "\u{1B}[K", terminator: "")
            } else {
                printError(line)
            }
            printedProgress = true
        } : nil
        var session = ParallelSession(settings: settings, jobs: jobs)
        session.runCase = caseRunner
        var lost: [WorkerProcesses.Lost] = []
        let summary = session.run(
            shouldStop: { Interrupt.requested }, progress: progressLine,
            generate: jobs == 1 ? nil : { workers in
                let processes = WorkerProcesses(arguments: { workerArguments($0, of: settings) },
                                                settings: settings, jobs: jobs)
                let (merged, gone) = processes.run(workers, shouldStop: { Interrupt.requested },
                                                   progress: progressLine)
                lost = gone
                return merged
            })
        if printedProgress && terminal {
            printError("")
        }

        var reports: [FailureReport] = []
        for found in summary.failures {
            let path = try saveReproducer(found, sessionSeed: sessionSeed)
            reports.append(FailureReport(
                variant: found.variant.name, kind: found.failure.kind,
                message: found.failure.message, reproducer: path,
                shrunkOps: found.shrunk.ops.count, originalOps: found.original.ops.count,
                secondsToFind: found.secondsToFind, shrinkRuns: found.shrinkRuns,
                caseSeed: found.original.seed, worker: found.worker, workerSeed: found.workerSeed,
                caseIndex: found.caseIndex, corpusFile: found.corpusFile))
        }

        let stop: StopReason = !summary.failures.isEmpty ? .failure : Interrupt.requested ? .interrupted
            : !lost.isEmpty ? .failure : .limit
        if json {
            let config = RunConfig(command: "run", cpus: machine.cpus, frames: machine.framesOrDefault,
                                   regime: regime, seed: sessionSeed, variants: variants.map(\.name))
            print(try jsonText(RunSummaryJSON(summary, failures: reports, config: config, stopReason: stop)))
            for r in reports {
                printError("reproducer: \(r.reproducer)")
            }
        } else {
            print(Self.table(summary))
            for (found, r) in zip(summary.failures, reports) {
                print()
                print("FAILURE on \(found.variant.name) after \(String(format: "%.2f", found.secondsToFind)) s (case \(found.caseIndex), seed \(found.original.seed))")
                if let file = found.corpusFile {
                    print("  corpus: \(file)" + (found.shrinkRuns == 0 && found.original == found.shrunk
                        ? " (replayed from the corpus)" : " (saved to the corpus)"))
                }
                if summary.jobs > 1 {
                    print("  worker \(found.worker) of \(summary.jobs), worker seed \(found.workerSeed): "
                        + "--jobs 1 --seed \(found.workerSeed) meets it alone")
                }
                print("  found:  \(found.originalFailure.kind) with \(found.original.ops.count) ops")
                print("  shrunk: \(found.failure.kind) with \(found.shrunk.ops.count) ops (\(found.shrinkRuns) runs)")
                print("  \(found.failure.message)")
                print("reproducer: \(r.reproducer)")
                print("replay with: mmfuzz replay \(r.reproducer)")
            }
            print()
        }
        // Last: on standard output, or on standard error after the JSON.
        let done = String(format: "Done %d cases, %d ops in %.2f s (%.0f ops/s), %@, %@, %d failures, stop %@",
                          summary.cases, summary.ops, summary.seconds, summary.opsPerSecond,
                          summary.events.reclaimAndSharing.line, summary.events.hugePages.line,
                          summary.failures.count, stop.rawValue)
        if json { printError(done) } else { print(done) }
        for l in lost {
            printError("mmfuzz: worker \(l.index) of \(jobs) (seed \(l.seed)) ended without reporting (\(l.how)); "
                + "--jobs 1 --seed \(l.seed) reruns it alone")
        }
        try Interrupt.exitIfRequested()
        if !summary.failures.isEmpty || !lost.isEmpty {
            throw ExitCode.failure
        }
    }

    /// Runs the cases: each as ``CaseRunner`` does, with a planted failure
    /// where --plant-failure says.
    private var caseRunner: @Sendable (FuzzCase) -> CaseResult {
        let planted = Set(plantedFailures)
        if planted.isEmpty { return { CaseRunner.run($0) } }
        return { c in
            var r = CaseRunner.run(c)
            if planted.contains(c.seed) {
                r.failure = Failure(kind: "test:planted", message: "planted by --plant-failure \(c.seed)")
            }
            return r
        }
    }

    /// Worker `w`'s command line (after the executable): this run's
    /// options, its seed and its share of the limit, one job.
    private func workerArguments(_ w: ParallelSession.Worker, of settings: SessionSettings) -> [String] {
        var a = ["run", "--worker-index", "\(w.index)", "--jobs", "1", "--seed", "\(w.settings.seed)"]
        switch w.settings.limit {
        case .cases(let n): a += ["--cases", "\(n)"]
        case .seconds(let s): a += ["--time", "\(s)"]
        }
        for v in settings.variants {
            a += ["--variant", v.description]
        }
        a += ["--cpus", "\(machine.cpus)", "--frames", "\(machine.framesOrDefault)"]
        if concurrent { a.append("--concurrent") }
        if sequential { a.append("--sequential") }
        if !shrink { a.append("--no-shrink") }
        a += ["--shrink-time", "\(shrinkTime)", "--save", save]
        if keepGoing { a.append("--keep-going") }
        for seed in plantedFailures {
            a += ["--plant-failure", "\(seed)"]
        }
        return a
    }

    /// A worker's run (``WorkerProcesses``): its session, reported on
    /// standard output; it stops early when its standard input ends (the
    /// run asks, or has gone) or at SIGINT or SIGTERM.  Its failures are
    /// saved by the run, not here.
    private func runWorker(_ settings: SessionSettings, index: Int) {
        Interrupt.install()
        var session = FuzzSession(settings: settings)
        session.runCase = caseRunner
        var summary = session.run(shouldStop: { Interrupt.requested || WorkerControl.stopRequested() },
                                  progress: { WorkerControl.send(.progress($0)) },
                                  found: { WorkerControl.send(.found) })
        for i in summary.failures.indices {
            summary.failures[i].worker = index
        }
        WorkerControl.send(.summary(summary))
    }

    /// Writes the shrunk case; returns its path.
    private func saveReproducer(_ found: FoundFailure, sessionSeed: UInt64) throws -> String {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: save, withIntermediateDirectories: true)
        } catch {
            printError("mmfuzz: cannot create \(save): \(error.localizedDescription)")
            throw ExitCode(2)
        }
        let v = found.variant
        let kind = found.failure.kind.replacingOccurrences(of: ":", with: "-")
        let name = "repro-\(v.name.replacingOccurrences(of: "/", with: "-"))-\(kind)-s\(found.workerSeed)-c\(found.caseIndex).json"
        let path = (save as NSString).appendingPathComponent(name)
        let repro = Reproducer(fuzzCase: found.shrunk, failure: found.failure)
        do {
            try repro.write(path: path)
        } catch {
            printError("mmfuzz: cannot write \(path): \(error.localizedDescription)")
            throw ExitCode(2)
        }
        return path
    }

    static func table(_ s: SessionSummary) -> String {
        var lines: [String] = []
        lines.append("")
        let rows: [(String, String)] = [
            ("cases", "\(s.cases)"),
            ("operations", "\(s.ops)"),
            ("seconds", String(format: "%.2f", s.seconds)),
            ("operations per second", String(format: "%.0f", s.opsPerSecond)),
            ("batches", "\(s.batches)"),
            ("schedules tried", "\(s.schedules)"),
            ("race cases", "\(s.raceCases)"),
            ("pages reclaimed to swap", "\(s.events.reclaimAndSharing.pagesReclaimed)"),
            ("pages swapped in", "\(s.events.reclaimAndSharing.swapIns)"),
            ("pte tables shared by fork", "\(s.events.reclaimAndSharing.tablesShared)"),
            ("shared pte tables unshared", "\(s.events.reclaimAndSharing.tablesUnshared)"),
            ("shared-table flushes", "\(s.events.reclaimAndSharing.sharedFlushes)"),
            ("2 MiB faults", "\(s.events.hugePages.faults)"),
            ("huge pmds split", "\(s.events.hugePages.splits)"),
            ("huge zaps, vector gather", "\(s.events.hugePages.zapsVector)"),
            ("huge zaps, in-place gather", "\(s.events.hugePages.zapsInplace)"),
            ("2 MiB faults fallen back", "\(s.events.hugePages.fallbacks)"),
            ("violations / failures", "\(s.failures.count)"),
            ("failures repeated", "\(s.repeatedFailures)"),
            ("jobs", "\(s.jobs)"),
            ("corpus cases replayed", "\(s.corpusReplayed)"),
            ("cases saved for coverage", "\(s.coverageCases)"),
        ]
        for (k, v) in rows {
            lines.append(pad(k, 26) + pad(v, 14, left: false))
        }
        lines.append("")
        lines.append("cases per variant:")
        for (v, n) in zip(s.variants, s.casesPerVariant) {
            lines.append("  " + pad(v.name, 40) + pad("\(n)", 12, left: false))
        }
        lines.append("")
        lines.append("kernel events reached (summed over cases):")
        for row in s.events.rows {
            lines.append("  " + pad(row.label, 44) + pad("\(row.count)", 14, left: false))
        }
        return lines.joined(separator: "\n")
    }
}

/// A failure in the JSON summary.
struct FailureReport: Encodable {
    var variant: String
    var kind: String
    var message: String
    var reproducer: String
    var shrunkOps: Int
    var originalOps: Int
    var secondsToFind: Double
    var shrinkRuns: Int
    var caseSeed: UInt64
    /// The worker that found it, its session seed, and the case's index
    /// in that worker's session.
    var worker: Int
    var workerSeed: UInt64
    var caseIndex: Int
    /// Its file in --corpus: replayed from there, or saved there.
    var corpusFile: String?
}

/// The JSON summary of `mmfuzz run`.
struct RunSummaryJSON: Encodable {
    var config: RunConfig
    var stopReason: StopReason
    var seed: UInt64
    var cases: Int
    var ops: Int
    var seconds: Double
    var opsPerSecond: Double
    var batches: Int
    var schedules: Int
    var raceCases: Int
    var jobs: Int
    /// --corpus cases replayed before the generated ones.
    var corpusReplayed: Int
    /// Cases saved to --corpus for reaching new code (--coverage-corpus).
    var coverageCases: Int
    /// Failures of a variant and kind already reported (--keep-going).
    var repeatedFailures: Int
    var failures: [FailureReport]
    var variants: [String]
    var casesPerVariant: [String: Int]
    var events: [String: UInt64]
    /// The last line's figures of reclaim and shared pte tables.
    var reclaim: ReclaimFigures
    /// The last line's figures of transparent huge pages.
    var huge: HugeFigures

    init(_ s: SessionSummary, failures: [FailureReport], config: RunConfig, stopReason: StopReason) {
        self.config = config
        self.stopReason = stopReason
        seed = s.seed
        cases = s.cases
        ops = s.ops
        seconds = (s.seconds * 1000).rounded() / 1000
        opsPerSecond = s.opsPerSecond.rounded()
        batches = s.batches
        schedules = s.schedules
        raceCases = s.raceCases
        jobs = s.jobs
        corpusReplayed = s.corpusReplayed
        coverageCases = s.coverageCases
        repeatedFailures = s.repeatedFailures
        self.failures = failures
        variants = s.variants.map(\.name)
        var perVariant: [String: Int] = [:]
        for (v, n) in zip(s.variants, s.casesPerVariant) {
            perVariant[v.name] = n
        }
        casesPerVariant = perVariant
        var ev: [String: UInt64] = [:]
        for row in s.events.rows {
            ev[row.key] = row.count
        }
        events = ev
        reclaim = s.events.reclaimAndSharing
        huge = s.events.hugePages
    }
}
