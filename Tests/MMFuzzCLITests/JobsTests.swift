import Foundation
import MMFuzz
import MMSim
import Testing

/// `mmfuzz run --jobs N`: N worker processes, one progress line and one
/// summary; the first failure stops every worker, and its report names
/// the worker's seed, with which `--jobs 1` meets the case alone; no
/// worker outlives the run.  Failures are planted (`--plant-failure`, a
/// hidden test-only option: the case of that seed fails once it has run).
@Suite struct JobsTests {
    static let seed: UInt64 = 0x10b5
    static let variants = Variant.allCombinations.map(\.description)

    /// `run` on one variant (two for --keep-going), sequential cases, no
    /// shrinking: quick.
    static func run(_ extra: [String], variants: Int = 1, in dir: String? = nil) throws -> Outcome {
        var a = ["run", "--sequential", "--no-shrink", "--json", "--seed", "\(seed)"]
        for v in Self.variants.prefix(variants) {
            a += ["--variant", v]
        }
        return try mmfuzz(a + extra, in: dir)
    }

    /// The seed of case `index` of worker `worker`.
    static func plant(worker: Int, index: Int) -> UInt64 {
        caseSeed(session: ParallelSession.workerSeed(session: seed, worker: worker), index: index)
    }

    @Test func casesAreSharedOutAndAddedUp() throws {
        let two = try Self.run(["--cases", "9", "--jobs", "2"])
        #expect(two.status == 0, "\(two)")
        #expect(two.json?["jobs"] as? Int == 2, "\(two)")
        #expect(two.json?["cases"] as? Int == 9, "\(two)")
        // Worker 0 ran 5 cases of the run's seed, worker 1 four of its own.
        let w1 = ParallelSession.workerSeed(session: Self.seed, worker: 1)
        let first = try Self.run(["--cases", "5", "--jobs", "1"])
        let second = try mmfuzz(["run", "--sequential", "--no-shrink", "--json", "--seed", "\(w1)",
                                 "--variant", Self.variants[0], "--cases", "4", "--jobs", "1"])
        let ops = [first, second].map { $0.json?["ops"] as? Int ?? -1 }
        #expect(two.json?["ops"] as? Int == ops[0] + ops[1], "\(two)\n\(first)\n\(second)")
        let events = [two, first, second].map { ($0.json?["events"] as? [String: Int])?["faults"] ?? -1 }
        #expect(events[0] == events[1] + events[2])
    }

    @Test func theFirstFailureStopsEveryWorkerAndNamesTheSeedThatMeetsItAlone() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let planted = Self.plant(worker: 1, index: 3)
        let clock = ContinuousClock()
        let start = clock.now
        let r = try Self.run(["--time", "120", "--jobs", "2", "--plant-failure", "\(planted)"], in: dir)
        // Both workers stopped long before their 120 s.
        #expect(clock.now - start < .seconds(60))
        #expect(r.status == 1, "\(r)")
        #expect(r.json?["stopReason"] as? String == "failure", "\(r)")
        let failures = r.json?["failures"] as? [[String: Any]] ?? []
        try #require(failures.count == 1, "\(r)")
        let f = failures[0]
        let workerSeed = ParallelSession.workerSeed(session: Self.seed, worker: 1)
        #expect(f["worker"] as? Int == 1, "\(r)")
        #expect((f["workerSeed"] as? NSNumber)?.uint64Value == workerSeed, "\(r)")
        #expect(f["caseIndex"] as? Int == 3, "\(r)")
        #expect((f["caseSeed"] as? NSNumber)?.uint64Value == planted, "\(r)")
        #expect(f["kind"] as? String == "test:planted", "\(r)")
        let path = try #require(f["reproducer"] as? String)
        let saved = try Reproducer.load(path: path.hasPrefix("/") ? path : dir + "/" + path)
        #expect(saved.seed == planted)

        // Alone, with the worker's seed, the run meets it at the same case.
        let alone = try mmfuzz(["run", "--sequential", "--no-shrink", "--json", "--seed", "\(workerSeed)",
                                "--variant", Self.variants[0], "--cases", "10", "--jobs", "1",
                                "--plant-failure", "\(planted)"])
        #expect(alone.status == 1, "\(alone)")
        let again = (alone.json?["failures"] as? [[String: Any]])?.first
        #expect(again?["caseIndex"] as? Int == 3, "\(alone)")
        #expect((again?["caseSeed"] as? NSNumber)?.uint64Value == planted, "\(alone)")
        #expect(again?["worker"] as? Int == 0, "\(alone)")

        // The text summary says so.
        let text = try mmfuzz(["run", "--sequential", "--no-shrink", "--seed", "\(Self.seed)",
                               "--variant", Self.variants[0], "--time", "120", "--jobs", "2",
                               "--plant-failure", "\(planted)"])
        #expect(text.status == 1, "\(text)")
        #expect(text.stdout.contains("worker 1 of 2, worker seed \(workerSeed): --jobs 1 --seed \(workerSeed) meets it alone"),
                "\(text)")
        #expect(text.stdout.split(separator: "\n").last?.hasSuffix("1 failures, stop failure") == true, "\(text)")
    }

    @Test func keepGoingKeepsOneFailurePerVariantAndKindAndCountsRepeats() throws {
        // Worker 0's case 0 and worker 1's case 0 fail on the first variant
        // (a repeat across workers), worker 1's case 1 on the second.
        let plants = [Self.plant(worker: 0, index: 0), Self.plant(worker: 1, index: 0), Self.plant(worker: 1, index: 1)]
        let r = try Self.run(["--cases", "6", "--jobs", "2", "--keep-going"]
                                 + plants.flatMap { ["--plant-failure", "\($0)"] }, variants: 2)
        #expect(r.status == 1, "\(r)")
        #expect(r.json?["cases"] as? Int == 6, "\(r)")
        let failures = r.json?["failures"] as? [[String: Any]] ?? []
        #expect(Set(failures.compactMap { $0["variant"] as? String }).count == 2, "\(r)")
        #expect(failures.count == 2, "\(r)")
        #expect(r.json?["repeatedFailures"] as? Int == 1, "\(r)")
    }

    @Test func theCorpusIsReplayedOnceAndAFailureSavedOnce() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let corpus = dir + "/corpus"
        try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CorpusCommandTests.kept, toPath: corpus + "/a-kept.json")
        let planted = Self.plant(worker: 1, index: 1)
        let r = try Self.run(["--cases", "4", "--jobs", "2", "--corpus", corpus, "--plant-failure", "\(planted)"],
                             in: dir)
        #expect(r.status == 1, "\(r)")
        #expect(r.json?["corpusReplayed"] as? Int == 1, "\(r)")
        let names = try FileManager.default.contentsOfDirectory(atPath: corpus).filter { $0.hasSuffix(".json") }
        #expect(names.count == 2, "\(names)")
        let failure = (r.json?["failures"] as? [[String: Any]])?.first
        let saved = try #require(failure?["corpusFile"] as? String, "\(r)")
        #expect(names.contains(saved))

        // Next run: the saved case fails first, and no worker starts.
        let next = try Self.run(["--time", "120", "--jobs", "2", "--corpus", corpus, "--plant-failure", "\(planted)"],
                                in: dir)
        #expect(next.status == 1, "\(next)")
        #expect(next.json?["corpusReplayed"] as? Int == 2, "\(next)")
        #expect(next.json?["cases"] as? Int == 2, "\(next)")
        #expect((next.json?["failures"] as? [[String: Any]])?.first?["corpusFile"] as? String == saved, "\(next)")
    }

    /// The processes whose parent is `pid`.
    static func children(of pid: pid_t) -> [pid_t] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return all.compactMap(Int32.init).filter { p in
            guard let stat = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            // After "(comm)": state, ppid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }

    /// Whether `pid` has ended (gone, or a zombie left to its new parent).
    static func ended(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalStopsEveryWorkerAndTheRunPrintsTheirSum(sig: Int32) throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let p = try launch(["run", "--time", "120", "--jobs", "2", "--json", "--progress"], in: dir)
        #expect(InterruptTests.wait(30) { InterruptTests.stderr(dir).contains("[mmfuzz]") })
        let workers = Self.children(of: p.processIdentifier)
        #expect(workers.count == 2)
        let r = try InterruptTests.stop(p, with: sig, in: dir)
        #expect(r.status == 130, "\(r)")
        #expect(r.json?["stopReason"] as? String == "interrupted", "\(r)")
        #expect(r.json?["jobs"] as? Int == 2, "\(r)")
        #expect(r.json?["cases"] as? Int ?? 0 > 0, "\(r)")
        // Reaped by the run before it ended.
        #expect(workers.allSatisfy { kill($0, 0) != 0 }, "\(workers)")
        #expect(!r.stderr.contains("without reporting"), "\(r)")
    }

    @Test func aKilledRunLeavesNoWorkerBehind() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let p = try launch(["run", "--time", "120", "--jobs", "2", "--progress"], in: dir)
        #expect(InterruptTests.wait(30) { InterruptTests.stderr(dir).contains("[mmfuzz]") })
        let workers = Self.children(of: p.processIdentifier)
        #expect(workers.count == 2)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        // The stop pipe ends with the run: each worker stops after its case.
        #expect(InterruptTests.wait(20) { workers.allSatisfy(Self.ended) }, "\(workers)")
    }

    @Test func aWorkerThatDiesStopsTheRun() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let p = try launch(["run", "--time", "120", "--jobs", "2", "--json", "--progress", "--seed", "5"], in: dir)
        #expect(InterruptTests.wait(30) { InterruptTests.stderr(dir).contains("[mmfuzz]") })
        let workers = Self.children(of: p.processIdentifier).sorted()
        try #require(workers.count == 2)
        // Which one is worker 1: its command line says.
        let one = workers.first { pid in
            let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            let args = cmd.split(separator: "\0").map(String.init)
            return args.firstIndex(of: "--worker-index").map { args[$0 + 1] == "1" } ?? false
        }
        kill(try #require(one), SIGKILL)
        let ended = InterruptTests.wait(30) { !p.isRunning }
        if !ended { kill(p.processIdentifier, SIGKILL) }
        try #require(ended)
        let r = finish(p, in: dir)
        #expect(r.status == 1, "\(r)")
        #expect(r.json?["stopReason"] as? String == "failure", "\(r)")
        let w1 = ParallelSession.workerSeed(session: 5, worker: 1)
        #expect(r.stderr.contains("worker 1 of 2 (seed \(w1)) ended without reporting (signal 9)"), "\(r)")
        #expect(workers.allSatisfy { kill($0, 0) != 0 }, "\(workers)")
    }

    @Test func badJobsAreAUsageError() throws {
        for jobs in ["0", "257", "two"] {
            let r = try mmfuzz("run", "--cases", "1", "--jobs", jobs)
            #expect(r.status == 2, "\(r)")
        }
        #expect(try mmfuzz("run", "--cases", "1", "--jobs", "2", "--worker-index", "1").status == 2)
    }
}
