import ArgumentParser
import Foundation
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
            (default: every variant).  Build with --sanitize=thread or \
            --sanitize=address to check the C itself.  Exit status 0 when \
            clean, 1 when anything was found.
            """
    )

    @OptionGroup var machine: MachineOptions

    @Option(help: "Host threads, one per simulated CPU (1 to \(Machine.maxCPUs); --cpus is raised to match).")
    var threads: Int = 4

    @Option(help: "Seconds to run, shared by the variants.")
    var time: Double = 10

    @Option(help: "Shared address spaces (1 to 4).")
    var mms: Int = 2

    @Option(help: "Seed of the threads' streams (default: random).")
    var seed: UInt64?

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

    func run() throws {
        let seed = seed ?? UInt64.random(in: 0...UInt64.max)
        let variants = machine.fuzzVariants
        let slice = UInt64(max(1, (time * 1000 / Double(variants.count)).rounded()))
        let cpus = max(machine.cpus, threads)
        print("mmfuzz stress: seed \(seed), \(threads) threads, \(mms) mms, \(variants.count) variants, \(String(format: "%.1f", Double(slice) / 1000)) s each")
        var problems = 0
        for variant in variants {
            var config = machine.config(for: variant)
            config.cpus = cpus
            let sim = try Machine(config)
            let result = try sim.runThreads(StressParameters(
                threads: threads, mms: mms, seed: seed, durationMilliseconds: slice))
            let violations = sim.violations
            let line = "\(variant): \(result.ops) ops in \(String(format: "%.1f", result.seconds)) s, \(Int(result.opsPerSecond)) ops/s, \(result.forks) forks, \(result.failedCalls) calls failed (random ranges), \(sim.violationCount) violations, audit \(result.audit), leaks \(result.leaks.map(String.init) ?? "mm left"), bad values \(result.badValues), bad errors \(result.badErrors)"
            print(line)
            if !result.clean || !violations.isEmpty {
                problems += 1
                for v in violations.prefix(10) {
                    print("  \(v)")
                }
            }
        }
        if problems > 0 {
            print("FAILED on \(problems) of \(variants.count) variants")
            throw ExitCode.failure
        }
        print("clean on every variant")
    }
}
