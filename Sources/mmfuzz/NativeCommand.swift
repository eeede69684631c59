import ArgumentParser
import Foundation
import MMFuzz

/// `mmfuzz native`: generated sequential cases made as real system calls
/// on this machine's Linux kernel, each in a child process of its own,
/// every outcome judged by the reference model (issue 14's first part:
/// one mm per case; no fork or shrinking yet).
struct NativeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "native",
        abstract: "Check the reference model against the host's Linux kernel.",
        discussion: """
            Each case's mmap, munmap, mprotect and madvise calls, loads and \
            stores run in a child process, inside an arena it reserves, as \
            real system calls and accesses; the model checks every result. \
            Where the simulator deviates from Linux on purpose (the mmap \
            search, unknown flag or protection bits, unaligned accesses), \
            the call is adapted and counted by name, never skipped \
            silently. Cases have one mm: other ops are left out and counted \
            as not-native:<kind>. Every --checkpoint-every requests, and \
            at the end of each case, the host's mappings, resident pages, \
            frames (pagemap), first words and resident set are compared \
            with the model's.

            Exit status: 0 when the host agreed with the model on every \
            case, 1 on the first difference or a harness failure, 2 for bad \
            input (or a host that is not Linux).
            """
    )

    @Option(help: "Stop after this many seconds (default 10, unless --cases is given).")
    var time: Double?

    @Option(help: "Stop after this many cases.")
    var cases: Int?

    @Option(help: "The seed of the first case; case i has seed + i.")
    var seed: UInt64 = 1

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    @Option(help: ArgumentHelp(
        "Compare the host's state with the model's every N requests and at the end of each case (0: never).",
        valueName: "N"))
    var checkpointEvery = 20

    mutating func validate() throws {
        if let time, !(time > 0) { throw ValidationError("--time must be positive, not \(time)") }
        if let cases, cases <= 0 { throw ValidationError("--cases must be positive, not \(cases)") }
        if checkpointEvery < 0 {
            throw ValidationError("--checkpoint-every must not be negative, not \(checkpointEvery)")
        }
        #if !os(Linux)
        throw ValidationError("mmfuzz native needs a Linux host")
        #endif
    }

    /// The host kernel's release (`uname -r`).
    static var kernelRelease: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    func run() throws {
        let limit = time ?? (cases == nil ? 10 : .infinity)
        let start = Date()
        let settings = NativeCase.generatorSettings
        var summary = NativeSummary(
            config: RunConfig(command: "native", cpus: settings.cpus, frames: settings.frames,
                              regime: "native", seed: seed, variants: []),
            kernel: Self.kernelRelease)
        var failure: String?
        var i: UInt64 = 0
        while summary.cases < (cases ?? .max), Date().timeIntervalSince(start) < limit {
            let caseSeed = seed &+ i
            i += 1
            guard let nativeCase = NativeCase.generate(seed: caseSeed) else {
                summary.adaptations["arena-too-small", default: 0] += 1
                continue
            }
            let result: NativeCaseResult
            do {
                result = try NativeRunner(checkpointInterval: checkpointEvery == 0 ? nil : checkpointEvery)
                    .run(nativeCase)
            } catch {
                failure = "case seed \(caseSeed): the harness failed: \(error)"
                break
            }
            summary.cases += 1
            summary.requests += result.requests
            summary.checkpoints += result.checkpoints
            for (k, n) in result.adaptations { summary.adaptations[k, default: 0] += n }
            if let d = result.difference {
                failure = "case seed \(caseSeed): \(d)"
                summary.differences.append(failure!)
                break
            }
        }
        summary.seconds = Date().timeIntervalSince(start)
        summary.stopReason = failure == nil ? "limit" : "failure"
        if json {
            print(try jsonText(summary))
        } else {
            print("mmfuzz native: Linux \(summary.kernel), seed \(seed)")
            for (name, n) in summary.adaptations.sorted(by: { $0.key < $1.key }) {
                print("  \(pad(name, 34)) \(pad(String(n), 9, left: false))")
            }
            if let failure { print("DIFFERENCE: \(failure)") }
            print("Done \(summary.cases) cases, \(summary.requests) requests, \(summary.checkpoints) checkpoints in "
                + String(format: "%.2f", summary.seconds) + " s on Linux \(summary.kernel), "
                + "\(summary.differences.count) differences")
        }
        if failure != nil { throw ExitCode(1) }
    }
}

/// `mmfuzz native --json`: the configuration the cases were generated
/// with, the host kernel's release, and what was checked.
struct NativeSummary: Encodable {
    var config: RunConfig
    var kernel: String
    var cases = 0
    var requests = 0
    /// Checkpoints run: the host's state compared with the model's.
    var checkpoints = 0
    var seconds = 0.0
    var adaptations: [String: Int] = [:]
    var differences: [String] = []
    var stopReason = "limit"
}
