import ArgumentParser
import Foundation
import MMFuzz
import MMSim

/// `mmfuzz bench`: how fast the checked fuzzer runs, next to the raw
/// machine running the same operations.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure checked operations per second against the raw machine.",
        discussion: """
            Generates a fixed list of cases from the seed, then runs it \
            alternately checked (machine, model, and every check of `mmfuzz \
            run`) and raw (the same calls on the machine alone, nothing \
            checked), on one core, and reports the median of the runs. Build \
            in release (`swift run -c release mmfuzz bench`) for meaningful \
            figures.
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

    @Option(help: .hidden)
    var minOps: Int = 50

    /// For profiling one kind of pass: `checked` or `raw`.
    @Option(help: .hidden)
    var only: String?

    @Option(help: .hidden)
    var maxOps: Int = 300

    mutating func validate() throws {
        guard cases >= 1 else { throw ValidationError("--cases must be at least 1, not \(cases)") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1, not \(runs)") }
        if machine.fuzzVariants.isEmpty {
            throw ValidationError("the simulator refuses every variant asked for with \(machine.hardware)")
        }
    }

    func run() throws {
        let variants = machine.fuzzVariants
        let list = Bench.cases(seed: seed, count: cases, variants: variants,
                               generator: GeneratorSettings(cpus: machine.cpus, frames: machine.framesOrDefault,
                                                           minOps: minOps, maxOps: maxOps))
        #if DEBUG
        if !json {
            printError("mmfuzz bench: this is a debug build; build with -c release for real figures")
        }
        #endif
        // Warm up (page cache, allocator), then alternate.
        _ = Bench.pass(Array(list.prefix(100)), checked: true)
        _ = Bench.pass(Array(list.prefix(100)), checked: false)
        var checked: [Bench.Pass] = []
        var raw: [Bench.Pass] = []
        for _ in 0 ..< runs {
            if only != "raw" { checked.append(Bench.pass(list, checked: true)) }
            if only != "checked" { raw.append(Bench.pass(list, checked: false)) }
        }
        let checkedRate = median(checked.map(\.opsPerSecond))
        let rawRate = median(raw.map(\.opsPerSecond))
        let checkedCPURate = median(checked.map(\.opsPerCPUSecond))
        let rawCPURate = median(raw.map(\.opsPerCPUSecond))
        let failures = checked.map(\.failures).max() ?? 0
        let result = BenchJSON(
            seed: seed, cases: cases, runs: runs, variants: variants.map(\.description),
            ops: checked.first?.ops ?? 0, rawOps: raw.first?.ops ?? 0,
            checkedOpsPerSecond: checkedRate.rounded(), rawOpsPerSecond: rawRate.rounded(),
            ratio: rawRate > 0 ? (checkedRate / rawRate * 1000).rounded() / 1000 : 0,
            slowdown: checkedRate > 0 ? (rawRate / checkedRate * 100).rounded() / 100 : 0,
            checkedRuns: checked.map { $0.opsPerSecond.rounded() },
            rawRuns: raw.map { $0.opsPerSecond.rounded() },
            checkedOpsPerCPUSecond: checkedCPURate.rounded(), rawOpsPerCPUSecond: rawCPURate.rounded(),
            failures: failures)
        if json {
            print(try jsonText(result))
        } else {
            print("mmfuzz bench: seed \(seed), \(cases) cases, \(runs) runs, \(variants.count) variants, \(machine.hardware)")
            print()
            print(pad("", 24) + pad("ops/s (median)", 16, left: false) + pad("ops/CPU-s", 14, left: false)
                + "   runs (ops/s)")
            print(pad("checked", 24) + pad(String(format: "%.0f", checkedRate), 16, left: false)
                + pad(String(format: "%.0f", checkedCPURate), 14, left: false)
                + "   " + checked.map { compact($0.opsPerSecond) }.joined(separator: " "))
            print(pad("raw machine", 24) + pad(String(format: "%.0f", rawRate), 16, left: false)
                + pad(String(format: "%.0f", rawCPURate), 14, left: false)
                + "   " + raw.map { compact($0.opsPerSecond) }.joined(separator: " "))
            print(pad("checked / raw", 24) + pad(String(format: "%.3f", result.ratio), 16, left: false)
                + String(format: "   (checking costs %.2fx)", result.slowdown))
            print(pad("operations per run", 24) + pad("\(result.ops)", 16, left: false))
            if failures > 0 {
                print("warning: \(failures) cases failed in a checked run: \(checked.compactMap(\.firstFailure).first!)")
            }
        }
    }

    private func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

struct BenchJSON: Encodable {
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
    var failures: Int
}
