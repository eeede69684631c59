import ArgumentParser
import MMFuzz
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
            pages than one gather vector holds), execs and exits. It is an \
            operation sequence of the engine: the reference model checks \
            every result, the machine is compared with the model after each \
            phase, and the end-of-case audit looks for leaks. It needs \
            \(Scenario.framesNeeded) frames; fewer is a usage error.

            Exit status: 0 when clean on every variant, 1 when a result was \
            wrong or the kernel reported a violation, 2 for bad input.
            """
    )

    @OptionGroup var machine: MachineOptions

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    mutating func validate() throws {
        if machine.framesOrDefault < Scenario.framesNeeded {
            throw ValidationError("--frames \(machine.framesOrDefault): the scenario needs at least \(Scenario.framesNeeded) frames (its peak of user pages and page tables)")
        }
    }

    func run() throws {
        var results: [VariantResult] = []
        var skipped: [(Variant, Errno)] = []
        if !json { print("mmfuzz scenario: \(machine.hardware)") }
        let config = CaseConfig(cpus: machine.cpus, frames: machine.framesOrDefault)
        for variant in machine.variants {
            let r: Scenario.Result
            do {
                r = try Scenario.run(config: config, variant: variant)
            } catch {
                // validate() proved every variant named on its own runs.
                guard error == .EINVAL, machine.includesAll else { throw error }
                skipped.append((variant, error))
                continue
            }
            results.append(VariantResult(variant: variant, stats: r.stats, violations: r.violations,
                                         failures: r.failure.map { [$0.description] } ?? []))
        }
        guard !results.isEmpty else {
            throw ValidationError("the simulator refused every variant with \(machine.hardware)")
        }
        let bad = Report.problems(results)
        if json {
            let out = ScenarioJSON(
                config: RunConfig(command: "scenario", cpus: machine.cpus, frames: machine.framesOrDefault,
                                  regime: "sequential", seed: nil, variants: results.map(\.variant.name)),
                stopReason: bad.count > 0 ? .failure : .done,
                variants: results.map { r in
                    ScenarioJSON.Row(variant: r.variant.name, violations: r.violations.map(\.description),
                                     failures: r.failures, counters: Dictionary(
                                        uniqueKeysWithValues: r.stats.counters.map { ($0.name, $0.value) }))
                },
                skipped: skipped.map { $0.0.name })
            print(try jsonText(out))
        } else {
            for (variant, error) in skipped {
                print("skipped \(variant.name): the simulator refused it (\(error.name))")
            }
            print()
            print(Report.table(results))
            print()
            print(bad.text, terminator: "")
        }
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
    /// Results that were not what Linux would give (the engine's first).
    var failures: [String]
}

/// `mmfuzz scenario --json`.
struct ScenarioJSON: Encodable {
    struct Row: Encodable {
        var variant: String
        var violations: [String]
        var failures: [String]
        var counters: [String: UInt64]
    }

    var config: RunConfig
    var stopReason: StopReason
    var variants: [Row]
    var skipped: [String]
}
