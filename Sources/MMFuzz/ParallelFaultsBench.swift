import MMSim

/// The per-page-table lock's case, measured: a multi-threaded process (one
/// mm, a task on every CPU) whose threads fault in and drop disjoint
/// regions at the same time, in the concurrent regime (the CPUs interleave
/// at every lock operation, page-table write and walker step, as a seeded
/// scheduler decides).  What it reports is lock contention per fault:
/// with `ptl=mm` every fault and every zap of every thread takes the one
/// `mm->page_table_lock`; with `ptl=split` each thread's region has its
/// own pte page, hence its own lock.
///
/// Each round, every CPU stores to each page of its own region (a fault
/// per page: the region was dropped at the end of the previous round) and
/// then drops the region with MADV_DONTNEED, which holds `mmap_sem` for
/// reading only, so that faults and zaps of different threads overlap (a
/// munmap would take it for writing and serialize the threads on the
/// semaphore instead).  Regions start 2 MiB apart, so no two threads share
/// a pte page.
public enum ParallelFaultsBench {
    public struct Row: Sendable, Codable, Hashable {
        public var variant: String
        public var cpus: Int
        /// Page faults taken over all rounds.
        public var faults: UInt64
        public var lockAcquisitions: UInt64
        /// Spinlock acquisitions that found the lock held.
        public var lockContended: UInt64
        /// mmap_sem acquisitions that found it held.
        public var semContended: UInt64
        public var contendedPerFault: Double
        public var acquisitionsPerFault: Double
        /// Kernel violations recorded (must be 0), stores or madvises that
        /// failed (must be 0), and what the machine's audits found at the
        /// end (must be 0).
        public var violations: Int
        public var failedOps: Int
        public var auditProblems: Int
    }

    static let base: UInt64 = 0x4000_0000
    static let stride: UInt64 = 2 << 20

    /// The most pages a CPU's region holds: its 2 MiB (more would overlap
    /// the next CPU's region, and the threads would share pages).
    public static let maxPages = Int(stride / Machine.pageSize)

    /// The frames the workload needs on `cpus` CPUs: at worst every
    /// region is faulted in at once, each with its pte page, plus the
    /// mm's pgd, pud and pmd (measured: with fewer, some interleaving
    /// runs out of memory).
    public static func framesNeeded(cpus: Int, pages: Int) -> Int {
        max(16, cpus * (pages + 1) + 3)
    }

    /// Runs `rounds` rounds of `pages` faults per CPU on a machine of
    /// `config` (its CPUs are the threads), each round under a random
    /// scheduler seeded from `seed`.
    public static func measure(_ config: MachineConfig, pages: Int = 64, rounds: Int = 10,
                               seed: UInt64 = 1) throws -> Row {
        let m = try Machine(config)
        let cpus = config.cpus
        let mm = try m.newMM()
        for _ in 1 ..< max(1, cpus) { try m.mmGet(mm) }
        let span = UInt64(cpus) * stride
        _ = try m.mmap(cpu: 0, mm: mm, addr: base, length: span, prot: .readWrite,
                       flags: [.anonymousPrivate, .fixed])
        let length = UInt64(pages) * Machine.pageSize
        var failed = 0
        let before = m.stats
        for round in 0 ..< rounds {
            var ops: [ConcurrentOp] = []
            ops.reserveCapacity(cpus * (pages + 1))
            for cpu in 0 ..< cpus {
                let region = base + UInt64(cpu) * stride
                for p in 0 ..< pages {
                    ops.append(ConcurrentOp(cpu: cpu, mm: mm,
                                            .store(addr: region + UInt64(p) * Machine.pageSize,
                                                   value: UInt64(round * pages + p))))
                }
                ops.append(ConcurrentOp(cpu: cpu, mm: mm,
                                        .madvise(addr: region, length: length, advice: .dontneed)))
            }
            let run = try m.runConcurrent(ops, scheduler: .random(seed: seed &+ UInt64(round),
                                                                   switchPermille: 500))
            failed += run.outcomes.filter { $0.errno != nil }.count
        }
        let after = m.stats
        var audit = m.check()
        for cpu in 0 ..< max(1, cpus) { try m.exit(cpu: cpu, mm: mm) }
        audit += try m.checkLeaks()
        let faults = after.faults - before.faults
        let contended = after.lockContended - before.lockContended
        let acquisitions = after.lockAcquisitions - before.lockAcquisitions
        return Row(variant: config.variant.name, cpus: cpus, faults: faults,
                   lockAcquisitions: acquisitions, lockContended: contended,
                   semContended: after.semContended - before.semContended,
                   contendedPerFault: faults > 0 ? Double(contended) / Double(faults) : 0,
                   acquisitionsPerFault: faults > 0 ? Double(acquisitions) / Double(faults) : 0,
                   violations: m.violationCount, failedOps: failed, auditProblems: audit)
    }
}
