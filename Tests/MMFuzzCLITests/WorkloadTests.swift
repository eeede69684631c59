import Foundation
import MMFuzz
import MMSim
import Testing

/// Configurations a workload cannot run in are usage errors; the other
/// subcommands print JSON with their configuration.
@Suite struct WorkloadTests {
    @Test(arguments: [["--pages", "4096"], ["--pages", "1024", "--frames", "100000"],
                      ["--pages", "512", "--frames", "2054"], ["--pages", "64", "--frames", "67", "--cpus", "1"]])
    func benchRefusesWhatItsWorkloadsCannotRunIn(arguments: [String]) throws {
        let r = try mmfuzz(["bench", "--cases", "2", "--runs", "1"] + arguments)
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("--pages") || r.stderr.contains("--frames"), "\(r)")
        #expect(!r.stdout.contains("problems"), "the bench ran: \(r)")
    }

    /// The need stated is enough: the measured worst case runs clean.
    @Test func benchRunsCleanWithExactlyTheFramesItNeeds() throws {
        let r = try mmfuzz(["bench", "--cases", "2", "--runs", "1", "--pages", "512", "--frames", "2055",
                            "--repeats", "2", "--variant", "inplace/split/preempt", "--json"])
        #expect(r.status == 0, "\(r)")
        let rows = try #require(r.json?["parallelFaults"] as? [[String: Any]], "\(r)")
        #expect(rows.first?["failedOps"] as? Int == 0)
        #expect(r.json?["stopReason"] as? String == "done")
        #expect((r.json?["config"] as? [String: Any])?["frames"] as? Int == 2055)
    }

    /// `--only huge` runs that part alone: 16 rows, nothing else measured.
    @Test func benchOnlyHuge() throws {
        let r = try mmfuzz(["bench", "--only", "huge", "--huge-megabytes", "4", "--huge-repeats", "1", "--json"])
        #expect(r.status == 0, "\(r)")
        let rows = try #require(r.json?["huge"] as? [[String: Any]], "\(r)")
        #expect(rows.count == 16)
        #expect(rows.allSatisfy { ($0["counts"] as? [String: Any])?["pagesFreed"] as? Int ?? 0 > 0 })
        #expect((r.json?["proposals"] as? [Any])?.isEmpty == true && (r.json?["fork"] as? [Any])?.isEmpty == true)
        let text = try mmfuzz(["bench", "--only", "huge", "--huge-megabytes", "2", "--huge-repeats", "1"])
        #expect(text.status == 0 && text.stdout.contains("inplace/mm/preempt, 2m, sparse"), "\(text)")
    }

    @Test(arguments: [["--huge-megabytes", "3"], ["--huge-megabytes", "0"], ["--huge-megabytes", "9000"],
                      ["--huge-repeats", "0"]])
    func benchRefusesBadHugeOptions(arguments: [String]) throws {
        let r = try mmfuzz(["bench", "--only", "huge"] + arguments)
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains(arguments[0]), "\(r)")
    }

    @Test func stressHasJSON() throws {
        let r = try mmfuzz(["stress", "--time", "0.3", "--json", "--seed", "3", "--variant", "vector/split/preempt"])
        #expect(r.status == 0, "\(r)")
        #expect(r.json?["stopReason"] as? String == "limit")
        let config = try #require(r.json?["config"] as? [String: Any], "\(r)")
        #expect(config["regime"] as? String == "threaded")
        #expect(config["seed"] as? Int == 3)
        #expect(((r.json?["variants"] as? [[String: Any]])?.first?["ops"] as? Int ?? 0) > 0)
    }

    /// A reproducer of `n` accesses to one page.
    static func longReproducer(ops n: Int, in dir: String) throws -> String {
        var ops: [Op] = [.newMM, .mmap(cpu: 0, slot: 0, addr: 0x1000_0000, length: Machine.pageSize,
                                        prot: Prot.readWrite.rawValue,
                                        flags: MapFlags.anonymousPrivate.union(.fixed).rawValue)]
        for i in 0 ..< n {
            ops.append(i % 2 == 0 ? .store(cpu: i % 2, slot: 0, addr: 0x1000_0000, value: UInt64(i))
                                  : .load(cpu: i % 2, slot: 0, addr: 0x1000_0000))
        }
        let fuzzCase = FuzzCase(config: CaseConfig(cpus: 2, frames: 64), variant: .baseline, seed: 9, ops: ops)
        let path = dir + "/long.json"
        try Reproducer(fuzzCase: fuzzCase, failure: nil).write(path: path)
        return path
    }

    @Test func aLongReplayShowsProgressAndHasJSON() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let path = try Self.longReproducer(ops: 100_000, in: dir)
        // Lines every 10 ms, so that a loaded machine cannot make the
        // replay too short to show one.
        let r = try mmfuzz(["replay", path, "--progress", "--progress-interval", "0.01", "--json"], in: dir)
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.contains("[mmfuzz replay]"), "\(r)")
        #expect(r.stderr.contains("of 100002"), "\(r)")
        #expect(r.json?["passes"] as? Bool == true)
        #expect((r.json?["config"] as? [String: Any])?["frames"] as? Int == 64)
    }
}
