import Foundation
import MMSim
import Testing

/// Ctrl-C (SIGINT) and SIGTERM: the summary so far, exit status 130.
@Suite struct InterruptTests {
    /// Waits up to `seconds` for `condition`.
    static func wait(_ seconds: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// Whether `p` catches `sig` yet (Linux: the SigCgt mask of
    /// /proc/PID/status), so that a signal sent now reaches its handler
    /// rather than ending the process before it installed one.
    static func catches(_ p: Process, _ sig: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(p.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
              let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << UInt64(sig - 1)) != 0
    }

    static func stderr(_ dir: String) -> String {
        (try? String(contentsOfFile: dir + "/.stderr", encoding: .utf8)) ?? ""
    }

    /// Signals `p` and waits (at most 20 s) for it to end.
    static func stop(_ p: Process, with sig: Int32, in dir: String) throws -> Outcome {
        kill(p.processIdentifier, sig)
        let ended = wait(20) { !p.isRunning }
        if !ended { kill(p.processIdentifier, SIGKILL) }
        try #require(ended, "still running 20 s after the signal")
        return finish(p, in: dir)
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func runPrintsTheJSONSoFar(sig: Int32) throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let p = try launch(["run", "--time", "120", "--json", "--progress"], in: dir)
        #expect(Self.wait(30) { Self.stderr(dir).contains("[mmfuzz]") })
        let r = try Self.stop(p, with: sig, in: dir)
        #expect(r.status == 130, "\(r)")
        #expect(r.json?["stopReason"] as? String == "interrupted", "\(r)")
        #expect(r.json?["cases"] as? Int ?? 0 > 0, "\(r)")
    }

    @Test func runPrintsTheSummaryAndTheDoneLine() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let p = try launch(["run", "--time", "120", "--progress"], in: dir)
        #expect(Self.wait(30) { Self.stderr(dir).contains("[mmfuzz]") })
        let r = try Self.stop(p, with: SIGINT, in: dir)
        #expect(r.status == 130, "\(r)")
        #expect(r.stdout.contains("kernel events reached"), "\(r)")
        #expect(r.stdout.split(separator: "\n").last?.hasSuffix("stop interrupted") == true, "\(r)")
    }

    /// A trace read from a pipe: stopped after the lines written so far,
    /// the figures printed, the report written whole.
    @Test func traceStopsAtTheNextEvent() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let lines = try kbuildSnippet().split(separator: "\n").map { $0 + "\n" }
        signal(SIGPIPE, SIG_IGN)
        let pipe = Pipe()
        let p = try launch(["trace", "-", "--json", "--report", dir + "/report"],
                           stdin: pipe.fileHandleForReading, in: dir)
        try pipe.fileHandleForReading.close()
        // Less than a pipe's buffer: never blocks.
        let first = Data(lines.prefix(300).joined().utf8)
        #expect(first.count < 65_536)
        try? pipe.fileHandleForWriting.write(contentsOf: first)
        usleep(1_000_000)
        kill(p.processIdentifier, SIGINT)
        usleep(200_000)
        // The next line wakes the reader, which then stops.
        try? pipe.fileHandleForWriting.write(contentsOf: Data(lines[300].utf8))
        let ended = Self.wait(20) { !p.isRunning }
        try pipe.fileHandleForWriting.close()
        try #require(ended)
        let r = finish(p, in: dir)
        #expect(r.status == 130, "\(r)")
        #expect(r.json?["stopReason"] as? String == "interrupted", "\(r)")
        let variants = (r.json?["variants"] as? [[String: Any]]) ?? []
        #expect(variants.count == Variant.allCombinations.count)
        #expect(variants.allSatisfy { ($0["events"] as? Int ?? 0) > 250 && $0["interrupted"] as? Bool == true },
                "\(r)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/report").sorted()
        #expect(files == ["chart.svg", "report.md"])
    }

    @Test func stressStopsAtTheEndOfItsRound() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let p = try launch(["stress", "--time", "60", "--json", "--seed", "1"], in: dir)
        #expect(Self.wait(30) { Self.catches(p, SIGTERM) })
        usleep(1_500_000)
        let r = try Self.stop(p, with: SIGTERM, in: dir)
        #expect(r.status == 130, "\(r)")
        #expect(r.json?["stopReason"] as? String == "interrupted", "\(r)")
        #expect(r.json?["variants"] is [[String: Any]], "\(r)")
    }

    @Test func benchStopsBetweenPasses() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let p = try launch(["bench", "--cases", "300", "--runs", "100", "--json"], in: dir)
        #expect(Self.wait(30) { Self.catches(p, SIGINT) })
        usleep(1_500_000)
        let r = try Self.stop(p, with: SIGINT, in: dir)
        #expect(r.status == 130, "\(r)")
        #expect(r.json?["stopReason"] as? String == "interrupted", "\(r)")
        #expect(r.json?["checkedRuns"] is [Any] && r.json?["proposals"] is [Any], "\(r)")
    }
}
