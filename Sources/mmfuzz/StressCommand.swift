import ArgumentParser
import Foundation
import MMFuzz
import MMSim

/// `mmfuzz stress`: the simulated CPUs as host threads on real cores, for
/// ThreadSanitizer and AddressSanitizer (see docs/DESIGN.md section 8).
struct StressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Run the simulated CPUs as real threads, with real locks and atomics.",
        discussion: """
            Each of --threads host threads runs one simulated CPU: a seeded \
            random stream of mmap, munmap, mprotect and MADV_DONTNEED around \
            a page-table boundary, loads, stores and runs of stores, forks of \
            a child that is checked and exits, and switches to another mm or \
            to a kernel thread, on --mms shared address spaces.  No \
            scheduler: the threads race for real, under the kernel's own \
            spinlocks and mmap_sem.  The kernel's checkers run throughout \
            (frame safety at use and at free, lockdep, pte lock rules, \
            preempt balance, coherence at quiescent points of an mm); each \
            thread checks the values of a region only it stores to, in the \
            parent and in forked children; at the end the machine is \
            audited, every mm exits and no frame or object may be left.  \
            --time is the whole run's, shared equally by the variants \
            (default: every variant), run in rounds of at most \
            \(Self.roundMilliseconds) ms (each ends with the audit and the \
            exits), so that Ctrl-C or SIGTERM stops at the end of the round \
            running, prints the results so far and exits with 130.  Build \
            with --sanitize=thread or --sanitize=address to check the C \
            itself.  Exit status 0 when clean, 1 when anything was found.
            """
    )

    /// The longest stretch the threads run without a stop being noticed.
    static let roundMilliseconds: UInt64 = 1000

    @OptionGroup var machine: MachineOptions

    @Option(help: "Host threads, one per simulated CPU (1 to \(Machine.maxCPUs); --cpus is raised to match).")
    var threads: Int = 4

    @Option(help: "Seconds to run, shared by the variants.")
    var time: Double = 10

    @Option(help: "Shared address spaces (1 to 4).")
    var mms: Int = 2

    @Option(help: "Seed of the threads' streams (default: random).")
    var seed: UInt64?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    mutating func validate() throws {
        guard (1...Machine.maxCPUs).contains(threads) else {
            throw ValidationError("--threads must be between 1 and \(Machine.maxCPUs), not \(threads)")
        }
        guard time.isFinite, time > 0, time <= 86_400 else {
            throw ValidationError("--time must be a number of seconds above 0, at most 86400")
        }
        guard (1...4).contains(mms) else {
            throw ValidationError("--mms must be between 1 and 4, not \(mms)")
        }
        if machine.fuzzVariants.isEmpty {
            throw ValidationError("the simulator refuses every variant asked for with \(machine.hardware)")
        }
    }

    /// One variant's rounds, summed.
    struct Row: Encodable {
        var variant: String
        var rounds = 0
        var ops: UInt64 = 0
        var seconds: Double = 0
        var forks: UInt64 = 0
        var failedCalls: UInt64 = 0
        var violations = 0
        var audit = 0
        /// nil when an mm was left (the leak audit could not run).
        var leaks: Int? = 0
        var badValues: UInt64 = 0
        var badErrors: UInt64 = 0
        var firstViolations: [String] = []

        var clean: Bool {
            violations == 0 && audit == 0 && leaks == 0 && badValues == 0 && badErrors == 0
        }

        mutating func add(_ r: StressResult) {
            rounds += 1
            ops += r.ops
            seconds += r.seconds
            forks += r.forks
            failedCalls += r.failedCalls
            audit += r.audit
            leaks = leaks.flatMap { total in r.leaks.map { total + $0 } }
            badValues += r.badValues
            badErrors += r.badErrors
        }
    }

    struct Output: Encodable {
        var config: RunConfig
        var stopReason: StopReason
        var threads: Int
        var mms: Int
        var variants: [Row]
    }

    func run() throws {
        let seed = seed ?? UInt64.random(in: 0...UInt64.max)
        let variants = machine.fuzzVariants
        let slice = UInt64(max(1, (time * 1000 / Double(variants.count)).rounded()))
        let cpus = max(machine.cpus, threads)
        if !json {
            print("mmfuzz stress: seed \(seed), \(threads) threads, \(mms) mms, \(variants.count) variants, \(String(format: "%.1f", Double(slice) / 1000)) s each")
        }
        Interrupt.install()
        var rows: [Row] = []
        for variant in variants where !Interrupt.requested {
            var config = machine.config(for: variant)
            config.cpus = cpus
            let sim = try Machine(config)
            var row = Row(variant: variant.name)
            var left = slice
            while left > 0, !Interrupt.requested {
                let round = min(left, Self.roundMilliseconds)
                left -= round
                let result = try sim.runThreads(StressParameters(
                    threads: threads, mms: mms, seed: seed &+ UInt64(row.rounds),
                    durationMilliseconds: round))
                row.add(result)
                if !row.clean { break }
            }
            row.violations = sim.violationCount
            row.firstViolations = sim.violations.prefix(10).map(\.description)
            rows.append(row)
            if !json {
                print("\(row.variant): \(row.ops) ops in \(String(format: "%.1f", row.seconds)) s, \(Int(Double(row.ops) / max(row.seconds, 1e-9))) ops/s, \(row.forks) forks, \(row.failedCalls) calls failed (random ranges), \(row.violations) violations, audit \(row.audit), leaks \(row.leaks.map(String.init) ?? "mm left"), bad values \(row.badValues), bad errors \(row.badErrors)")
                for v in row.firstViolations {
                    print("  \(v)")
                }
            }
        }
        let problems = rows.filter { !$0.clean }.count
        let stop: StopReason = problems > 0 ? .failure : Interrupt.requested ? .interrupted : .limit
        if json {
            print(try jsonText(Output(
                config: RunConfig(command: "stress", cpus: cpus, frames: machine.framesOrDefault,
                                  regime: "threaded", seed: seed, variants: variants.map(\.name)),
                stopReason: stop, threads: threads, mms: mms, variants: rows)))
        } else if problems > 0 {
            print("FAILED on \(problems) of \(rows.count) variants")
        } else if Interrupt.requested {
            print("interrupted after \(rows.count) of \(variants.count) variants: clean so far")
        } else {
            print("clean on every variant")
        }
        try Interrupt.exitIfRequested()
        if problems > 0 {
            throw ExitCode.failure
        }
    }
}
