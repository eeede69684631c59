import ArgumentParser
import Foundation
import MMFuzz
import MMModel
import MMSim

/// `mmfuzz replay FILE`: reruns a saved case exactly.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Rerun a reproducer written by `mmfuzz run`.",
        discussion: """
            Runs the saved operations on a fresh machine with the saved \
            configuration and variant, checked against the model exactly as \
            `mmfuzz run` checks them.

            Exit status: 1 while the case still fails (the failure is \
            printed), 0 when it passes, 2 when the file is missing, \
            unreadable or not a reproducer.
            """
    )

    @Argument(help: "The reproducer (JSON).")
    var file: String

    @Flag(help: "Print every call and its result.")
    var trace = false

    func run() throws {
        let repro: Reproducer
        let fuzzCase: FuzzCase
        do {
            repro = try Reproducer.load(path: file)
            fuzzCase = try repro.fuzzCase()
        } catch {
            printError("mmfuzz replay: \(error.reason)")
            throw ExitCode(2)
        }
        print("replay \(file): \(fuzzCase.variant), \(fuzzCase.config.summary), \(fuzzCase.ops.count) ops")
        if let f = repro.failure {
            print("recorded failure: \(f.kind): \(f.message)")
        }
        let runner: CaseRunner
        do {
            runner = try CaseRunner(config: fuzzCase.config, variant: fuzzCase.variant)
        } catch {
            printError("mmfuzz replay: \(file): the machine refuses \(fuzzCase.variant) with \(fuzzCase.config.summary): \(error)")
            throw ExitCode(2)
        }
        if trace {
            runner.trace = { index, op, call, outcome in
                let at = index.map { "#\($0)" } ?? "end"
                print("  \(pad(at, 5)) \(call) -> \(outcome)" + (op.map { "    [\($0)]" } ?? ""))
            }
        }
        if let failure = runner.run(fuzzCase.ops) {
            print("FAILS: \(failure.kind): \(failure.message)")
            if let recorded = repro.failure, recorded.kind != failure.kind {
                print("(recorded as \(recorded.kind))")
            }
            throw ExitCode.failure
        }
        print("passes: \(runner.opsRun) calls, every check clean")
    }
}
