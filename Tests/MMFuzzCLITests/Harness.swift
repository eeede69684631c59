import Foundation
import Testing

/// What one run of the binary did.
struct Outcome: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String { "status \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }

    /// The standard output as a JSON object.
    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
    }
}

/// The `mmfuzz` binary, next to the test bundle in the build directory
/// (or `MMFUZZ_BINARY`: to run these tests against another build, such as
/// the main branch's, and see which fail there).
let binary: URL = {
    if let path = ProcessInfo.processInfo.environment["MMFUZZ_BINARY"] {
        return URL(fileURLWithPath: path)
    }
    #if os(Linux)
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return me.deletingLastPathComponent().appendingPathComponent("mmfuzz")
    #else
    let bundle = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }!
    return bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("mmfuzz")
    #endif
}()

/// A fresh scratch directory.
func scratchDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "mmfuzz-cli-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Removes a directory made by ``scratchDirectory()``.
func removeScratch(_ dir: String) {
    try? FileManager.default.removeItem(atPath: dir)
}

/// Starts `mmfuzz ARGS` with its output going to files in `dir`.
func launch(_ arguments: [String], stdin: FileHandle? = nil, in dir: String) throws -> Process {
    let p = Process()
    p.executableURL = binary
    p.arguments = arguments
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    FileManager.default.createFile(atPath: dir + "/.stdout", contents: nil)
    FileManager.default.createFile(atPath: dir + "/.stderr", contents: nil)
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/.stdout"))
    p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/.stderr"))
    p.standardInput = stdin ?? FileHandle.nullDevice
    try p.run()
    return p
}

/// Waits for `p` and collects what it wrote.
func finish(_ p: Process, in dir: String) -> Outcome {
    p.waitUntilExit()
    let out = (try? String(contentsOfFile: dir + "/.stdout", encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: dir + "/.stderr", encoding: .utf8)) ?? ""
    return Outcome(status: p.terminationStatus, stdout: out, stderr: err)
}

/// Runs `mmfuzz ARGS` to its end, in a scratch directory (or `dir`), with
/// `input` as its standard input (through a pipe) when given.
func mmfuzz(_ arguments: String..., input: Data? = nil, in dir: String? = nil) throws -> Outcome {
    try mmfuzz(arguments, input: input, in: dir)
}

func mmfuzz(_ arguments: [String], input: Data? = nil, in given: String? = nil) throws -> Outcome {
    let dir = try given ?? scratchDirectory()
    defer {
        if given == nil { removeScratch(dir) }
    }
    guard let input else {
        return finish(try launch(arguments, in: dir), in: dir)
    }
    // A writer of its own, so that a child that stops reading early (or
    // never starts) cannot block the test: the write then fails (EPIPE,
    // SIGPIPE ignored) once the child has exited.
    signal(SIGPIPE, SIG_IGN)
    let pipe = Pipe()
    let p = try launch(arguments, stdin: pipe.fileHandleForReading, in: dir)
    try pipe.fileHandleForReading.close()
    let writer = pipe.fileHandleForWriting
    let thread = Thread {
        try? writer.write(contentsOf: input)
        try? writer.close()
    }
    thread.start()
    return finish(p, in: dir)
}

/// The trace snippet shipped with the engine's tests (2000 events of the
/// kbuild trace, xz), decompressed.
func kbuildSnippet(lines: Int? = nil) throws -> String {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    let xz = here.deletingLastPathComponent()
        .appendingPathComponent("MMFuzzTests/TraceSnippets/kbuild-head2000.perfscript.xz")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["xz", "-dc", xz.path]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard let lines else { return text }
    return text.split(separator: "\n", omittingEmptySubsequences: false).prefix(lines)
        .joined(separator: "\n") + "\n"
}
