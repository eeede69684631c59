import Foundation
import MMFuzz
import MMSim

/// `mmfuzz bench`'s parallel-faults workload: a process with a thread on
/// every CPU faulting in and dropping disjoint regions at once, in the
/// concurrent regime, and the lock contention per fault of each variant.
extension BenchCommand {
    func parallelFaultRows(_ variants: [Variant]) throws -> [ParallelFaultsBench.Row] {
        try variants.map { variant in
            try ParallelFaultsBench.measure(machine.config(for: variant), pages: pages, rounds: repeats,
                                            seed: seed)
        }
    }

    func printParallelFaults(_ rows: [ParallelFaultsBench.Row]) {
        print()
        print("Parallel faults: one mm, a thread on each of \(machine.cpus) CPUs storing to \(pages) pages of its own region then MADV_DONTNEED, \(repeats) rounds, concurrent regime")
        print()
        let columns: [(String, (ParallelFaultsBench.Row) -> String)] = [
            ("faults", { "\($0.faults)" }),
            ("lock acquisitions/fault", { String(format: "%.2f", $0.acquisitionsPerFault) }),
            ("contended/fault", { String(format: "%.3f", $0.contendedPerFault) }),
            ("contended", { "\($0.lockContended)" }),
            ("mmap_sem contended", { "\($0.semContended)" }),
            ("problems", { "\($0.violations + $0.failedOps + $0.auditProblems)" }),
        ]
        print(pad("variant", 37) + columns.map { pad($0.0, $0.0.count + 2, left: false) }.joined())
        for row in rows {
            print(pad(row.variant, 37) + columns.map { pad($0.1(row), $0.0.count + 2, left: false) }.joined())
        }
    }
}
