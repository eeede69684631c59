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
            Exit status: 0 when every check passed, 1 when the kernel reported \
            a violation or a result was wrong, 2 for bad command-line input.
            """,
        subcommands: [RunCommand.self, ReplayCommand.self, TraceCommand.self, BenchCommand.self,
                      ScenarioCommand.self, StressCommand.self],
        defaultSubcommand: RunCommand.self
    )

    /// Exit status for bad command-line input, as getopt-style tools use.
    static let usageExitStatus: Int32 = 2

    /// Like argument-parser's `main()`, except that bad command-line input
    /// exits with status 2 instead of `EX_USAGE` (64), so that scripts can
    /// tell it from a failed check (1).
    static func main() {
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
