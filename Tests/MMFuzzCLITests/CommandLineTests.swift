import Foundation
import Testing

/// The root command and option limits, as a new user meets them.
@Suite struct CommandLineTests {
    @Test func versionIsPrinted() throws {
        let r = try mmfuzz("--version")
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).first?.isNumber == true, "\(r)")
    }

    @Test func helpOfAnUnknownSubcommandIsAUsageError() throws {
        let r = try mmfuzz("help", "foo")
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("unknown subcommand 'foo'"), "\(r)")
        #expect(try mmfuzz("help", "trace").status == 0)
    }

    @Test func aMistypedSubcommandIsReportedAsUnknown() throws {
        let r = try mmfuzz("rnu")
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("unknown subcommand 'rnu'"), "\(r)")
        #expect(!r.stderr.contains("mmfuzz run <options>"), "\(r)")
    }

    @Test(arguments: ["8", "4194305", "4294967295"])
    func framesOutsideTheMachinesLimitsAreRefusedByTheParser(frames: String) throws {
        let r = try mmfuzz("run", "--cases", "1", "--frames", frames)
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("between 16 and 4194304"), "\(r)")
        // No variant the user did not name.
        #expect(!r.stderr.contains("preempt"), "\(r)")
    }

    @Test func theMachinesLimitsThemselvesAreAccepted() throws {
        let r = try mmfuzz("run", "--cases", "2", "--frames", "16", "--variant", "vector/mm/nopreempt")
        #expect(r.status == 0, "\(r)")
    }

    @Test func runEndsWithOneGreppableStatsLine() throws {
        let r = try mmfuzz("run", "--cases", "20", "--sequential")
        #expect(r.status == 0, "\(r)")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("Done 20 cases, "), "\(r)")
        #expect(last.contains(", huge faults "), "\(r)")
        #expect(last.contains(" inplace, fallbacks "), "\(r)")
        #expect(last.contains("0 failures, stop limit"), "\(r)")
    }

    @Test func runChecksSaveBeforeTheWorkStarts() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        let r = try mmfuzz("run", "--cases", "1", "--save", dir + "/file/out")
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains(dir + "/file/out"), "\(r)")
        #expect(!r.stdout.contains("cases"), "the run started: \(r)")
    }

    @Test func saveRefusesAFileAndAnUnwritableParentButNotANewPath() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        let file = try mmfuzz("run", "--cases", "1", "--save", dir + "/file")
        #expect(file.status == 2 && file.stderr.contains("exists and is not a directory"), "\(file)")
        try FileManager.default.createDirectory(atPath: dir + "/ro", withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o555])
        if access(dir + "/ro", W_OK) != 0 {   // root may write anyway
            let ro = try mmfuzz("run", "--cases", "1", "--save", dir + "/ro/a/b")
            #expect(ro.status == 2 && ro.stderr.contains("\(dir)/ro is not writable"), "\(ro)")
        }
        let proc = try mmfuzz("run", "--cases", "1", "--save", "/proc/1/mmfuzz-out")
        #expect(proc.status == 2 && proc.stderr.contains("/proc/1 is not writable"), "\(proc)")
        let fresh = try mmfuzz("run", "--cases", "1", "--save", dir + "/new/a/b")
        #expect(fresh.status == 0, "\(fresh)")
    }

    @Test func runJSONCarriesTheConfiguration() throws {
        let r = try mmfuzz("run", "--cases", "4", "--json", "--seed", "7", "--cpus", "3",
                           "--variant", "inplace/split/preempt")
        #expect(r.status == 0, "\(r)")
        let config = try #require(r.json?["config"] as? [String: Any], "\(r)")
        #expect(config["cpus"] as? Int == 3)
        #expect(config["frames"] as? Int == 4096)
        #expect(config["seed"] as? Int == 7)
        #expect(config["regime"] as? String == "mixed")
        #expect(config["version"] is String)
        #expect(config["variants"] as? [String] == ["inplace/split/preempt"])
        #expect(r.json?["stopReason"] as? String == "limit")
        let huge = try #require(r.json?["huge"] as? [String: Any], "\(r)")
        #expect(Set(huge.keys) == ["faults", "splits", "zapsVector", "zapsInplace", "fallbacks"])
        let events = try #require(r.json?["events"] as? [String: Any], "\(r)")
        #expect(events["thp_faults"] as? Int == huge["faults"] as? Int)
        #expect(events["adoptedHugePages"] is Int)
        #expect(r.stderr.contains("Done 4 cases, "), "\(r)")
    }
}
