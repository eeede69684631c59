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

            A replay that lasts more than a second shows a progress line \
            on standard error (as `run` does: when it is a terminal, or \
            with --progress).

            FILE may be a directory (a --corpus of `mmfuzz run`): every \
            reproducer in it is replayed, in name order, with one line \
            each; the exit status is 1 when any still fails.

            With --bytes, FILE (or every file of the directory) is an             input of the libFuzzer target `mmfuzz-libfuzzer` (a crash or             corpus file), decoded as the target decodes it.

            With --native the case runs on this machine's Linux kernel \
            instead, as `mmfuzz native` ran it (a reproducer it saved), \
            every outcome judged by the model.

            Exit status: 1 while the case still fails (the failure is \
            printed), 0 when it passes, 2 when the file is missing, \
            unreadable or not a reproducer (or, with --native, has no \
            native form or the host is not Linux).
            """
    )

    @Argument(help: "The reproducer (JSON).")
    var file: String

    @Flag(help: "Print every call and its result.")
    var trace = false

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    @Flag(help: "Print a progress line every second even when stderr is not a terminal.")
    var progress = false

    @Flag(help: "FILE is an input of mmfuzz-libfuzzer (bytes), not a reproducer.")
    var bytes = false

    @Flag(help: "Run the case on the host's Linux kernel (a reproducer of `mmfuzz native`).")
    var native = false

    /// Test-only, with --native: the model is told every store wrote
    /// `value ^ 1` (as `mmfuzz native --skew-stores` found the case).
    @Flag(help: .hidden)
    var skewStores = false

    /// Test-only, with --native: a batch's loads report values no order
    /// can give (as `mmfuzz native --skew-batch-loads` found the case).
    @Flag(help: .hidden)
    var skewBatchLoads = false

    /// Seconds between progress lines (tests).
    @Option(help: .hidden)
    var progressInterval: Double = 1

    func run() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
            try replayDirectory()
            return
        }
        let repro: Reproducer
        let fuzzCase: FuzzCase
        do {
            repro = bytes ? Reproducer(fuzzCase: try ByteCase.load(path: file), failure: nil)
                          : try Reproducer.load(path: file)
            fuzzCase = try repro.fuzzCase()
        } catch {
            printError("mmfuzz replay: \(error.reason)")
            throw ExitCode(2)
        }
        if native {
            try replayNative(fuzzCase, repro)
            return
        }
        if !json {
            print("replay \(file): \(fuzzCase.variant.name), \(fuzzCase.config.summary), \(fuzzCase.ops.count) ops")
            if let f = repro.failure {
                print("recorded failure: \(f.kind): \(f.message)")
            }
        }
        let runner: CaseRunner
        do {
            runner = try CaseRunner(config: fuzzCase.config, variant: fuzzCase.variant)
        } catch {
            printError("mmfuzz replay: \(file): the machine refuses \(fuzzCase.variant.name) with \(fuzzCase.config.summary): \(error)")
            throw ExitCode(2)
        }
        let meter = progress || stderrIsTerminal
            ? ProgressMeter(total: fuzzCase.ops.count, terminal: stderrIsTerminal,
                          interval: .milliseconds(Int(max(0, progressInterval) * 1000))) : nil
        let echo = trace
        if echo || meter != nil {
            runner.trace = { index, op, call, outcome in
                if echo {
                    let at = index.map { "#\($0)" } ?? "end"
                    print("  \(pad(at, 5)) \(call) -> \(outcome)" + (op.map { "    [\($0)]" } ?? ""))
                }
                meter?.tick(index)
            }
        }
        let failure = runner.run(fuzzCase.ops)
        meter?.done()
        if json {
            let out = ReplayJSON(
                config: RunConfig(command: "replay", cpus: fuzzCase.config.cpus, frames: fuzzCase.config.frames,
                                  regime: fuzzCase.ops.contains { $0.kind == .parallel } ? "mixed" : "sequential",
                                  seed: fuzzCase.seed, variants: [fuzzCase.variant.name]),
                stopReason: failure == nil ? .done : .failure,
                file: file, ops: fuzzCase.ops.count, calls: runner.opsRun,
                passes: failure == nil, failure: failure.map { ReplayJSON.Found(kind: $0.kind, message: $0.message) },
                recorded: repro.failure.map { ReplayJSON.Found(kind: $0.kind, message: $0.message) })
            print(try jsonText(out))
        } else if let failure {
            print("FAILS: \(failure.kind): \(failure.message)")
            if let recorded = repro.failure, recorded.kind != failure.kind {
                print("(recorded as \(recorded.kind))")
            }
        } else {
            print("passes: \(runner.opsRun) calls, every check clean")
        }
        if failure != nil {
            throw ExitCode.failure
        }
    }
}

extension ReplayCommand {
    /// A directory: every reproducer in it, one line each.
    func replayDirectory() throws {
        let entries: [(name: String, reproducer: Reproducer)]
        do {
            entries = bytes ? try ByteCase.entries(directory: file) : try Corpus(directory: file).entries()
        } catch {
            printError("mmfuzz replay: \(error.reason)")
            throw ExitCode(2)
        }
        var failing = 0
        var results: [ReplayJSON.Entry] = []
        for (name, repro) in entries {
            let fuzzCase: FuzzCase
            do {
                fuzzCase = try repro.fuzzCase()
            } catch {
                printError("mmfuzz replay: \(name): \(error.reason)")
                throw ExitCode(2)
            }
            let failure: Failure?
            if native {
                guard let nativeCase = NativeCase(fuzzCase) else {
                    printError("mmfuzz replay: \(name): the case's addresses do not fit in the native arena")
                    throw ExitCode(2)
                }
                do {
                    failure = try NativeRunner().run(nativeCase).difference?.failure
                } catch {
                    printError("mmfuzz replay: \(name): the harness failed: \(error)")
                    throw ExitCode.failure
                }
            } else {
                failure = CaseRunner.run(fuzzCase).failure
            }
            if failure != nil { failing += 1 }
            results.append(ReplayJSON.Entry(file: name, passes: failure == nil, failure: failure?.kind))
            if !json {
                print("\(pad(name, 40)) " + (failure.map { "FAILS: \($0.kind): \($0.message)" } ?? "passes"))
            }
        }
        if json {
            print(try jsonText(ReplayJSON.DirectoryResult(directory: file, cases: entries.count, failing: failing,
                                                          entries: results)))
        } else {
            print("replayed \(entries.count) cases from \(file): \(failing) still fail")
        }
        if failing > 0 { throw ExitCode.failure }
    }

    /// `--native`: the case's native form on the host, judged by the model.
    func replayNative(_ fuzzCase: FuzzCase, _ repro: Reproducer) throws {
        #if !os(Linux)
        printError("mmfuzz replay: --native needs a Linux host")
        throw ExitCode(2)
        #endif
        guard let nativeCase = NativeCase(fuzzCase) else {
            printError("mmfuzz replay: \(file): the case's addresses do not fit in the native arena")
            throw ExitCode(2)
        }
        let kernel = NativeCommand.kernelRelease
        if !json {
            print("replay \(file) on Linux \(kernel): \(fuzzCase.ops.count) ops, \(nativeCase.requests.count) requests")
            if let f = repro.failure {
                print("recorded failure: \(f.kind): \(f.message)")
            }
        }
        var runner = NativeRunner(skewStores: skewStores)
        runner.skewBatchLoads = skewBatchLoads
        if trace && !json {
            let opIndices = nativeCase.opIndices
            runner.trace = { @Sendable i, request, outcome in
                let at = "#\(opIndices[i])"
                print("  \(pad(at, 5)) \(request) -> \(outcome)")
            }
            runner.batchTrace = { @Sendable opIndex, events in
                let at = "#\(opIndex)"
                print("  \(pad(at, 5)) batch on \(Set(events.map(\.call.cpu)).count) threads:")
                for e in events { print("        \(e)") }
            }
        }
        let result: NativeCaseResult
        do {
            result = try runner.run(nativeCase)
        } catch {
            printError("mmfuzz replay: \(file): the harness failed: \(error)")
            throw ExitCode.failure
        }
        let failure = result.difference?.failure
        if json {
            let out = ReplayJSON(
                config: RunConfig(command: "replay", cpus: 1, frames: 0, regime: "native", seed: fuzzCase.seed,
                                  variants: []),
                stopReason: failure == nil ? .done : .failure, file: file, ops: fuzzCase.ops.count,
                calls: result.requests, passes: failure == nil,
                failure: failure.map { ReplayJSON.Found(kind: $0.kind, message: $0.message) },
                recorded: repro.failure.map { ReplayJSON.Found(kind: $0.kind, message: $0.message) },
                kernel: kernel, adaptations: result.adaptations)
            print(try jsonText(out))
        } else if let failure {
            print("DIFFERS: \(failure.kind): \(failure.message)")
            if let recorded = repro.failure, recorded.kind != failure.kind {
                print("(recorded as \(recorded.kind))")
            }
        } else {
            print("passes: \(result.requests) requests, the host agrees with the model")
        }
        if failure != nil { throw ExitCode.failure }
    }
}

/// `mmfuzz replay --json`.
struct ReplayJSON: Encodable {
    /// One case of a directory.
    struct Entry: Encodable {
        var file: String
        var passes: Bool
        var failure: String?
    }

    /// `mmfuzz replay DIR --json`.
    struct DirectoryResult: Encodable {
        var directory: String
        var cases: Int
        var failing: Int
        var entries: [Entry]
    }

    struct Found: Encodable {
        var kind: String
        var message: String
    }

    var config: RunConfig
    var stopReason: StopReason
    var file: String
    var ops: Int
    var calls: Int
    var passes: Bool
    var failure: Found?
    var recorded: Found?
    /// With --native: the host's kernel release and the adaptations made.
    var kernel: String?
    var adaptations: [String: Int]?
}

/// A progress line about once a second on standard error, as `run` prints.
final class ProgressMeter {
    private let total: Int
    private let terminal: Bool
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private var last: ContinuousClock.Instant
    private var calls = 0
    private var printed = false
    private let interval: Duration

    init(total: Int, terminal: Bool, interval: Duration = .seconds(1)) {
        self.total = total
        self.terminal = terminal
        self.interval = interval
        start = clock.now
        last = start
    }

    /// One call made, at op `index` (nil: the end-of-case exits).
    func tick(_ index: Int?) {
        calls += 1
        guard calls & 1023 == 0 else { return }
        let now = clock.now
        guard now - last >= interval else { return }
        last = now
        let d = (now - start).components
        let seconds = Double(d.seconds) + Double(d.attoseconds) * 1e-18
        let at = index ?? total
        let line = String(format: "[mmfuzz replay] %6.1fs  op %d of %d (%.0f%%)  calls %@  calls/s %@",
                          seconds, at, total, total > 0 ? 100 * Double(at) / Double(total) : 100,
                          compact(Double(calls)), compact(Double(calls) / max(seconds, 1e-9)))
        if terminal {
            printError("\r" + line + "\u{1B}[K", terminator: "")
        } else {
            printError(line)
        }
        printed = true
    }

    /// Ends the progress line.
    func done() {
        if printed && terminal { printError("") }
    }
}
