import Foundation
import MMFuzz
import MMSim
import Testing

/// The huge-page benchmark's figures agree with each other and with what
/// the workload did: counts, never timings.
@Suite("Bench: huge pages")
struct HugeBenchTests {
    /// 8 MiB: four huge pages, four pte tables.
    static let megabytes = 8
    static let cpus = 4

    static let rows: [HugeBench.Row] = {
        // One run shared by the tests below (its counts are deterministic).
        (try? HugeBench.measure(cpus: cpus, megabytes: megabytes, repetitions: 2)) ?? []
    }()

    @Test("four variants: each gather, preemption off and on, the base's lock, no sharing")
    func variants() {
        #expect(HugeBench.variants().map(\.name)
                == ["vector/mm/nopreempt", "vector/mm/preempt", "inplace/mm/nopreempt", "inplace/mm/preempt"])
        let split = HugeBench.variants(base: Variant(gather: .inplace, ptl: .split, preempt: true, share: .fork))
        #expect(split.allSatisfy { $0.ptl == .split && $0.share == .off })
        #expect(HugeBench.frames(megabytes: 64) == 32_768 + 1_024)
        #expect(HugeBench.pages(megabytes: 64) == 16_384)
        #expect(HugeBench.frames(megabytes: HugeBench.maxMegabytes) <= 1 << 22)
    }

    @Test("one row per variant, page size and density, in that order")
    func rowsCoverEveryConfiguration() throws {
        let rows = Self.rows
        try #require(rows.count == 16)
        #expect(rows.map(\.density) == Array(repeating: .dense, count: 8) + Array(repeating: .sparse, count: 8))
        #expect(rows.map(\.pageSize) == ([.small, .small, .small, .small, .huge, .huge, .huge, .huge] as [HugeBench.PageSize]) + [.small, .small, .small, .small, .huge, .huge, .huge, .huge])
        #expect(rows.prefix(4).map(\.variant) == HugeBench.variants().map(\.name))
        #expect(rows.allSatisfy { $0.repetitions == 2 && $0.nsRuns.count == 2 && $0.megabytes == Self.megabytes })
    }

    /// Every page the workload made present is freed, through the gather:
    /// all 2,048 with 4 KiB pages touched densely, one per 2 MiB touched
    /// sparsely, and with huge pages all 2,048 either way (a fault maps
    /// the whole 2 MiB), 512 per huge page.
    @Test("the munmap frees what was mapped, 512 pages per huge page")
    func pagesFreed() {
        let all = UInt64(HugeBench.pages(megabytes: Self.megabytes))
        let huge = UInt64(Self.megabytes / 2)
        for row in Self.rows {
            let c = row.counts
            #expect(c.pagesGathered == c.pagesFreed, "\(row)")
            #expect(row.maxPreemptOffPtesBefore == 0, "touching takes no preempt-off stretch: \(row)")
            #expect(row.problems == 0 && row.firstProblem == nil, "the audits and the leak audit pass: \(row)")
            switch (row.pageSize, row.density) {
            case (.small, .dense):
                #expect(c.pagesFreed == all && row.pagesTouched == Int(all), "\(row)")
            case (.small, .sparse):
                #expect(c.pagesFreed == huge && row.pagesTouched == Int(huge), "\(row)")
            case (.huge, let d):
                #expect(c.pagesFreed == all && row.pagesTouched == (d == .dense ? Int(all) : Int(huge)), "\(row)")
            }
            if row.pageSize == .huge {
                #expect(row.hugeFaults == huge && c.hugeFreed == huge && row.hugeZaps == huge, "\(row)")
                // 64 MiB of them frees 64 MiB worth of pages
                #expect(c.pagesFreed == huge * 512)
            } else {
                #expect(row.hugeFaults == 0 && c.hugeFreed == 0 && row.hugeZaps == 0, "\(row)")
            }
        }
    }

    @Test("huge zaps are counted by the gather that made them")
    func zapsPerGather() {
        for row in Self.rows where row.pageSize == .huge {
            if row.gather == .vector {
                #expect(row.counts.hugeZapsInplace == 0 && row.counts.hugeZapsVector > 0, "\(row)")
            } else {
                #expect(row.counts.hugeZapsVector == 0 && row.counts.hugeZapsInplace > 0, "\(row)")
            }
        }
    }

    /// One whole-mm flush per gather flush, each with an IPI to every
    /// other CPU (every CPU touched the mapping).  The in-place gather
    /// flushes once and never breaks; the vector flushes when full, at
    /// every ZAP_BLOCK_SIZE break, and once at the end.
    @Test("flushes, IPIs and breaks agree")
    func flushes() {
        for row in Self.rows {
            let c = row.counts
            #expect(c.tlbFlushCalls == c.gatherFlushes, "\(row)")
            #expect(c.ipis == UInt64(Self.cpus - 1) * c.gatherFlushes, "\(row)")
            #expect(c.entriesInvalidated > 0, "\(row)")
            #expect(row.pagesFreedPerFlush == Double(c.pagesGathered) / Double(c.gatherFlushes), "\(row)")
            if row.gather == .inplace {
                #expect(c.gatherFlushes == 1 && c.zapBreaks == 0 && c.gatherFull == 0, "\(row)")
            } else {
                #expect(c.gatherFlushes == c.gatherFull + c.zapBreaks + 1, "\(row)")
                #expect(c.phase3Entries == 0, "\(row)")
            }
            if row.gather == .vector, row.preempt {
                // ZAP_BLOCK_SIZE of 8 pages; a huge pmd is charged as one
                let units = row.pageSize == .huge ? UInt64(Self.megabytes / 2)
                    : row.density == .dense ? c.pagesFreed : 0
                #expect(c.zapBreaks + 1 >= units / 8, "\(row)")
            }
        }
    }

    /// The in-place gather's second walk scans every detached table whole:
    /// with 4 KiB pages the pte tables and the pmd table, with huge pages
    /// the pmd table only (its gathered huge pmds name the pages).
    @Test("phase 3 visits 512 entries per detached table")
    func phase3() {
        let pteTables = UInt64(Self.megabytes / 2)
        for row in Self.rows where row.gather == .inplace {
            let expected = row.pageSize == .huge ? 512 : 512 * (pteTables + 1)
            #expect(row.counts.phase3Entries == expected, "\(row)")
            #expect(row.phase3PerPageFreed == Double(expected) / Double(row.counts.pagesFreed), "\(row)")
        }
    }

    /// A huge pmd is one entry of preempt-off work: the in-place gather's
    /// stretches with huge pages are one pmd each; the vector's, with
    /// CONFIG_PREEMPT, its ZAP_BLOCK_SIZE of 8.
    @Test("preempt-off stretches")
    func preemptOff() {
        for row in Self.rows {
            if row.gather == .inplace, row.pageSize == .huge {
                #expect(row.maxPreemptOffPtes == 1, "\(row)")
            }
            if row.preempt {
                #expect(row.maxPreemptOffPtes <= (row.gather == .vector && row.pageSize == .small ? 4096 : 8),
                        "\(row)")
            }
        }
    }

    @Test("the counts are each repetition's, the same every time")
    func countsArePerRepetition() throws {
        let variants = [Variant(gather: .inplace, preempt: true), Variant(gather: .vector, preempt: true)]
        let once = try HugeBench.measure(cpus: 2, megabytes: 4, repetitions: 1, variants: variants)
        let three = try HugeBench.measure(cpus: 2, megabytes: 4, repetitions: 3, variants: variants)
        #expect(once.map(\.counts) == three.map(\.counts))
        #expect(three.allSatisfy { $0.repetitions == 3 && $0.nsPerMunmap == HugeBench.median($0.nsRuns) })
        #expect(three.allSatisfy { $0.nsPerPageFreed == $0.nsPerMunmap / Double($0.counts.pagesFreed) })
    }

    @Test("the JSON has the derived figures and reads back")
    func json() throws {
        let row = try #require(Self.rows.last)
        let data = try JSONEncoder().encode(row)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["pagesFreedPerFlush", "phase3PerPageFreed", "nsPerPageFreed", "counts", "pageSize", "density"] {
            #expect(object[key] != nil, "\(key)")
        }
        #expect(object["pageSize"] as? String == "2m" && object["density"] as? String == "sparse")
        #expect(try JSONDecoder().decode(HugeBench.Row.self, from: data) == row)
    }
}
