import Foundation
import MMFuzz
import MMSim

/// `mmfuzz bench`'s parallel-faults workload: a process with a thread on
/// every CPU faulting in and dropping disjoint regions at once, in the
/// concurrent regime, and the lock contention per fault of each variant.
extension BenchCommand {
    func parallelFaultRows(_ variants: [Variant]) throws -> [ParallelFaultsBench.Row] {
        var rows: [ParallelFaultsBench.Row] = []
        for variant in variants where !Interrupt.requested {
            rows.append(try ParallelFaultsBench.measure(machine.config(for: variant), pages: pages,
                                                        rounds: repeats, seed: seed))
        }
        return rows
    }

    func printParallelFaults(_ rows: [ParallelFaultsBench.Row]) {
        print()
        print("Parallel faults: one mm, a thread on each of \(machine.cpus) CPUs storing to \(pages) pages of its own region then MADV_DONTNEED, \(repeats) rounds, concurrent regime")
        print()
        let table = ComparisonTable<ParallelFaultsBench.Row>(variant: \.variant, columns: [
            .init("faults") { "\($0.faults)" },
            .init("lock acquisitions/fault") { String(format: "%.2f", $0.acquisitionsPerFault) },
            .init("contended/fault") { String(format: "%.3f", $0.contendedPerFault) },
            .init("contended") { "\($0.lockContended)" },
            .init("mmap_sem contended") { "\($0.semContended)" },
            .init("problems") { "\($0.violations + $0.failedOps + $0.auditProblems)" },
        ])
        print(table.text(rows), terminator: "")
    }
}
