import Foundation
import MMFuzz
import MMSim
import Testing

/// The built-in scenario, an engine case, and what it needs.
@Suite struct ScenarioTests {
    static let cpuCounts = [1, 2, 4, 8]

    static func outOfMemory(cpus: Int, frames: Int, _ variant: Variant) throws -> UInt64 {
        try Scenario.run(config: CaseConfig(cpus: cpus, frames: frames), variant: variant).outOfMemory
    }

    @Test(arguments: cpuCounts)
    func theScenarioIsCleanOnEveryVariantWithTheFramesItNeeds(cpus: Int) throws {
        for variant in Variant.allCombinations {
            let r = try Scenario.run(config: CaseConfig(cpus: cpus, frames: Scenario.framesNeeded),
                                     variant: variant)
            #expect(r.failure == nil, "\(variant.name): \(r.failure.map(String.init(describing:)) ?? "")")
            #expect(r.outOfMemory == 0, "\(variant.name) with \(cpus) CPUs")
            #expect(r.ops > 900)
        }
    }

    /// The need is real: one frame fewer runs out of memory somewhere.
    @Test func oneFrameFewerIsNotEnough() throws {
        var short = 0
        for cpus in Self.cpuCounts {
            for variant in Variant.allCombinations {
                short += try Self.outOfMemory(cpus: cpus, frames: Scenario.framesNeeded - 1, variant) > 0 ? 1 : 0
            }
        }
        #expect(short > 0)
    }

    /// The model checks the scenario: a wrong value planted in the machine
    /// behind the model's back is reported.
    @Test func theModelChecksTheScenario() throws {
        let config = CaseConfig(cpus: 2, frames: Scenario.framesNeeded)
        let runner = try CaseRunner(config: config, variant: .baseline)
        let phases = Scenario.phases(cpus: 2)
        for (i, op) in phases[0].enumerated() {
            #expect(runner.step(op, index: i) == nil)
        }
        // Behind the model's back.
        let mm = MMID(rawValue: runner.live[0])
        _ = try runner.machine.store(cpu: 0, mm: mm, addr: 0x1000_0000 + 40 * Machine.pageSize, value: 42)
        var failure: Failure?
        for (i, op) in phases[1].enumerated() where failure == nil {
            failure = runner.step(op, index: i)
        }
        #expect(failure != nil)
    }

    @Test func tooFewFramesIsAUsageError() throws {
        let r = try mmfuzz("scenario", "--frames", "16")
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("needs at least \(Scenario.framesNeeded) frames"), "\(r)")
    }

    @Test func scenarioHasJSON() throws {
        let r = try mmfuzz("scenario", "--json", "--variant", "all")
        #expect(r.status == 0, "\(r)")
        #expect(r.json?["stopReason"] as? String == "done")
        #expect((r.json?["variants"] as? [Any])?.count == Variant.allCombinations.count)
        #expect((r.json?["config"] as? [String: Any])?["frames"] as? Int == 4096)
    }
}
