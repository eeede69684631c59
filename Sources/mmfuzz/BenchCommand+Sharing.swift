import ArgumentParser
import Foundation
import MMFuzz
import MMSim

/// `mmfuzz bench`'s shared pte tables: fork of parents of several sizes
/// with and without sharing (host time and counts), and the price of
/// sharing on the fuzz mix and on a trace (unshares and flush IPIs per
/// 1,000 calls).
extension BenchCommand {
    /// The variant both parts start from: the first one asked for, with
    /// `ptl=split` (sharing needs it) and sharing set by each part.
    var sharingBase: Variant {
        machine.fuzzVariants.first ?? .baseline
    }

    /// The parent sizes of `--fork-pages`.
    static func parseSizes(_ text: String) throws -> [Int] {
        let sizes = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--fork-pages takes a comma-separated list of page counts of at least 1, not '\(text)'")
        }
        return sizes.map { $0! }
    }

    func forkRows() throws -> [ForkBench.Row] {
        let sizes = try Self.parseSizes(forkPages)
        let frames = ForkBench.frames(for: sizes)
        let configs = ForkBench.variants(base: sharingBase).map {
            MachineConfig.default(cpus: machine.cpus, frames: frames, variant: $0)
        }
        var rows: [ForkBench.Row] = []
        for pages in sizes where !Interrupt.requested {
            rows += try ForkBench.measure(configs, pages: pages, repetitions: forkRepeats,
                                          shouldStop: { Interrupt.requested })
        }
        return rows
    }

    func sharingRows() throws -> (rows: [SharingBench.Row], failures: Int, traceNote: String?) {
        let variants = SharingBench.variants(base: sharingBase)
        // The sharing variants' mix (more forks, whole pte tables mapped),
        // the same cases on all three.
        let list = Bench.cases(seed: seed, count: cases, variants: [variants[1]],
                               generator: GeneratorSettings(cpus: machine.cpus, frames: machine.framesOrDefault,
                                                           minOps: minOps, maxOps: maxOps, concurrency: .off))
        var (rows, failures) = SharingBench.fuzzMix(list, variants: variants, checked: true,
                                                    shouldStop: { Interrupt.requested })
        var note: String?
        if let trace, !Interrupt.requested {
            var options = TraceReplayOptions()
            options.saveDirectory = nil
            options.maxEvents = traceEvents
            let run = try TraceRun.run(.file(trace), variants: variants, options: options,
                                       shouldStop: { Interrupt.requested })
            let name = traceEvents.map { "trace, first \($0) events" } ?? "trace"
            rows += SharingBench.trace(run, workload: name)
            failures += run.results.filter { $0.failure != nil }.count
            let t = run.tally
            note = "\(TraceSource.file(trace).name): \(t.events) events read, \(t.machineCalls) machine calls"
        }
        return (rows, failures, note)
    }

    func printFork(_ rows: [ForkBench.Row]) {
        guard !rows.isEmpty else { return }
        let sizes = (try? Self.parseSizes(forkPages)) ?? []
        print()
        print("Fork with and without shared pte tables: a parent with N private pages stored to, forked on CPU 0; host ns, median of \(rows[0].repetitions) (machines of \(ForkBench.frames(for: sizes)) frames)")
        for workload in ForkBench.Workload.allCases {
            let these = rows.filter { $0.workload == workload }
            guard !these.isEmpty else { continue }
            print()
            let table = ComparisonTable<ForkBench.Row>(variant: \.variant, columns: [
                .init("pages") { "\($0.pages)" },
                .init("ns/fork") { String(format: "%.0f", $0.nsPerFork) },
                .init("ns/\(workload.rawValue)") { String(format: "%.0f", $0.nsPerWorkload) },
                .init("ptes copied") { "\($0.counts.ptesCopied)" },
                .init("tables shared") { "\($0.counts.tablesShared)" },
                .init("shared dropped") { "\($0.counts.tablesDropped)" },
                .init("unshared") { "\($0.counts.tablesUnshared)" },
                .init("COW copies") { "\($0.counts.cowCopies)" },
                .init("tables allocated") { "\($0.counts.tablesAllocated)" },
            ])
            print(table.text(these), terminator: "")
        }
        let ratios = ForkBench.ratios(rows)
        guard !ratios.isEmpty else { return }
        print()
        let table = ComparisonTable<ForkBench.Ratio>(variant: { "\($0.pages) pages" }, columns: [
            .init("fork+exit copied") { String(format: "%.0f", $0.exitCopied) },
            .init("shared") { String(format: "%.0f", $0.exitShared) },
            .init("shared/copied") { String(format: "%.2f", $0.exitRatio) },
            .init("fork+exec+exit copied") { String(format: "%.0f", $0.execCopied) },
            .init("shared") { String(format: "%.0f", $0.execShared) },
            .init("shared/copied") { String(format: "%.2f", $0.execRatio) },
            .init("fork+store+exit copied") { String(format: "%.0f", $0.storeCopied) },
            .init("shared") { String(format: "%.0f", $0.storeShared) },
            .init("shared/copied") { String(format: "%.2f", $0.storeRatio) },
        ])
        print(table.text(ratios).replacingOccurrences(of: "variant", with: "parent "), terminator: "")
    }

    func printSharing(_ rows: [SharingBench.Row], traceNote: String?) {
        guard !rows.isEmpty else { return }
        print()
        print("The price of sharing, per 1,000 calls: \(cases) sequential cases of the sharing variants' mix (seed \(seed), checked), the same cases on each variant\(trace == nil ? " (no --trace: the trace part not run)" : "")")
        if let traceNote { print(traceNote) }
        print()
        let table = ComparisonTable<SharingBench.Row>(variant: { "\($0.variant), \($0.workload)" }, columns: [
            .init("calls") { "\($0.ops)" },
            .init("forks") { String(format: "%.2f", $0.perThousandOps.forks) },
            .init("ptes copied") { String(format: "%.1f", $0.perThousandOps.ptesCopied) },
            .init("tables shared") { String(format: "%.2f", $0.perThousandOps.tablesShared) },
            .init("unshares") { String(format: "%.2f", $0.perThousandOps.unshares) },
            .init("shared dropped") { String(format: "%.2f", $0.perThousandOps.shareDropped) },
            .init("shared flushes") { String(format: "%.2f", $0.perThousandOps.sharedFlushes) },
            .init("shared-flush IPIs") { String(format: "%.2f", $0.perThousandOps.sharedFlushIPIs) },
            .init("IPIs") { String(format: "%.2f", $0.perThousandOps.ipis) },
            .init("reclaimed") { String(format: "%.1f", $0.perThousandOps.pagesReclaimed) },
            .init("swap-ins") { String(format: "%.1f", $0.perThousandOps.swapIns) },
        ])
        print(table.text(rows), terminator: "")
        print("(shared-flush IPIs: to every other CPU under sharemask=all, to the sharers' other CPUs under precise; IPIs counts them too)")
    }
}
