import MMFuzz
import MMSim
import Testing

@Suite("Bench: parallel faults")
struct ParallelFaultsTests {
    @Test("threads faulting disjoint regions contend on the mm lock, not on split locks")
    func splitLockRemovesContention() throws {
        var rows: [PTL: ParallelFaultsBench.Row] = [:]
        for ptl in PTL.allCases {
            let config = MachineConfig.default(cpus: 4, frames: 4096,
                                               variant: Variant(gather: .vector, ptl: ptl, preempt: true))
            let row = try ParallelFaultsBench.measure(config, pages: 32, rounds: 4)
            #expect(row.violations == 0 && row.failedOps == 0 && row.auditProblems == 0)
            #expect(row.faults == 4 * 32 * 4)
            rows[ptl] = row
        }
        let mm = try #require(rows[.mm]), split = try #require(rows[.split])
        #expect(mm.lockContended > 0)
        #expect(split.contendedPerFault < mm.contendedPerFault)
    }
}
