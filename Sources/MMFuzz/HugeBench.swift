import MMSim

/// What a munmap costs when the memory it unmaps is mapped by 2 MiB pages
/// (transparent huge pages, `MADV_HUGEPAGE`) instead of 4 KiB ones, under
/// each gather (the 2.6.16 per-CPU vector and the in-place gather of the
/// 2006 RFC) with and without `CONFIG_PREEMPT`, all else equal.
///
/// Each repetition boots a fresh machine per configuration, maps
/// `megabytes` MiB of private anonymous memory at a 1 GiB boundary (alone
/// in its mm, so the munmap frees its page tables too), marks it
/// `MADV_HUGEPAGE` or not, touches it from every CPU in turn (so that
/// every CPU is in the mm's `cpu_vm_mask` and the flush sends IPIs), then
/// unmaps the whole of it on CPU 0: only that munmap call is timed, and
/// the counters are its deltas.
///
/// Two access patterns, the same in both page sizes:
///
/// - **dense**: a store to every 4 KiB page (CPU `page % cpus`); with
///   4 KiB pages every page is present, with huge pages every 2 MiB is
///   one huge page, its first store faulting it in whole;
/// - **sparse**: a store to the first 4 KiB page of each 2 MiB (CPU
///   `index % cpus`): with 4 KiB pages one page per pte table is present
///   (32 pages for 64 MiB), with huge pages the fault maps the whole
///   2 MiB all the same (32 huge pages, as many pages as dense).
///
/// The counts are the same on every repetition (the machine is
/// deterministic) and are what the tests check; the time is the median.
public enum HugeBench {
    /// How the memory is mapped.
    public enum PageSize: String, Sendable, Codable, CaseIterable {
        /// 4 KiB pages (no advice).
        case small = "4k"
        /// 2 MiB pages: the range is given `MADV_HUGEPAGE` before it is
        /// touched.
        case huge = "2m"
    }

    /// Which pages the workload touches.
    public enum Density: String, Sendable, Codable, CaseIterable {
        /// Every 4 KiB page.
        case dense
        /// The first 4 KiB page of each 2 MiB.
        case sparse
    }

    /// `MADV_HUGEPAGE` (mmsim.h's `MMSIM_MADV_HUGEPAGE`).
    static let madvHugepage = Advice(rawValue: 14)

    /// Bytes of one huge page.
    public static let hugeSize: UInt64 = 2 << 20

    /// Where the mapping starts: a 1 GiB boundary, so that it fills whole
    /// pte tables (and huge pmds) and its pmd table is its own.
    public static let base: UInt64 = 0x4000_0000

    /// The mapping of the defaults: 64 MiB, 32 huge pages.
    public static let defaultMegabytes = 64

    /// The counters one munmap moved.
    public struct Counts: Sendable, Codable, Hashable {
        /// `gather_flushes`: tlb_flush() calls of an mmu_gather.
        public var gatherFlushes: UInt64 = 0
        /// `tlb_flush_calls`: every flush_tlb_{mm,range,page}.
        public var tlbFlushCalls: UInt64 = 0
        /// `gather_full`: flushes forced by a full vector.
        public var gatherFull: UInt64 = 0
        /// `zap_breaks`: ZAP_BLOCK_SIZE breaks of the gather.
        public var zapBreaks: UInt64 = 0
        /// `ipis`: flush IPIs sent.
        public var ipis: UInt64 = 0
        /// `entries_invalidated`: TLB and paging-structure cache entries
        /// dropped (2 MiB TLB entries included).
        public var entriesInvalidated: UInt64 = 0
        /// `pages_gathered`: user pages freed through the gather (512 for
        /// a huge page).
        public var pagesGathered: UInt64 = 0
        /// `pages_freed`: user pages freed (512 for a huge page).
        public var pagesFreed: UInt64 = 0
        /// `ptables_freed`: page tables freed (a huge pmd's deposited pte
        /// table included).
        public var tablesFreed: UInt64 = 0
        /// `thp_zaps_vector`: huge pmds zapped through the vector.
        public var hugeZapsVector: UInt64 = 0
        /// `thp_zaps_inplace`: huge pmds zapped through the in-place
        /// gather.
        public var hugeZapsInplace: UInt64 = 0
        /// `thp_freed`: 2 MiB compound pages freed.
        public var hugeFreed: UInt64 = 0
        /// `phase3_entries`: entries the in-place gather's phase 3
        /// visited (ptes of linked tables walked, 512 per detached pte or
        /// pmd table, 1 per huge pmd visited in a linked pmd table).
        public var phase3Entries: UInt64 = 0
        /// `preempt_points`: preemption points taken.
        public var preemptPoints: UInt64 = 0
        /// `lock_acquisitions`: spinlock acquisitions.
        public var lockAcquisitions: UInt64 = 0

        public init() {}

        /// The deltas between two readings of the counters.
        public init(from b: Stats, to a: Stats) {
            gatherFlushes = a.gatherFlushes - b.gatherFlushes
            tlbFlushCalls = a.tlbFlushCalls - b.tlbFlushCalls
            gatherFull = a.gatherFull - b.gatherFull
            zapBreaks = a.zapBreaks - b.zapBreaks
            ipis = a.ipis - b.ipis
            entriesInvalidated = a.entriesInvalidated - b.entriesInvalidated
            pagesGathered = a.pagesGathered - b.pagesGathered
            pagesFreed = a.pagesFreed - b.pagesFreed
            tablesFreed = a.ptablesFreed - b.ptablesFreed
            hugeZapsVector = a.thpZapsVector - b.thpZapsVector
            hugeZapsInplace = a.thpZapsInplace - b.thpZapsInplace
            hugeFreed = a.thpFreed - b.thpFreed
            phase3Entries = a.phase3Entries - b.phase3Entries
            preemptPoints = a.preemptPoints - b.preemptPoints
            lockAcquisitions = a.lockAcquisitions - b.lockAcquisitions
        }
    }

    /// One configuration's figures.
    public struct Row: Sendable, Codable, Hashable {
        /// The variant's short name (`vector/mm/nopreempt`, ...).
        public var variant: String
        public var gather: Gather
        public var preempt: Bool
        public var pageSize: PageSize
        public var density: Density
        /// MiB mapped and unmapped.
        public var megabytes: Int
        /// Pages the workload stored to before the munmap.
        public var pagesTouched: Int
        /// Huge pages the faults mapped (`thp_faults`), before the munmap.
        public var hugeFaults: UInt64
        /// Timed repetitions, each on a fresh machine.
        public var repetitions: Int
        /// The munmap's counter deltas (the same on every repetition).
        public var counts: Counts
        /// `max_preempt_off_ptes` after the munmap: the longest stretch
        /// with preemption disabled, in ptes (a huge pmd counts 1).  The
        /// peak of the whole run, but touching the memory takes none
        /// (``maxPreemptOffPtesBefore``).
        public var maxPreemptOffPtes: UInt64
        /// The same before the munmap.
        public var maxPreemptOffPtesBefore: UInt64
        /// Host nanoseconds of the munmap call, median.
        public var nsPerMunmap: Double
        /// The same for each repetition, in order.
        public var nsRuns: [Double]
        /// Violations the machine recorded, over every repetition: during
        /// the workload, in the audit after the munmap, at the exit and in
        /// the leak audit after it (on unmodified code: none).
        public var problems: Int = 0
        /// The first of them.
        public var firstProblem: String?

        /// User pages freed per gather flush (`pages_gathered /
        /// gather_flushes`).
        public var pagesFreedPerFlush: Double {
            counts.gatherFlushes > 0 ? Double(counts.pagesGathered) / Double(counts.gatherFlushes) : 0
        }

        /// Phase-3 entries visited per user page freed: the in-place
        /// gather's second walk, per page it frees.
        public var phase3PerPageFreed: Double {
            counts.pagesFreed > 0 ? Double(counts.phase3Entries) / Double(counts.pagesFreed) : 0
        }

        /// Host nanoseconds of the munmap per user page freed.
        public var nsPerPageFreed: Double {
            counts.pagesFreed > 0 ? nsPerMunmap / Double(counts.pagesFreed) : 0
        }

        /// Huge pmds zapped, by either gather.
        public var hugeZaps: UInt64 { counts.hugeZapsVector + counts.hugeZapsInplace }

        private enum CodingKeys: String, CodingKey {
            case variant, gather, preempt, pageSize, density, megabytes, pagesTouched, hugeFaults,
                 repetitions, counts, maxPreemptOffPtes, maxPreemptOffPtesBefore, nsPerMunmap, nsRuns,
                 problems, firstProblem, pagesFreedPerFlush, phase3PerPageFreed, nsPerPageFreed
        }

        public init(variant: Variant, pageSize: PageSize, density: Density, megabytes: Int,
                    pagesTouched: Int, hugeFaults: UInt64, repetitions: Int, counts: Counts,
                    maxPreemptOffPtes: UInt64, maxPreemptOffPtesBefore: UInt64, nsRuns: [Double]) {
            self.variant = variant.name
            gather = variant.gather
            preempt = variant.preempt
            self.pageSize = pageSize
            self.density = density
            self.megabytes = megabytes
            self.pagesTouched = pagesTouched
            self.hugeFaults = hugeFaults
            self.repetitions = repetitions
            self.counts = counts
            self.maxPreemptOffPtes = maxPreemptOffPtes
            self.maxPreemptOffPtesBefore = maxPreemptOffPtesBefore
            self.nsRuns = nsRuns
            nsPerMunmap = HugeBench.median(nsRuns)
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            variant = try c.decode(String.self, forKey: .variant)
            gather = try c.decode(Gather.self, forKey: .gather)
            preempt = try c.decode(Bool.self, forKey: .preempt)
            pageSize = try c.decode(PageSize.self, forKey: .pageSize)
            density = try c.decode(Density.self, forKey: .density)
            megabytes = try c.decode(Int.self, forKey: .megabytes)
            pagesTouched = try c.decode(Int.self, forKey: .pagesTouched)
            hugeFaults = try c.decode(UInt64.self, forKey: .hugeFaults)
            repetitions = try c.decode(Int.self, forKey: .repetitions)
            counts = try c.decode(Counts.self, forKey: .counts)
            maxPreemptOffPtes = try c.decode(UInt64.self, forKey: .maxPreemptOffPtes)
            maxPreemptOffPtesBefore = try c.decode(UInt64.self, forKey: .maxPreemptOffPtesBefore)
            nsPerMunmap = try c.decode(Double.self, forKey: .nsPerMunmap)
            nsRuns = try c.decode([Double].self, forKey: .nsRuns)
            problems = try c.decodeIfPresent(Int.self, forKey: .problems) ?? 0
            firstProblem = try c.decodeIfPresent(String.self, forKey: .firstProblem)
        }

        /// The derived figures are written too, for readers of the JSON.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(variant, forKey: .variant)
            try c.encode(gather, forKey: .gather)
            try c.encode(preempt, forKey: .preempt)
            try c.encode(pageSize, forKey: .pageSize)
            try c.encode(density, forKey: .density)
            try c.encode(megabytes, forKey: .megabytes)
            try c.encode(pagesTouched, forKey: .pagesTouched)
            try c.encode(hugeFaults, forKey: .hugeFaults)
            try c.encode(repetitions, forKey: .repetitions)
            try c.encode(counts, forKey: .counts)
            try c.encode(maxPreemptOffPtes, forKey: .maxPreemptOffPtes)
            try c.encode(maxPreemptOffPtesBefore, forKey: .maxPreemptOffPtesBefore)
            try c.encode(nsPerMunmap, forKey: .nsPerMunmap)
            try c.encode(nsRuns, forKey: .nsRuns)
            try c.encode(problems, forKey: .problems)
            try c.encodeIfPresent(firstProblem, forKey: .firstProblem)
            try c.encode(pagesFreedPerFlush, forKey: .pagesFreedPerFlush)
            try c.encode(phase3PerPageFreed, forKey: .phase3PerPageFreed)
            try c.encode(nsPerPageFreed, forKey: .nsPerPageFreed)
        }
    }

    /// The four variants compared: each gather with preemption off and
    /// on, with `base`'s page-table lock (`ptl=mm` by default; the
    /// sequential munmap takes the same locks either way) and no sharing.
    public static func variants(base: Variant = .baseline) -> [Variant] {
        [Gather.vector, .inplace].flatMap { gather in
            [false, true].map { preempt in
                Variant(gather: gather, ptl: base.ptl, preempt: preempt)
            }
        }
    }

    /// 4 KiB pages in `megabytes` MiB.
    public static func pages(megabytes: Int) -> Int { megabytes * 256 }

    /// The frames of every machine of a run: twice the mapping's pages
    /// plus two 2 MiB blocks (32,768 + 1,024 for 64 MiB), the same for
    /// both page sizes.  Huge pages need whole aligned blocks of 512 free
    /// frames, taken from the top while page tables come from the bottom:
    /// the mapping's blocks, one block of tables, and room to spare.
    public static func frames(megabytes: Int) -> Int {
        max(16, 2 * pages(megabytes: megabytes) + 1024)
    }

    /// The largest mapping a machine can hold this way.
    public static let maxMegabytes = ((1 << 22) - 1024) / 512

    /// A machine with the mapping in place and touched: returns it and
    /// the mm, with the counters after touching.
    static func populate(_ config: MachineConfig, pageSize: PageSize, density: Density,
                         megabytes: Int) throws -> (Machine, MMID, touched: Int) {
        let m = try Machine(config)
        let mm = try m.newMM()
        let length = UInt64(megabytes) << 20
        let addr = try m.mmap(cpu: 0, mm: mm, addr: base, length: length, prot: .readWrite,
                              flags: [.anonymousPrivate, .fixed])
        guard addr == base else { throw Errno.ENOMEM }
        if pageSize == .huge {
            try m.madvise(cpu: 0, mm: mm, addr: base, length: length, advice: madvHugepage)
        }
        let stride = density == .dense ? Machine.pageSize : hugeSize
        let count = Int(length / stride)
        for i in 0 ..< count {
            let a = base + UInt64(i) * stride
            let value = UInt64(i) + 1
            guard try m.store(cpu: i % config.cpus, mm: mm, addr: a, value: value) == .ok(value) else {
                throw Errno.ENOMEM
            }
        }
        return (m, mm, count)
    }

    /// What one repetition measured.
    struct Sample {
        var ns: UInt64
        var counts: Counts
        var touched: Int
        var hugeFaults: UInt64
        var peakBefore: UInt64
        var peakAfter: UInt64
        var violations: [Violation]
    }

    /// One repetition: a fresh machine, touched, then the timed munmap;
    /// then (untimed) the machine's audit, the exit and the leak audit.
    static func once(_ config: MachineConfig, pageSize: PageSize, density: Density,
                     megabytes: Int) throws -> Sample {
        let (m, mm, touched) = try populate(config, pageSize: pageSize, density: density, megabytes: megabytes)
        let before = m.stats
        let t0 = ForkBench.now()
        try m.munmap(cpu: 0, mm: mm, addr: base, length: UInt64(megabytes) << 20)
        let t1 = ForkBench.now()
        let after = m.stats
        m.check()
        try m.exit(cpu: 0, mm: mm)
        try m.checkLeaks()
        return Sample(ns: t1 - t0, counts: Counts(from: before, to: after), touched: touched,
                      hugeFaults: before.thpFaults, peakBefore: before.maxPreemptOffPtes,
                      peakAfter: after.maxPreemptOffPtes, violations: m.violations)
    }

    /// Every configuration: `variants` x page size x density, `repetitions`
    /// times each, alternating between configurations within a repetition
    /// (so that a change of the host's load falls on all alike), each on
    /// a fresh machine of ``frames(megabytes:)`` frames and `cpus` CPUs.
    /// Rows in the order: density, page size, variant.  Throws the
    /// machine's errno if a call fails.
    public static func measure(cpus: Int, megabytes: Int = defaultMegabytes, repetitions: Int,
                               variants: [Variant] = HugeBench.variants(),
                               densities: [Density] = Density.allCases,
                               shouldStop: () -> Bool = { false }) throws -> [Row] {
        struct Key: Hashable {
            var density: Density
            var pageSize: PageSize
            var variant: Variant
        }
        var keys: [Key] = []
        for d in densities {
            for p in PageSize.allCases {
                for v in variants { keys.append(Key(density: d, pageSize: p, variant: v)) }
            }
        }
        let frames = frames(megabytes: megabytes)
        var samples: [Key: [Sample]] = [:]
        for _ in 0 ..< max(1, repetitions) {
            for k in keys {
                let config = MachineConfig.default(cpus: cpus, frames: frames, variant: k.variant)
                samples[k, default: []].append(try once(config, pageSize: k.pageSize, density: k.density,
                                                        megabytes: megabytes))
            }
            if shouldStop() { break }
        }
        return keys.compactMap { k in
            guard let s = samples[k], let first = s.first else { return nil }
            var row = Row(variant: k.variant, pageSize: k.pageSize, density: k.density, megabytes: megabytes,
                          pagesTouched: first.touched, hugeFaults: first.hugeFaults, repetitions: s.count,
                          counts: first.counts, maxPreemptOffPtes: s.map(\.peakAfter).max() ?? 0,
                          maxPreemptOffPtesBefore: s.map(\.peakBefore).max() ?? 0,
                          nsRuns: s.map { Double($0.ns) })
            let violations = s.flatMap(\.violations)
            row.problems = violations.count
            row.firstProblem = violations.first.map { "\($0)" }
            return row
        }
    }

    /// The middle value (the mean of the two middle ones for an even
    /// count); 0 for none.
    public static func median(_ xs: [Double]) -> Double { ForkBench.median(xs) }
}
