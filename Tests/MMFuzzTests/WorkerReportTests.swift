import Foundation
import Testing
@testable import MMFuzz
import MMSim

/// What a worker process of `mmfuzz run --jobs N` reports on its pipe.
@Suite struct WorkerReportTests {
    @Test("a worker's report survives its line: counts, events, seeds past 2^53, cases with pinned schedules")
    func workerReportsRoundTrip() throws {
        // A race case fails (planted) and is shrunk: its batch's schedule
        // is pinned in both the original and the shrunk case.
        var s = ParallelSessionTests.settings(.cases(2))
        s.generator = GeneratorSettings(concurrency: .only)
        s.shrink = true
        s.shrinkSeconds = 5
        s.seed = ParallelSession.workerSeed(session: s.seed, worker: 3)
        #expect(s.seed > 1 << 53)
        let raceSeed = caseSeed(session: s.seed ^ FuzzSession.raceStream, index: 0)
        var session = FuzzSession(settings: s)
        session.runCase = { c in
            var r = CaseRunner.run(c)
            if c.seed == raceSeed { r.failure = Failure(kind: "test:planted", message: "a \"quoted\"\nline", opIndex: 4) }
            return r
        }
        var summary = session.run()
        summary.failures[0].worker = 3
        let f = try #require(summary.failures.first)
        #expect(f.original.ops.contains { $0.kind == .parallel })

        let line = try WorkerReport.summary(summary).line()
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().contains(UInt8(ascii: "\n")) == false)
        let back = try #require(try WorkerReport.parse(line.dropLast()).summary)
        #expect(back.cases == summary.cases && back.ops == summary.ops && back.seconds == summary.seconds)
        #expect(back.events == summary.events)
        #expect(back.casesPerVariant == summary.casesPerVariant && back.variants == summary.variants)
        #expect(back.batches == summary.batches && back.schedules == summary.schedules)
        #expect(back.raceCases == summary.raceCases)
        let g = try #require(back.failures.first)
        #expect(g.original == f.original && g.shrunk == f.shrunk)
        #expect(g.originalFailure == f.originalFailure && g.failure == f.failure)
        #expect(g.worker == 3 && g.workerSeed == s.seed && g.caseIndex == f.caseIndex)
        #expect(g.secondsToFind == f.secondsToFind && g.shrinkRuns == f.shrinkRuns)
        // The shrunk case, as received, still fails the same way.
        #expect(session.runCase(g.shrunk).failure?.kind == "test:planted")

        let progress = try WorkerReport.parse(try WorkerReport.progress(
            SessionProgress(cases: 3, ops: 400, seconds: 1.5, failures: 0)).line().dropLast())
        #expect(progress.progress?.ops == 400 && progress.summary == nil && progress.found == nil)
        #expect(try WorkerReport.parse(try WorkerReport.found.line().dropLast()).found == true)
    }
}
