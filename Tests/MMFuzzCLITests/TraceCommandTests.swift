import Foundation
import MMFuzz
import MMSim
import Testing

/// `mmfuzz trace` fed as a user would feed it.
@Suite struct TraceCommandTests {
    /// Every variant's events, from the JSON.
    static func events(_ r: Outcome) -> [Int] {
        ((r.json?["variants"] as? [[String: Any]]) ?? []).compactMap { $0["events"] as? Int }
    }

    @Test(arguments: ["-", "/dev/stdin"])
    func aPipeFeedsEveryVariant(path: String) throws {
        let text = try kbuildSnippet(lines: 600)
        let r = try mmfuzz("trace", path, "--json", input: Data(text.utf8))
        #expect(r.status == 0, "\(r)")
        let events = Self.events(r)
        #expect(events.count == Variant.allCombinations.count, "\(r)")
        #expect(events.allSatisfy { $0 == events.first! && $0 > 500 }, "\(events)")
    }

    @Test(arguments: ["", "# only a comment\n\n"])
    func aTraceWithNoEventsIsAnError(text: String) throws {
        let r = try mmfuzz("trace", "-", input: Data(text.utf8))
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("no events"), "\(r)")
    }

    /// `make 23492/23492 1028.282366:` as perf script's default output
    /// prints it: `make 23492 [001] 1028.282366:`, with CRLF line ends.
    static func defaultPerfFormat(_ text: String) -> String {
        var out = ""
        for (i, line) in text.split(separator: "\n").enumerated() {
            var words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if let k = words.firstIndex(where: { $0.contains("/") && $0.first!.isNumber }) {
                let tid = words[k].split(separator: "/")[1]
                words[k] = "\(tid) [\(String(format: "%03d", i % 2))]"
            }
            out += words.joined(separator: " ") + "\r\n"
        }
        return out
    }

    @Test func perfScriptsDefaultOutputWithCRLFIsAccepted() throws {
        let text = Self.defaultPerfFormat(try kbuildSnippet(lines: 600))
        #expect(text.contains("[001]"))
        let r = try mmfuzz("trace", "-", "--json", "--variant", "vector/mm/preempt", input: Data(text.utf8))
        #expect(r.status == 0, "\(r)")
        #expect(Self.events(r).first ?? 0 > 500, "\(r)")
    }

    @Test func theCPUColumnIsParsedAndCRIgnored() throws {
        let events = try TraceParser.parse(text: "cc1 plus 812 [003] 5.000001:  syscalls:sys_exit_mmap: 0x7f00\r\nsh 9/9 6.5: syscalls:sys_exit_brk: 0x0\n")
        #expect(events.count == 2)
        #expect(events[0].cpu == 3 && events[0].pid == 812 && events[0].tid == 812)
        #expect(events[1].cpu == nil && events[1].pid == 9)
    }

    @Test func outputPathsAreCheckedBeforeTheReplay() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        let text = try kbuildSnippet(lines: 100)
        for option in ["--report", "--save"] {
            let r = try mmfuzz("trace", "-", option, dir + "/file/sub", input: Data(text.utf8))
            #expect(r.status == 2, "\(r)")
            #expect(r.stderr.contains("\(option) \(dir)/file/sub"), "\(r)")
            #expect(!r.stderr.contains("events in"), "the replay ran first: \(r)")
        }
    }

    @Test func theReportIsWrittenWhole() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let text = try kbuildSnippet(lines: 300)
        let r = try mmfuzz("trace", "-", "--report", dir + "/report", "--variant", "vector/mm/preempt",
                           input: Data(text.utf8))
        #expect(r.status == 0, "\(r)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/report").sorted()
        #expect(files == ["chart.svg", "report.md"])
    }
}
