import ArgumentParser
import MMSim

/// `mmfuzz scenario`: the built-in scenario on each variant, with the
/// counters side by side.
struct ScenarioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario",
        abstract: "Run the built-in scenario on each variant and compare the counters.",
        discussion: """
            The scenario maps private and shared anonymous memory, stores and \
            loads from every CPU, forks and writes on both sides \
            (copy-on-write), mprotects, drops pages with MADV_DONTNEED, \
            unmaps (also while a CPU is lazy in a kernel thread, and more \
            pages than one gather vector holds), execs and exits, checking \
            every result and then auditing the machine for leaks.
            """
    )

    @OptionGroup var machine: MachineOptions

    func run() throws {
        var results: [VariantResult] = []
        var skipped: [(Variant, Errno)] = []
        print("mmfuzz scenario: \(machine.hardware)")

        for variant in machine.variants {
            let config = machine.config(for: variant)
            let sim: Machine
            do {
                sim = try Machine(config)
            } catch {
                // validate() proved every variant named on its own runs.
                guard error == .EINVAL, machine.includesAll else { throw error }
                skipped.append((variant, error))
                continue
            }
            var scenario = Scenario(machine: sim)
            scenario.run()
            results.append(VariantResult(variant: variant, stats: sim.stats,
                                         violations: sim.violations,
                                         failures: scenario.failures))
        }

        for (variant, error) in skipped {
            print("skipped \(variant): the simulator refused it (\(error.name))")
        }
        guard !results.isEmpty else {
            throw ValidationError("the simulator refused every variant with \(machine.hardware)")
        }
        print()
        print(Report.table(results))
        print()
        let bad = Report.problems(results)
        print(bad.text, terminator: "")
        if bad.count > 0 {
            throw ExitCode.failure
        }
    }
}

/// What one variant did.
struct VariantResult {
    var variant: Variant
    var stats: Stats
    var violations: [Violation]
    /// Scenario results that were not what Linux would give.
    var failures: [String]
}
