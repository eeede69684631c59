import ArgumentParser
import Foundation
import MMFuzz

/// `mmfuzz native`: generated cases made as real system calls on this
/// machine's Linux kernel, every mm of a case a process of its own (a
/// batch: threads of one), every outcome judged by the reference model
/// (a batch's by the linearizability checker); a difference is shrunk and
/// saved as a reproducer that `mmfuzz replay --native` replays.
struct NativeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "native",
        abstract: "Check the reference model against the host's Linux kernel.",
        discussion: """
            Every mm of a case is a child process, with an arena it \
            reserves: mmap, munmap, mprotect and madvise calls, loads and \
            stores (touches: a store per page) run there as real system \
            calls and accesses, fork is a real fork, exit a real exit, and \
            exec unmaps the arena; the model checks every result. Where \
            the simulator deviates from Linux on purpose (the mmap search, \
            unknown flag or protection bits, unaligned accesses) or the \
            host cannot be asked (an mm that is not a live process), the \
            call is adapted and counted by name, never skipped silently. \
            mmGet, switchMM, reclaim and failNthAlloc are left out and \
            counted as not-native:<kind>. Before each exit, every \
            --checkpoint-every ops and at the end of each case, each \
            live process's mappings, resident pages (mincore), frames \
            (pagemap: shared between processes or not), first words and \
            resident set are compared with the model's.

            One case in \(NativeCase.concurrentShare) (seed a multiple of \
            \(NativeCase.concurrentShare)) is generated as --concurrent makes \
            every case, unless --sequential. With --concurrent the cases are \
            mostly batches: each batch's \
            calls run at once on threads of the process of their mm (a \
            CPU a thread), and some order of them that respects the times \
            the host took them must explain every outcome in the model and \
            leave the mappings and stored values the host has. Batches the \
            host cannot run on threads of one process are left out, \
            counted: batch-fork, batch-placement (an mmap without \
            MAP_FIXED), batch-several-mms, batch-threads. A batch the \
            checker cannot decide within its budget ends its case, counted \
            as linearizer-undecided.

            The first difference stops the run: the case is shrunk (unless \
            --no-shrink) and saved under --save; `mmfuzz replay --native \
            FILE` runs it on the host again.

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

    @Flag(help: "Mostly batches of calls run at once on threads of one process (the concurrent regime).")
    var concurrent = false

    @Flag(help: "Only one call at a time (no case of the concurrent regime).")
    var sequential = false

    /// Test-only: a batch's loads report values no order can give, so
    /// that a linearizability difference is found, shrunk and saved.
    @Flag(help: .hidden)
    var skewBatchLoads = false

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    @Option(help: "Directory for reproducers.")
    var save: String = "./mmfuzz-out"

    @Flag(inversion: .prefixedNo, help: "Shrink a difference before saving it.")
    var shrink = true

    @Option(help: ArgumentHelp(
        "Compare the host's state with the model's every N ops (a touch is one) and at the end of each case (0: never).",
        valueName: "N"))
    var checkpointEvery = NativeCheckpoint.defaultInterval

    /// Test-only: the model is told every store wrote `value ^ 1`, so that
    /// a difference is found, shrunk and saved (see NativeRunner).
    @Flag(help: .hidden)
    var skewStores = false

    mutating func validate() throws {
        if concurrent && sequential { throw ValidationError("--concurrent and --sequential exclude each other") }
        if save.isEmpty { throw ValidationError("--save needs a directory") }
        if checkpointEvery < 0 {
            throw ValidationError("--checkpoint-every must not be negative, not \(checkpointEvery)")
        }
        try OutputPath.check("--save", save)
        if let time, !(time > 0) { throw ValidationError("--time must be positive, not \(time)") }
        if let cases, cases <= 0 { throw ValidationError("--cases must be positive, not \(cases)") }
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
        let settings = concurrent ? NativeCase.concurrentSettings : NativeCase.generatorSettings
        let regime = concurrent ? "native-concurrent" : sequential ? "native-sequential" : "native"
        var summary = NativeSummary(
            config: RunConfig(command: "native", cpus: settings.cpus, frames: settings.frames,
                              regime: regime, seed: seed, variants: []),
            kernel: Self.kernelRelease)
        var failure: String?
        var reproducer: String?
        var runner = NativeRunner(skewStores: skewStores,
                                  checkpointInterval: checkpointEvery == 0 ? nil : checkpointEvery)
        runner.skewBatchLoads = skewBatchLoads
        var i: UInt64 = 0
        while summary.cases < (cases ?? .max), Date().timeIntervalSince(start) < limit {
            let caseSeed = seed &+ i
            i += 1
            let fuzzCase = NativeCase.fuzzCase(
                seed: caseSeed, concurrent: concurrent || (!sequential && NativeCase.concurrentByDefault(seed: caseSeed)))
            guard let nativeCase = NativeCase(fuzzCase) else {
                summary.adaptations["arena-too-small", default: 0] += 1
                continue
            }
            let result: NativeCaseResult
            do {
                result = try runner.run(nativeCase)
            } catch {
                failure = "case seed \(caseSeed): the harness failed: \(error)"
                break
            }
            summary.cases += 1
            summary.requests += result.requests
            summary.checkpoints += result.checkpoints
            summary.batches += result.batches
            for (k, n) in result.onHost { summary.onHost[k.rawValue, default: 0] += n }
            for (k, n) in result.adaptations { summary.adaptations[k, default: 0] += n }
            if let d = result.difference {
                failure = "case seed \(caseSeed): \(d)"
                summary.differences.append(failure!)
                var found = NativeFound(caseSeed: caseSeed, kind: d.kind, message: d.description,
                                        ops: fuzzCase.ops.count, shrunkOps: fuzzCase.ops.count)
                var saved = fuzzCase
                var savedFailure = d.failure
                if shrink {
                    let (small, smallFailure, runs) = runner.shrink(fuzzCase, failure: d.failure)
                    (saved, savedFailure) = (small, smallFailure)
                    found.shrunkOps = small.ops.count
                    found.shrinkRuns = runs
                    found.message = smallFailure.message
                }
                reproducer = try saveReproducer(saved, savedFailure, caseSeed: caseSeed)
                found.reproducer = reproducer
                summary.found = found
                break
            }
        }
        summary.seconds = Date().timeIntervalSince(start)
        summary.stopReason = failure == nil ? "limit" : "failure"
        if json {
            print(try jsonText(summary))
        } else {
            print("mmfuzz native: Linux \(summary.kernel), seed \(seed)")
            print("  on the host: " + summary.onHost.sorted { $0.key < $1.key }
                .map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            if !sequential {
                let leftOut = summary.adaptations.filter { NativeSummary.batchLeftOut.contains($0.key) }
                    .values.reduce(0, +)
                print("  batches: \(summary.batches) on the host (threads of one process), \(leftOut) left out")
            }
            for (name, n) in summary.adaptations.sorted(by: { $0.key < $1.key }) {
                print("  \(pad(name, 34)) \(pad(String(n), 9, left: false))")
            }
            if let failure { print("DIFFERENCE: \(failure)") }
            if let f = summary.found, let reproducer {
                print("  shrunk: \(f.kind) with \(f.shrunkOps) ops of \(f.ops) (\(f.shrinkRuns) runs)")
                print("  \(f.message)")
                print("reproducer: \(reproducer)")
                print("replay with: mmfuzz replay --native \(reproducer)")
            }
            print("Done \(summary.cases) cases, \(summary.requests) requests, \(summary.checkpoints) checkpoints in "
                + String(format: "%.2f", summary.seconds) + " s on Linux \(summary.kernel), "
                + "\(summary.differences.count) differences")
        }
        if failure != nil { throw ExitCode(1) }
    }

    /// Writes a native reproducer; returns its path.
    private func saveReproducer(_ fuzzCase: FuzzCase, _ failure: Failure, caseSeed: UInt64) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: save, withIntermediateDirectories: true)
        } catch {
            printError("mmfuzz: cannot create \(save): \(error.localizedDescription)")
            throw ExitCode(2)
        }
        let kind = failure.kind.replacingOccurrences(of: ":", with: "-")
        let path = (save as NSString).appendingPathComponent("repro-\(kind)-s\(caseSeed).json")
        do {
            try Reproducer(fuzzCase: fuzzCase, failure: failure).write(path: path)
        } catch {
            printError("mmfuzz: cannot write \(path): \(error.localizedDescription)")
            throw ExitCode(2)
        }
        return path
    }
}

/// The difference a native run stopped at, as saved.
struct NativeFound: Encodable {
    var caseSeed: UInt64
    var kind: String
    var message: String
    /// Ops of the generated case, and of the saved (shrunk) one.
    var ops: Int
    var shrunkOps: Int
    var shrinkRuns = 0
    var reproducer: String?
}

/// `mmfuzz native --json`: the configuration the cases were generated
/// with, the host kernel's release, and what was checked.
struct NativeSummary: Encodable {
    var config: RunConfig
    var kernel: String
    var cases = 0
    var requests = 0
    /// Requests made on the host, by kind (newMM: processes started; a
    /// batch's calls included).
    var onHost: [String: Int] = [:]
    /// Checkpoints run: the host's state compared with the model's.
    var checkpoints = 0
    /// Batches run on the host, on threads of one process.
    var batches = 0
    var seconds = 0.0
    var adaptations: [String: Int] = [:]
    var differences: [String] = []
    var found: NativeFound?
    var stopReason = "limit"

    /// The adaptations that leave a whole batch out.
    static let batchLeftOut: Set<String> = Set([NativeAdaptation.batchFork, .batchPlacement, .batchSeveralMMs,
                                                .batchThreads].map(\.rawValue))
}
