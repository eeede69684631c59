import ArgumentParser
import Foundation
import MMFuzz
import MMSim

/// `mmfuzz bench`'s huge pages: a munmap of --huge-megabytes MiB mapped by
/// 2 MiB pages against 4 KiB ones, under each gather with preemption off
/// and on (HugeBench).
extension BenchCommand {
    func hugeRows() throws -> [HugeBench.Row] {
        try HugeBench.measure(cpus: machine.cpus, megabytes: hugeMegabytes, repetitions: hugeRepeats,
                              variants: HugeBench.variants(base: sharingBase),
                              shouldStop: { Interrupt.requested })
    }

    func printHuge(_ rows: [HugeBench.Row]) {
        guard let first = rows.first else { return }
        let mb = first.megabytes
        print()
        print("Huge pages: munmap of \(mb) MiB mapped by 4 KiB pages (4k) or 2 MiB pages (2m, MADV_HUGEPAGE), touched from every CPU; dense: a store to every 4 KiB page, sparse: one to the first 4 KiB page of each 2 MiB (\(mb / 2) stores); \(machine.cpus) CPUs, machines of \(HugeBench.frames(megabytes: mb)) frames, a fresh one per repetition; host ns of the munmap call alone, median of \(first.repetitions)")
        print()
        let table = ComparisonTable<HugeBench.Row>(
            variant: { "\($0.variant), \($0.pageSize.rawValue), \($0.density.rawValue)" },
            columns: [
                .init("pages freed") { "\($0.counts.pagesFreed)" },
                .init("huge zaps") { "\($0.hugeZaps)" },
                .init("gather flushes") { "\($0.counts.gatherFlushes)" },
                .init("flush calls") { "\($0.counts.tlbFlushCalls)" },
                .init("IPIs") { "\($0.counts.ipis)" },
                .init("invalidated") { "\($0.counts.entriesInvalidated)" },
                .init("pages/flush") { String(format: "%.1f", $0.pagesFreedPerFlush) },
                .init("max preempt-off ptes") { "\($0.maxPreemptOffPtes)" },
                .init("zap breaks") { "\($0.counts.zapBreaks)" },
                .init("phase-3 entries") { "\($0.counts.phase3Entries)" },
                .init("phase-3/page") { String(format: "%.3f", $0.phase3PerPageFreed) },
                .init("us/munmap") { String(format: "%.1f", $0.nsPerMunmap / 1000) },
                .init("ns/page freed") { String(format: "%.1f", $0.nsPerPageFreed) },
            ])
        print(table.text(rows), terminator: "")
        for row in rows where row.problems > 0 {
            print("\(row.variant), \(row.pageSize.rawValue), \(row.density.rawValue): \(row.problems) violations, the first: \(row.firstProblem ?? "?")")
        }
        print("(pages freed: 4 KiB user pages, 512 per huge page; huge zaps: thp_zaps_vector or thp_zaps_inplace; phase-3 entries: ptes walked in linked tables, 512 per detached pte or pmd table, 1 per huge pmd in a linked pmd table)")
    }
}
