import MMSim

/// What each variant of the kernel costs on the same work: the figures the
/// two proposals are judged by (docs/DESIGN.md section 7), measured on fixed
/// workloads of the raw machine, every variant side by side.
public enum ProposalBench {
    /// One variant's figures.
    public struct Row: Sendable, Codable {
        public var variant: String
        /// TLB flushes an mmu_gather did, per munmap of `pages` touched pages.
        public var flushesPerMunmap: Double
        /// ... per exit of an mm with `pages` touched pages.
        public var flushesPerExit: Double
        /// ... per MADV_DONTNEED of `pages` touched pages.
        public var flushesPerDontneed: Double
        /// Shootdown IPIs per munmap.
        public var ipisPerMunmap: Double
        /// TLB and paging-structure cache entries invalidated per munmap.
        public var entriesInvalidatedPerMunmap: Double
        /// Pages freed per gather flush, over all three workloads.
        public var pagesFreedPerFlush: Double
        /// The longest stretch run with preemption disabled, in ptes.
        public var maxPreemptOffPtes: UInt64
        /// Bytes of per-CPU gather state the kernel holds.
        public var gatherPercpuBytes: UInt64
        /// Spinlock acquisitions per munmap.
        public var lockAcquisitionsPerMunmap: Double
    }

    struct Totals {
        var flushes: UInt64 = 0
        var ipis: UInt64 = 0
        var invalidated: UInt64 = 0
        var locks: UInt64 = 0
        var pagesGathered: UInt64 = 0

        mutating func add(_ before: Stats, _ after: Stats) {
            flushes += after.gatherFlushes - before.gatherFlushes
            ipis += after.ipis - before.ipis
            invalidated += after.entriesInvalidated - before.entriesInvalidated
            locks += after.lockAcquisitions - before.lockAcquisitions
            pagesGathered += after.pagesGathered - before.pagesGathered
        }
    }

    /// An mm with `pages` pages mapped at a pmd boundary and stored to
    /// from every CPU in turn, so that every TLB caches some of them.
    static func populated(_ m: Machine, pages: UInt64) throws -> (MMID, UInt64) {
        let mm = try m.newMM()
        let base: UInt64 = 0x4000_0000
        _ = try m.mmap(cpu: 0, mm: mm, addr: base, length: pages * Machine.pageSize,
                       prot: [.read, .write], flags: [.anonymousPrivate, .fixed])
        for p in 0 ..< pages {
            let cpu = Int(p) % m.config.cpus
            guard try m.store(cpu: cpu, mm: mm, addr: base + p * Machine.pageSize, value: p) == .ok(p) else {
                throw Errno.ENOMEM
            }
        }
        return (mm, base)
    }

    /// The frames the workloads need for `pages` pages: one mm at a time
    /// holds its pages, a pte page per 512 of them (the mapping starts at
    /// a pmd boundary) and its pgd, pud and pmd (measured exactly: one
    /// frame fewer fails with ENOMEM), and never fewer than the machine's
    /// minimum.
    public static func framesNeeded(pages: Int) -> Int {
        max(16, pages + (pages + 511) / 512 + 3)
    }

    /// Runs the three workloads `repeats` times on a machine of `config`.
    public static func measure(_ config: MachineConfig, pages: UInt64 = 64,
                               repeats: Int = 10) throws -> Row {
        let m = try Machine(config)
        var munmap = Totals(), exit = Totals(), dontneed = Totals()
        for _ in 0 ..< repeats {
            let (a, base) = try populated(m, pages: pages)
            var before = m.stats
            try m.munmap(cpu: 0, mm: a, addr: base, length: pages * Machine.pageSize)
            munmap.add(before, m.stats)
            try m.exit(cpu: 0, mm: a)

            let (b, baseB) = try populated(m, pages: pages)
            before = m.stats
            try m.madvise(cpu: 0, mm: b, addr: baseB, length: pages * Machine.pageSize,
                          advice: .dontneed)
            dontneed.add(before, m.stats)
            try m.exit(cpu: 0, mm: b)

            let (c, _) = try populated(m, pages: pages)
            before = m.stats
            try m.exit(cpu: 0, mm: c)
            exit.add(before, m.stats)
        }
        let stats = m.stats
        let n = Double(repeats)
        let flushes = munmap.flushes + exit.flushes + dontneed.flushes
        let gathered = munmap.pagesGathered + exit.pagesGathered + dontneed.pagesGathered
        return Row(
            variant: config.variant.name,
            flushesPerMunmap: Double(munmap.flushes) / n,
            flushesPerExit: Double(exit.flushes) / n,
            flushesPerDontneed: Double(dontneed.flushes) / n,
            ipisPerMunmap: Double(munmap.ipis) / n,
            entriesInvalidatedPerMunmap: Double(munmap.invalidated) / n,
            pagesFreedPerFlush: flushes > 0 ? Double(gathered) / Double(flushes) : 0,
            maxPreemptOffPtes: stats.maxPreemptOffPtes,
            gatherPercpuBytes: stats.gatherPercpuBytes,
            lockAcquisitionsPerMunmap: Double(munmap.locks) / n)
    }
}
