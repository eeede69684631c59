import ArgumentParser
import Foundation
import MMFuzz
import MMSim

/// `mmfuzz trace FILE`: replays a real `perf script` trace on every chosen
/// variant, checked against the model, and reports what each one cost.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Replay a perf trace of a real workload on every variant, checked, and compare their costs.",
        discussion: """
            FILE is `perf script -F comm,pid,tid,time,event,trace` output \
            (see shared/traces/README.md) or perf script's default output \
            (with its [CPU] column, which then places each event on that \
            CPU modulo --cpus), plain or xz-compressed (told by its magic \
            bytes), LF or CRLF line ends, read as a stream; `-` is standard \
            input. Processes become mms (fork \
            copies, CLONE_VM|CLONE_VFORK borrows the parent's mm until exec, \
            exec replaces, exit tears down), page faults become user loads \
            or stores on the process's CPU, mmap/munmap/mprotect/madvise \
            are made with the traced arguments, brk maps or unmaps the heap \
            range, and what exec maps in the kernel gets synthetic pages \
            (docs/DESIGN.md, section 9). The reference model checks \
            every call; the first violation or disagreement stops that \
            variant's replay and writes a reproducer (an excerpt of the \
            trace) to --save.

            --huge replays every variant twice, side by side: as traced, \
            and with transparent huge pages (rows marked +thp): each traced \
            anonymous private mmap of 2 MiB or more is given MADV_HUGEPAGE \
            right after it, so that a fault in an aligned 2 MiB of it maps \
            a huge page; the table adds huge faults, fallbacks, splits, \
            huge zaps per gather, fork copies, huge pages freed and the \
            in-place gather's phase-3 entries.

            The input is read and decoded once: every line goes to one \
            machine per variant, side by side (so a pipe serves them all). \
            --save and --report are checked before the replay starts; \
            report.md and chart.svg are written whole or not at all.

            Exit status: 0 when every variant replayed to the end cleanly, \
            1 when one stopped on a violation or disagreement, 2 for bad \
            input (bad options, unusable output directory, unreadable \
            file, a trace with no events, corrupt or truncated trace, \
            unknown event, malformed field, a system call exit without its \
            enter), with the line number; 130 when stopped by Ctrl-C or \
            SIGTERM (the figures so far are printed).
            """
    )

    @Argument(help: "The trace (plain text or .xz; - for standard input).")
    var file: String

    @Option(
        name: .customLong("variant"),
        help: ArgumentHelp("A kernel variant: a short name (vector/mm/nopreempt, inplace/split/preempt/share, ...), a spec gather=vector|inplace,ptl=mm|split,preempt=on|off,share=off|fork,sharemask=all|precise, or 'all' (the default). Repeatable.",
                           valueName: "spec"),
        transform: VariantSelection.parse)
    var selections: [VariantSelection] = []

    @Option(help: "Simulated CPUs (1 to \(Machine.maxCPUs)); the kbuild trace ran on 2.")
    var cpus: Int = 2

    @Option(help: "Physical page frames of each machine.")
    var frames: Int = TraceReplayOptions().frames

    @Option(help: "A whole-state checkpoint every this many events.")
    var checkpointEvery: Int = TraceReplayOptions().checkpointEvery

    @Option(help: "Directory for reproducers.")
    var save: String = "mmfuzz-out"

    @Option(help: "Write report.md and chart.svg to this directory.")
    var report: String?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    @Flag(help: "Replay each variant twice, side by side: as traced, and with transparent huge pages (MADV_HUGEPAGE on every anonymous private mmap of 2 MiB or more, right after it).")
    var huge = false

    /// Replay without the model and checks (to measure their cost).
    @Flag(help: .hidden)
    var unchecked = false

    mutating func validate() throws {
        guard (1...Machine.maxCPUs).contains(cpus) else {
            throw ValidationError("--cpus must be between 1 and \(Machine.maxCPUs), not \(cpus)")
        }
        guard MachineOptions.frameLimits.contains(frames) else {
            throw ValidationError("--frames must be between \(MachineOptions.frameLimits.lowerBound) and \(MachineOptions.frameLimits.upperBound), not \(frames)")
        }
        guard checkpointEvery >= 1 else {
            throw ValidationError("--checkpoint-every must be at least 1, not \(checkpointEvery)")
        }
        try OutputPath.check("--save", save)
        if let report {
            try OutputPath.check("--report", report)
        }
    }

    var variants: [Variant] {
        let requested = selections.isEmpty ? Variant.allCombinations : selections.flatMap { s in
            switch s {
            case .all: Variant.allCombinations
            case .one(let v): [v]
            }
        }
        var seen: Set<Variant> = []
        return requested.filter { seen.insert($0).inserted }
    }

    func run() throws {
        var options = TraceReplayOptions()
        options.cpus = cpus
        options.frames = frames
        options.checkpointEvery = checkpointEvery
        options.saveDirectory = save
        options.checked = !unchecked
        options.hugePages = huge ? .beside : .off
        Interrupt.install()
        let run: TraceRun
        do {
            run = try TraceRun.run(.file(file), variants: variants, options: options,
                                   shouldStop: { Interrupt.requested }) { r in
                if !json {
                    let status = r.interrupted ? "interrupted" : r.failure.map { "STOPPED: \($0)" } ?? "clean"
                    printError("mmfuzz trace: \(r.label): \(r.tally.events) events in \(TraceRun.fixedPublic(r.seconds, 2)) s, \(status)")
                }
            }
        } catch {
            printError("mmfuzz trace: \(TraceSource.file(file).name): \(error)")
            throw ExitCode(2)
        }
        let stop: StopReason = run.interrupted ? .interrupted : run.clean ? .done : .failure
        if json {
            let config = RunConfig(command: "trace", cpus: cpus, frames: frames,
                                   regime: "sequential", seed: nil, variants: variants.map(\.name))
            print(run.json(header: [("config", try jsonText(config)),
                                    ("stopReason", try jsonText(stop))]))
        } else {
            printSummary(run)
        }
        if let report {
            do {
                try OutputPath.writeAll([("chart.svg", run.svgChart()),
                                         ("report.md", run.markdownReport(chartFile: "chart.svg"))],
                                        to: report)
            } catch {
                printError("mmfuzz trace: cannot write the report to \(report): \(error.localizedDescription)")
                throw ExitCode(2)
            }
            if !json { print("report: \(report)/report.md, \(report)/chart.svg") }
        }
        try Interrupt.exitIfRequested()
        if !run.clean {
            throw ExitCode.failure
        }
    }

    private func printSummary(_ run: TraceRun) {
        let t = run.tally
        print("\(TraceSource.file(file).name): \(t.events) events, \(t.replayed) replayed, \(t.skippedTotal) skipped, \(t.machineCalls) machine calls (first variant)")
        for (k, v) in t.skipped.sorted(by: { $0.value > $1.value }) { print("  skipped \(v): \(k)") }
        for (k, v) in t.notes.sorted(by: { $0.key < $1.key }) { print("  \(v): \(k)") }
        if let h = run.results.first(where: \.hugePages), !(run.results.first?.hugePages ?? true) {
            // What --huge added, from the first replay with huge pages.
            print("  with huge pages (+thp rows): \(h.tally.machineCalls) machine calls")
            for (k, v) in h.tally.notes.sorted(by: { $0.key < $1.key }) where t.notes[k] != v {
                print("    \(v): \(k)")
            }
        }
        print("")
        print(run.textTable())
        for r in run.results {
            if let f = r.failure {
                print("\(r.label): \(f)")
                if let path = f.reproducer {
                    print("  reproducer: \(path)" + (f.reproducerReplays == true ? " (fails the same way on its own)" : " (does NOT fail on its own)"))
                }
            }
        }
        for line in run.ratioLines() {
            print(line)
        }
        if run.interrupted {
            print("interrupted: the figures are those of the events replayed so far")
        }
    }
}
