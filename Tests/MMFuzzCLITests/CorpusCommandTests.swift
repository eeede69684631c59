import Foundation
import Testing

/// `mmfuzz run --corpus DIR` and `mmfuzz replay DIR` (issue 15).
@Suite struct CorpusCommandTests {
    /// A reproducer the repository keeps (it passes on the unmutated tree).
    static let kept = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../mutants/reproducers/28-zap-remove-rmap-before-flush.json").standardized.path

    @Test func runReplaysTheCorpusFirst() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let corpus = (dir as NSString).appendingPathComponent("corpus")
        try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.kept, toPath: corpus + "/crash-kept.json")
        let r = try mmfuzz("run", "--cases", "2", "--jobs", "1", "--corpus", corpus, "--json", in: dir)
        #expect(r.status == 0, "\(r)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(object?["corpusReplayed"] as? Int == 1, "\(r)")
        #expect(object?["cases"] as? Int == 3, "\(r)")
    }

    @Test func replayADirectoryReportsEachCase() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        try FileManager.default.copyItem(atPath: Self.kept, toPath: dir + "/a.json")
        try FileManager.default.copyItem(atPath: Self.kept, toPath: dir + "/b.json")
        let r = try mmfuzz("replay", dir)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("a.json"), "\(r)")
        #expect(r.stdout.contains("replayed 2 cases from"), "\(r)")
        // A file that is not a reproducer: bad input, exit 2.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/c.json"))
        let bad = try mmfuzz("replay", dir)
        #expect(bad.status == 2, "\(bad)")
        #expect(try mmfuzz("run", "--cases", "1", "--corpus", dir).status == 2)
    }

    /// --coverage-corpus: bad input says what it needs.  An ordinary
    /// build has no coverage counters: refused, exit 2 (a build
    /// instrumented for coverage, as under `swift test
    /// --enable-code-coverage`, runs).
    @Test func coverageCorpusNeedsACorpusOneJobAndCounters() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let alone = try mmfuzz("run", "--cases", "1", "--coverage-corpus", in: dir)
        #expect(alone.status == 2 && alone.stderr.contains("needs --corpus"), "\(alone)")
        let jobs = try mmfuzz("run", "--cases", "1", "--corpus", "c", "--coverage-corpus", "--jobs", "2", in: dir)
        #expect(jobs.status == 2 && jobs.stderr.contains("needs --jobs 1"), "\(jobs)")
        let r = try mmfuzz("run", "--cases", "1", "--sequential", "--corpus", "c", "--coverage-corpus", in: dir)
        #expect(r.status == 0 || (r.status == 2 && r.stderr.contains("no coverage counters")), "\(r)")
    }
}
