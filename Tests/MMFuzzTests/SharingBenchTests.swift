import MMFuzz
import MMSim
import Testing

/// The shared-pte-table benchmarks compute their figures from the right
/// counters: counts, never timings.
@Suite("Bench: shared pte tables")
struct SharingBenchTests {
    static func configs(pages: Int) -> [MachineConfig] {
        ForkBench.variants(base: .baseline).map {
            MachineConfig.default(cpus: 2, frames: ForkBench.framesNeeded(pages: pages), variant: $0)
        }
    }

    @Test("the fork benchmark compares copying with sharing, all else equal")
    func forkVariants() {
        let v = ForkBench.variants(base: Variant(gather: .inplace, ptl: .mm, preempt: true))
        #expect(v == [Variant(gather: .inplace, ptl: .split, preempt: true),
                      Variant(gather: .inplace, ptl: .split, preempt: true, share: .fork)])
        #expect(SharingBench.variants(base: .baseline).map(\.name)
                == ["vector/split/nopreempt", "vector/split/nopreempt/share", "vector/split/nopreempt/share-precise"])
    }

    /// A parent of N pages stored to: copying makes N ptes and one pte
    /// table per 512 pages in the child; sharing copies none and shares
    /// ceil(N / 512) tables, which the child's exit (or exec) lets go of.
    /// It runs in the frames `framesNeeded` states.
    @Test("fork copies N ptes, or shares ceil(N/512) tables", arguments: [1, 100, 512, 513, 1_000, 2_000])
    func forkCounts(pages: Int) throws {
        let rows = try ForkBench.measure(Self.configs(pages: pages), pages: pages, repetitions: 2)
        #expect(rows.count == 6)
        let tables = UInt64((pages + 511) / 512)
        #expect(UInt64(ForkBench.pteTables(pages: pages)) == tables)
        for row in rows {
            #expect(row.pages == pages && row.repetitions == 2)
            let c = row.counts
            let store = row.workload == .forkStoreExit
            // The child's pud and pmd (and pgd); an exec's mm its own.
            let upper: UInt64 = row.workload == .forkExecExit ? 4 : 3
            #expect(c.cowCopies == (store ? 1 : 0), "\(row)")
            if row.sharesTables {
                #expect(c.ptesCopied == 0, "\(row)")
                #expect(c.tablesShared == tables, "\(row)")
                // The parent's store copies its table back first; the
                // child then owns the shared one alone and zaps it.
                #expect(c.tablesUnshared == (store ? 1 : 0), "\(row)")
                #expect(c.tablesDropped == tables - (store ? 1 : 0), "\(row)")
                #expect(c.tablesAllocated == upper + (store ? 1 : 0), "\(row)")
            } else {
                #expect(c.ptesCopied == UInt64(pages), "\(row)")
                #expect(c.tablesShared == 0 && c.tablesDropped == 0 && c.tablesUnshared == 0, "\(row)")
                #expect(c.tablesAllocated == tables + upper, "\(row)")
            }
        }
        #expect(rows.map(\.workload) == [.forkExit, .forkExit, .forkExecExit, .forkExecExit,
                                          .forkStoreExit, .forkStoreExit])
    }

    @Test("a fork's counts are each repetition's counter deltas, the same every time")
    func forkCountsArePerRepetition() throws {
        let once = try ForkBench.measure(Self.configs(pages: 700), pages: 700, repetitions: 1)
        let five = try ForkBench.measure(Self.configs(pages: 700), pages: 700, repetitions: 5)
        #expect(once.map(\.counts) == five.map(\.counts))
        #expect(five.allSatisfy { $0.repetitions == 5 })
    }

    @Test("ratios pair each size's copied and shared rows")
    func ratios() {
        func row(_ shared: Bool, _ pages: Int, _ w: ForkBench.Workload, _ ns: Double) -> ForkBench.Row {
            ForkBench.Row(variant: shared ? "s" : "c", sharesTables: shared, pages: pages, workload: w,
                          repetitions: 1, nsPerFork: 0, nsPerWorkload: ns, counts: .init())
        }
        let rows = [row(false, 10, .forkExit, 200), row(true, 10, .forkExit, 300),
                    row(false, 10, .forkExecExit, 400), row(true, 10, .forkExecExit, 100),
                    row(false, 20, .forkExit, 1)]
        var r = ForkBench.ratios(rows)
        #expect(r == [ForkBench.Ratio(pages: 10, exitCopied: 200, exitShared: 300, exitRatio: 1.5,
                                      execCopied: 400, execShared: 100, execRatio: 0.25)])
        r = ForkBench.ratios(rows + [row(true, 10, .forkStoreExit, 30), row(false, 10, .forkStoreExit, 40)])
        #expect(r.first?.storeRatio == 0.75 && r.first?.storeCopied == 40)
        #expect(ForkBench.median([3, 1, 2]) == 2 && ForkBench.median([4, 1, 2, 3]) == 2.5
                && ForkBench.median([]) == 0)
    }

    @Test("each figure reads its own counter, per 1,000 calls")
    func figuresFromCounters() {
        var s = Stats()
        let names = ["forks", "fork_ptes_copied", "ptables_shared", "ptables_unshared",
                     "ptables_share_dropped", "shared_flushes", "shared_flush_ipis", "ipis",
                     "pages_reclaimed", "swap_ins"]
        for (i, n) in names.enumerated() { s[n] = UInt64(i + 1) * 10 }
        s["ipis_lazy"] = 999
        s["flush_one"] = 999
        let row = SharingBench.Row(variant: .baseline, workload: "w", ops: 2_000, stats: s)
        let f = row.totals
        #expect([f.forks, f.ptesCopied, f.tablesShared, f.unshares, f.shareDropped, f.sharedFlushes,
                 f.sharedFlushIPIs, f.ipis, f.pagesReclaimed, f.swapIns] == (1 ... 10).map { UInt64($0) * 10 })
        let p = row.perThousandOps
        #expect([p.forks, p.ptesCopied, p.tablesShared, p.unshares, p.shareDropped, p.sharedFlushes,
                 p.sharedFlushIPIs, p.ipis, p.pagesReclaimed, p.swapIns] == (1 ... 10).map { Double($0) * 5 })
        #expect(SharingBench.PerThousand(f, ops: 0).ipis == 0)
    }

    /// The fuzz mix's rows are the sums of the cases' own counters, with
    /// the same cases on every variant; without sharing nothing is shared.
    @Test("the fuzz mix's rows sum every case's counters")
    func fuzzMixSums() throws {
        let variants = SharingBench.variants(base: .baseline)
        let settings = GeneratorSettings(cpus: 4, frames: 4096, minOps: 50, maxOps: 120, concurrency: .off)
        let cases = Bench.cases(seed: 5, count: 12, variants: [variants[1]], generator: settings)
        let (rows, failures) = SharingBench.fuzzMix(cases, variants: variants, checked: true)
        #expect(failures == 0)
        #expect(rows.map(\.variant) == variants.map(\.name))
        for (row, variant) in zip(rows, variants) {
            var totals = SharingBench.Figures()
            var ops = 0
            for var c in cases {
                c.variant = variant
                let r = CaseRunner.run(c, checked: false)
                totals.add(SharingBench.Figures(r.stats))
                ops += r.ops
            }
            #expect(row.totals == totals && row.ops == ops, "\(variant.name)")
            #expect(row.workload == "fuzz mix")
        }
        #expect(rows[0].totals.tablesShared == 0 && rows[0].totals.unshares == 0
                && rows[0].totals.sharedFlushIPIs == 0)
        #expect(rows[1].totals.tablesShared > 0, "the sharing mix shares tables")
    }
}
