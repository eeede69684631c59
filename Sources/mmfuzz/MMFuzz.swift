import ArgumentParser
import Foundation
import MMFuzz

/// `mmfuzz`: drives the simulated kernel and checks it.
///
/// A root command with one subcommand per job; `run` (fuzzing against the
/// reference model for about 30 seconds) runs when no subcommand is named.
/// The subcommands share ``MachineOptions``.
@main
struct MMFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmfuzz",
        abstract: "Run and check a simulated Linux memory manager (mmu_gather and page-table-lock variants).",
        discussion: """
            `run` is the default: `mmfuzz --seed 3` is `mmfuzz run --seed 3`. \
            A first word that names no subcommand is an error. Every \
            subcommand that prints results takes --json, whose object \
            carries the configuration (`config`: version, command, CPUs, \
            frames, regime, seed, variants) and `stopReason` (limit, done, \
            failure or interrupted). Variants are named by their short \
            name, gather/ptl/preempt: vector/mm/nopreempt, inplace/split/preempt \
            (--variant accepts it as well as the spec gather=...,ptl=...,preempt=...).

            Exit status: 0 when every check passed, 1 when the kernel reported \
            a violation or a result was wrong, 2 for bad command-line input \
            or a configuration the workload cannot run in, 130 when stopped \
            by Ctrl-C or SIGTERM (run, trace, stress, bench: the summary so far \
            is printed first).
            """,
        version: MMFuzz.version,
        subcommands: [RunCommand.self, ReplayCommand.self, TraceCommand.self, BenchCommand.self,
                      ScenarioCommand.self, StressCommand.self, NativeCommand.self, MinimizeCommand.self,
                      ConvertCommand.self],
        defaultSubcommand: RunCommand.self
    )

    /// Exit status for bad command-line input, as getopt-style tools use.
    static let usageExitStatus: Int32 = 2

    /// The tool's version (`mmfuzz --version`, and every JSON result).
    static let version = "0.2.0"

    /// The subcommands' names.
    static var subcommandNames: [String] {
        configuration.subcommands.compactMap { $0.configuration.commandName }
    }

    /// A usage error the parser would not report as such: a first word
    /// that names no subcommand (`run` is the default, so the parser would
    /// take `mmfuzz rnu` as run's argument), or `help` of an unknown one.
    static func unknownSubcommand(_ arguments: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-") else { return nil }
        let names = subcommandNames
        let list = names.joined(separator: ", ")
        if first == "help" {
            if arguments.count >= 2, !arguments[1].hasPrefix("-"), !names.contains(arguments[1]) {
                return "mmfuzz help: unknown subcommand '\(arguments[1])' (the subcommands: \(list))"
            }
            return nil
        }
        if names.contains(first) { return nil }
        return "mmfuzz: unknown subcommand '\(first)' (the subcommands: \(list); see 'mmfuzz --help')"
    }

    /// Like argument-parser's `main()`, except that bad command-line input
    /// exits with status 2 instead of `EX_USAGE` (64), so that scripts can
    /// tell it from a failed check (1).
    static func main() {
        if let message = unknownSubcommand(Array(CommandLine.arguments.dropFirst())) {
            printError(message)
            Foundation.exit(usageExitStatus)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                var stderr = StandardError()
                print(fullMessage(for: error), to: &stderr)
                Foundation.exit(usageExitStatus)
            }
            exit(withError: error)
        }
    }
}

/// Standard error as a `TextOutputStream`.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
