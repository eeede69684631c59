import ArgumentParser
import Foundation
import MMFuzz

/// `mmfuzz minimize FILE`: shrinks a saved reproducer further, as
/// syzkaller's repro does with a crash log.
struct MinimizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minimize",
        abstract: "Shrink a reproducer further.",
        discussion: """
            Runs the case (on the simulator, or with --native on this \
            machine's kernel) and, while it still fails the same way, \
            shrinks it with the run's shrinker and a larger budget \
            (--time), then writes the smaller case to --output (default: \
            FILE with .min.json), its batches pinned to the schedules \
            they ran.

            Exit status: 0 when a reproducer was written (as small as \
            before or smaller), 1 when the case passes (nothing to \
            minimize), 2 for bad input.
            """
    )

    @Argument(help: "The reproducer (JSON).")
    var file: String

    @Option(help: "Where to write the smaller case (default: FILE with .min.json).")
    var output: String?

    @Option(help: "Seconds allowed for shrinking.")
    var time: Double = 300

    @Flag(help: "Run the case on the host's Linux kernel (a reproducer of `mmfuzz native`).")
    var native = false

    /// Test-only, with --native: stores skewed as `mmfuzz native
    /// --skew-stores` skews them.
    @Flag(help: .hidden)
    var skewStores = false

    mutating func validate() throws {
        if !(time > 0 && time <= 1e6) { throw ValidationError("--time must be a positive number of seconds") }
    }

    func run() throws {
        let fuzzCase: FuzzCase
        do {
            fuzzCase = try Reproducer.load(path: file).fuzzCase()
        } catch {
            printError("mmfuzz minimize: \(error.reason)")
            throw ExitCode(2)
        }
        let target = output ?? (file.hasSuffix(".json") ? String(file.dropLast(5)) : file) + ".min.json"
        let runner = NativeRunner(skewStores: skewStores)
        let run: Shrinker.Runner = native
            ? { (try? runner.failure(of: $0)) ?? nil }
            : { CaseRunner.run($0).failure }
        guard let failure = run(fuzzCase) else {
            print("passes: \(file) fails no more, nothing to minimize")
            throw ExitCode.failure
        }
        var shrinker = Shrinker(maxRuns: 1_000_000, maxSeconds: time, run: run)
        var (small, smallFailure) = shrinker.shrink(fuzzCase, failure: failure)
        if !native {
            let last = CaseRunner.run(small)
            small = small.pinning(last.schedules)
            smallFailure = last.failure ?? smallFailure
        }
        do {
            try Reproducer(fuzzCase: small, failure: smallFailure).write(path: target)
        } catch {
            printError("mmfuzz minimize: cannot write \(target): \(error.localizedDescription)")
            throw ExitCode(2)
        }
        print("minimized \(fuzzCase.ops.count) ops to \(small.ops.count) (\(shrinker.runs) runs): \(smallFailure.kind)")
        print("written: \(target)")
    }
}
