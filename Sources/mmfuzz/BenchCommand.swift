import ArgumentParser
import Foundation
import MMFuzz
import MMSim

/// `mmfuzz bench`: how fast the checked fuzzer runs, next to the raw
/// machine running the same operations.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the tool's speed, and what each kernel variant costs on the same work.",
        discussion: """
            Generates a fixed list of cases from the seed, then runs it \
            alternately checked (machine, model, and every check of `mmfuzz \
            run`) and raw (the same calls on the machine alone, nothing \
            checked), on one core, and reports the median of the runs. Build \
            in release (`swift run -c release mmfuzz bench`) for meaningful \
            figures.

            Then the proposals: on every variant, the same fixed workloads \
            (munmap, exit and MADV_DONTNEED of --pages pages touched from \
            every CPU, --repeats times) and the figures of docs/DESIGN.md section \
            7: gather flushes per call, IPIs, entries invalidated, pages \
            freed per flush, the longest preemption-disabled stretch and \
            the per-CPU gather memory; and the parallel-faults workload (a \
            thread on every CPU faulting --pages pages of its own 2 MiB \
            region). --pages is at most \(ParallelFaultsBench.maxPages) (one \
            region); the workloads need --frames of at least --pages + 4 and \
            CPUs x (--pages + 1) + 3: less is a usage error.

            Then shared pte tables (share=fork), from the first variant \
            asked for with ptl=split: a parent with each of --fork-pages \
            private pages stored to forks a child that exits, execs and \
            exits, or exits after the parent stored to one page, with share=off and share=fork side by side (host ns per \
            fork and per workload, medians of --fork-repeats; ptes copied, \
            tables shared), on machines of their own sized for the largest \
            parent (--frames does not apply); and the price of sharing per \
            1,000 calls (unshares, shared-table flushes and their IPIs, all \
            IPIs) with share=off, share=fork,sharemask=all and \
            share=fork,sharemask=precise, on --cases sequential cases of \
            the sharing variants' mix and, with --trace, on a trace.

            Then huge pages: a munmap of --huge-megabytes MiB (a multiple \
            of 2) mapped by 4 KiB pages and by 2 MiB pages (MADV_HUGEPAGE), \
            touched from every CPU, densely (every 4 KiB page) or sparsely \
            (one 4 KiB page per 2 MiB), under each gather with preemption \
            off and on (the page-table lock of the first variant asked \
            for): flushes, IPIs, entries invalidated, pages freed per \
            flush, the longest preemption-disabled stretch, zap breaks, \
            the in-place gather's phase-3 entries per page freed, and host \
            ns of the munmap per page freed, median of --huge-repeats, \
            each on a fresh machine sized for the mapping (--frames does \
            not apply).

            --only runs one part: tool (checked and raw passes), checked, \
            raw, fork, sharing or huge.

            Ctrl-C or SIGTERM stops after the pass running and prints the \
            figures so far (exit status 130).
            """
    )

    @Option(help: "Seed of the generated cases.")
    var seed: UInt64 = 2

    @Option(help: "Cases per run.")
    var cases: Int = 2000

    @Option(help: "Runs of each kind; the median is reported.")
    var runs: Int = 5

    @OptionGroup var machine: MachineOptions

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    @Option(help: "Pages touched and then unmapped in each proposal workload.")
    var pages: Int = 64

    @Option(help: "Repeats of each proposal workload.")
    var repeats: Int = 10

    @Option(help: .hidden)
    var minOps: Int = 50

    /// For profiling one kind of pass, `checked` or `raw`; or `tool`:
    /// checked and raw only, no concurrent pass, proposals or parallel
    /// faults (what scripts/bench-compare measures); or `fork` or
    /// `sharing` or `huge`: that part alone.
    @Option(help: "Run one part only: tool, checked, raw, fork, sharing or huge.")
    var only: String?

    @Option(help: "Parent sizes, in pages, of the fork benchmark (comma-separated).")
    var forkPages: String = ForkBench.defaultSizes.map(String.init).joined(separator: ",")

    @Option(help: "Timed forks of each size, workload and variant; the median is reported.")
    var forkRepeats: Int = 11

    @Option(help: "A trace (as for `mmfuzz trace`) to measure the price of sharing on as well.")
    var trace: String?

    @Option(help: "Replay only the first N events of --trace.")
    var traceEvents: Int?

    @Option(help: "MiB the huge-page benchmark maps and unmaps (a multiple of 2).")
    var hugeMegabytes: Int = HugeBench.defaultMegabytes

    @Option(help: "Timed munmaps of each huge-page configuration, each on a fresh machine; the median is reported.")
    var hugeRepeats: Int = 5

    @Option(help: .hidden)
    var maxOps: Int = 300

    mutating func validate() throws {
        guard cases >= 1 else { throw ValidationError("--cases must be at least 1, not \(cases)") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1, not \(runs)") }
        guard pages >= 1 && pages <= ParallelFaultsBench.maxPages else {
            throw ValidationError("--pages must be 1 to \(ParallelFaultsBench.maxPages) (the parallel-faults workload gives each CPU one 2 MiB region), not \(pages)")
        }
        let need = max(ProposalBench.framesNeeded(pages: pages),
                       ParallelFaultsBench.framesNeeded(cpus: machine.cpus, pages: pages))
        if machine.framesOrDefault < need {
            throw ValidationError("--frames \(machine.framesOrDefault): --pages \(pages) on \(machine.cpus) CPUs needs at least \(need) frames (every CPU's region faulted in at once, with its page tables)")
        }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, not \(repeats)") }
        if let only, !["tool", "checked", "raw", "fork", "sharing", "huge"].contains(only) {
            throw ValidationError("--only takes tool, checked, raw, fork, sharing or huge, not '\(only)'")
        }
        guard hugeMegabytes >= 2, hugeMegabytes % 2 == 0, hugeMegabytes <= HugeBench.maxMegabytes else {
            throw ValidationError("--huge-megabytes must be a multiple of 2 from 2 to \(HugeBench.maxMegabytes), not \(hugeMegabytes)")
        }
        guard hugeRepeats >= 1 else { throw ValidationError("--huge-repeats must be at least 1, not \(hugeRepeats)") }
        let sizes = try Self.parseSizes(forkPages)
        if ForkBench.frames(for: sizes) > MachineOptions.frameLimits.upperBound {
            throw ValidationError("--fork-pages: a parent of \(sizes.max()!) pages needs more frames than the machine's \(MachineOptions.frameLimits.upperBound)")
        }
        guard forkRepeats >= 1 else { throw ValidationError("--fork-repeats must be at least 1, not \(forkRepeats)") }
        if let traceEvents, traceEvents < 1 {
            throw ValidationError("--trace-events must be at least 1, not \(traceEvents)")
        }
        if machine.fuzzVariants.isEmpty {
            throw ValidationError("the simulator refuses every variant asked for with \(machine.hardware)")
        }
    }

    func run() throws {
        let variants = machine.fuzzVariants
        // The parts this run makes (--only picks one).
        let toolPasses = only == nil || ["tool", "checked", "raw"].contains(only)
        let workloads = only == nil || only == "checked" || only == "raw"
        let sharingParts = only == nil
        let list = !toolPasses ? [] : Bench.cases(seed: seed, count: cases, variants: variants,
                               generator: GeneratorSettings(cpus: machine.cpus, frames: machine.framesOrDefault,
                                                           minOps: minOps, maxOps: maxOps,
                                                           concurrency: .off))
        // The concurrent regime: cases that are mostly batches run on
        // several CPUs at once, checked for linearizability.
        let concurrentList = only != nil ? [] : Bench.cases(
            seed: seed, count: cases, variants: variants,
            generator: GeneratorSettings(cpus: machine.cpus, frames: machine.framesOrDefault,
                                         minOps: minOps, maxOps: maxOps, concurrency: .only))
        #if DEBUG
        if !json {
            printError("mmfuzz bench: this is a debug build; build with -c release for real figures")
        }
        #endif
        Interrupt.install()
        // Warm up (page cache, allocator), then alternate.
        if toolPasses {
            _ = Bench.pass(Array(list.prefix(100)), checked: true)
            _ = Bench.pass(Array(list.prefix(100)), checked: false)
        }
        var checked: [Bench.Pass] = []
        var raw: [Bench.Pass] = []
        var concurrent: [Bench.Pass] = []
        for _ in 0 ..< (toolPasses ? runs : 0) where !Interrupt.requested {
            if only != "raw" { checked.append(Bench.pass(list, checked: true)) }
            if only != "checked", !Interrupt.requested { raw.append(Bench.pass(list, checked: false)) }
            if only == nil, !Interrupt.requested { concurrent.append(Bench.pass(concurrentList, checked: true)) }
        }
        let concurrentRate = median(concurrent.map(\.opsPerSecond))
        let checkedRate = median(checked.map(\.opsPerSecond))
        let rawRate = median(raw.map(\.opsPerSecond))
        let checkedCPURate = median(checked.map(\.opsPerCPUSecond))
        let rawCPURate = median(raw.map(\.opsPerCPUSecond))
        var failures = (checked + concurrent).map(\.failures).max() ?? 0
        var proposals: [ProposalBench.Row] = []
        for variant in variants where workloads && !Interrupt.requested {
            proposals.append(try ProposalBench.measure(machine.config(for: variant), pages: UInt64(pages),
                                                       repeats: repeats))
        }
        let parallelFaults = !workloads ? [] : try parallelFaultRows(variants)
        let fork = (sharingParts || only == "fork") && !Interrupt.requested ? try forkRows() : []
        var sharing: [SharingBench.Row] = []
        var traceNote: String?
        if (sharingParts || only == "sharing") && !Interrupt.requested {
            let s = try sharingRows()
            sharing = s.rows
            traceNote = s.traceNote
            failures = max(failures, s.failures)
        }
        let huge = (sharingParts || only == "huge") && !Interrupt.requested ? try hugeRows() : []
        let result = BenchJSON(
            config: RunConfig(command: "bench", cpus: machine.cpus, frames: machine.framesOrDefault,
                              regime: "sequential and concurrent", seed: seed, variants: variants.map(\.name)),
            stopReason: Interrupt.requested ? .interrupted : .done,
            seed: seed, cases: cases, runs: runs, variants: variants.map(\.name),
            ops: checked.first?.ops ?? 0, rawOps: raw.first?.ops ?? 0,
            checkedOpsPerSecond: checkedRate.rounded(), rawOpsPerSecond: rawRate.rounded(),
            ratio: rawRate > 0 ? (checkedRate / rawRate * 1000).rounded() / 1000 : 0,
            slowdown: checkedRate > 0 ? (rawRate / checkedRate * 100).rounded() / 100 : 0,
            checkedRuns: checked.map { $0.opsPerSecond.rounded() },
            rawRuns: raw.map { $0.opsPerSecond.rounded() },
            checkedOpsPerCPUSecond: checkedCPURate.rounded(), rawOpsPerCPUSecond: rawCPURate.rounded(),
            concurrentOpsPerSecond: concurrentRate.rounded(),
            concurrentRuns: concurrent.map { $0.opsPerSecond.rounded() },
            concurrentOverSequential: checkedRate > 0 ? (concurrentRate / checkedRate * 1000).rounded() / 1000 : 0,
            failures: failures,
            proposals: proposals,
            parallelFaults: parallelFaults,
            fork: fork,
            forkRatios: ForkBench.ratios(fork),
            sharing: sharing,
            huge: huge)
        if json {
            print(try jsonText(result))
        } else {
            print("mmfuzz bench: seed \(seed), \(cases) cases, \(runs) runs, \(variants.count) variants, \(machine.hardware)")
            if toolPasses { printTool(result, checked: checked, raw: raw, concurrent: concurrent) }
            if failures > 0 {
                let first = checked.compactMap(\.firstFailure).first.map { "\($0)" } ?? "in the price-of-sharing part"
                print("warning: \(failures) cases failed in a checked run: \(first)")
            }
            if !result.proposals.isEmpty { printProposals(result.proposals) }
            if !result.parallelFaults.isEmpty { printParallelFaults(result.parallelFaults) }
            printFork(result.fork)
            printSharing(result.sharing, traceNote: traceNote)
            printHuge(result.huge)
            if Interrupt.requested {
                print()
                print("interrupted: the figures are those of the passes finished")
            }
        }
        try Interrupt.exitIfRequested()
        // A wrong result or a violation on a configuration the workloads
        // fit in is a finding.
        let problems = result.parallelFaults.reduce(0) { $0 + $1.violations + $1.failedOps + $1.auditProblems }
        let hugeProblems = result.huge.reduce(0) { $0 + $1.problems }
        if failures > 0 || problems > 0 || hugeProblems > 0 {
            let first = result.huge.compactMap(\.firstProblem).first.map { " (first: \($0))" } ?? ""
            printError("mmfuzz bench: \(failures) failed cases, \(problems) problems in the parallel-faults workload, \(hugeProblems) violations in the huge-page workload\(first)")
            throw ExitCode.failure
        }
    }

    /// The tool's speed: checked and raw passes, and the concurrent one.
    private func printTool(_ result: BenchJSON, checked: [Bench.Pass], raw: [Bench.Pass],
                           concurrent: [Bench.Pass]) {
            let checkedRate = result.checkedOpsPerSecond, rawRate = result.rawOpsPerSecond
            let checkedCPURate = result.checkedOpsPerCPUSecond, rawCPURate = result.rawOpsPerCPUSecond
            let concurrentRate = result.concurrentOpsPerSecond
            print()
            print(pad("", 24) + pad("ops/s (median)", 16, left: false) + pad("ops/CPU-s", 14, left: false)
                + "   runs (ops/s)")
            print(pad("checked, sequential", 24) + pad(String(format: "%.0f", checkedRate), 16, left: false)
                + pad(String(format: "%.0f", checkedCPURate), 14, left: false)
                + "   " + checked.map { compact($0.opsPerSecond) }.joined(separator: " "))
            print(pad("raw machine", 24) + pad(String(format: "%.0f", rawRate), 16, left: false)
                + pad(String(format: "%.0f", rawCPURate), 14, left: false)
                + "   " + raw.map { compact($0.opsPerSecond) }.joined(separator: " "))
            print(pad("checked / raw", 24) + pad(String(format: "%.3f", result.ratio), 16, left: false)
                + String(format: "   (checking costs %.2fx)", result.slowdown))
            if !concurrent.isEmpty {
                print(pad("checked, concurrent", 24) + pad(String(format: "%.0f", concurrentRate), 16, left: false)
                    + pad("", 14) + "   " + concurrent.map { compact($0.opsPerSecond) }.joined(separator: " "))
                print(pad("concurrent / sequential", 24)
                    + pad(String(format: "%.3f", result.concurrentOverSequential), 16, left: false)
                    + "   (batches on several CPUs, checked for linearizability)")
            }
            print(pad("operations per run", 24) + pad("\(result.ops)", 16, left: false))
    }

    private func printProposals(_ rows: [ProposalBench.Row]) {
        print()
        print("The proposals: munmap, exit and MADV_DONTNEED of \(pages) pages touched from every CPU, \(repeats) times each")
        print()
        let table = ComparisonTable<ProposalBench.Row>(variant: \.variant, columns: [
            .init("flushes/munmap") { String(format: "%.1f", $0.flushesPerMunmap) },
            .init("flushes/exit") { String(format: "%.1f", $0.flushesPerExit) },
            .init("flushes/dontneed") { String(format: "%.1f", $0.flushesPerDontneed) },
            .init("IPIs/munmap") { String(format: "%.1f", $0.ipisPerMunmap) },
            .init("invalidated/munmap") { String(format: "%.1f", $0.entriesInvalidatedPerMunmap) },
            .init("pages/flush") { String(format: "%.1f", $0.pagesFreedPerFlush) },
            .init("max preempt-off ptes") { "\($0.maxPreemptOffPtes)" },
            .init("per-CPU gather bytes") { "\($0.gatherPercpuBytes)" },
        ])
        print(table.text(rows), terminator: "")
    }

    private func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

struct BenchJSON: Encodable {
    var config: RunConfig
    var stopReason: StopReason
    var seed: UInt64
    var cases: Int
    var runs: Int
    var variants: [String]
    /// Calls per checked run.
    var ops: Int
    /// Calls per raw run (the same ops; can differ only if a check stopped
    /// a case early).
    var rawOps: Int
    var checkedOpsPerSecond: Double
    var rawOpsPerSecond: Double
    /// checked / raw.
    var ratio: Double
    /// raw / checked.
    var slowdown: Double
    var checkedRuns: [Double]
    var rawRuns: [Double]
    /// The same per second of the thread's CPU time: what one core does
    /// even while other processes share the machine.
    var checkedOpsPerCPUSecond: Double
    var rawOpsPerCPUSecond: Double
    /// Checked cases of the concurrent regime (mostly batches).
    var concurrentOpsPerSecond: Double
    var concurrentRuns: [Double]
    /// Concurrent checked / sequential checked, medians of one run.
    var concurrentOverSequential: Double
    var failures: Int
    /// What each variant costs on the same fixed workloads.
    var proposals: [ProposalBench.Row]
    /// Lock contention of threads faulting at once (BenchCommand+ParallelFaults).
    var parallelFaults: [ParallelFaultsBench.Row]
    /// Fork with pte tables copied and shared, per parent size and
    /// workload (BenchCommand+Sharing).
    var fork: [ForkBench.Row]
    /// Shared over copied host time, per parent size.
    var forkRatios: [ForkBench.Ratio]
    /// The price of sharing per 1,000 calls, on the fuzz mix and a trace.
    var sharing: [SharingBench.Row]
    /// munmap of memory mapped by 4 KiB and by 2 MiB pages, per gather
    /// and preemption setting (BenchCommand+Huge).
    var huge: [HugeBench.Row]
}
