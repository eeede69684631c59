import MMSim
#if canImport(Glibc)
import Glibc
#endif

/// What sharing pte tables at fork buys, measured as Daniel Phillips
/// measured it in 2002: a parent with N touched pages forks a child that
/// exits at once (fork+exit), or execs and then exits (fork+exec+exit),
/// on a kernel that copies every pte (`share=off`) and on one that shares
/// the parent's pte tables (`share=fork`), side by side.
///
/// The parent maps N private anonymous pages at a pmd boundary and stores
/// to each, so all N are present.  Everything runs on CPU 0.  Each
/// repetition times the simulator's calls on the host clock (the fork
/// alone, and the whole sequence); the figures are medians.  The counts
/// (ptes copied, tables shared, ...) are each fork's counter deltas, the
/// same on every repetition, and are what the tests check.
///
/// The parent is forked once, untimed, before the repetitions: the first
/// fork write-protects the parent's ptes (in both variants), every later
/// one finds them so, as a long-lived parent forking again would.
public enum ForkBench {
    /// What the child does after the fork.
    public enum Workload: String, Sendable, Codable, CaseIterable {
        /// The child exits at once: its whole mm is torn down.
        case forkExit = "fork+exit"
        /// The child execs (drops its mm for a fresh, empty one), then
        /// exits.
        case forkExecExit = "fork+exec+exit"
        /// While the child lives the parent stores to its first page (as
        /// a real parent returning from fork writes its stack), then the
        /// child exits: a copy-on-write fault, and with sharing the
        /// unshare of that page's table first.
        case forkStoreExit = "fork+store+exit"
    }

    /// One variant's figures for one parent size and workload.
    public struct Row: Sendable, Codable, Hashable {
        public var variant: String
        /// Whether the variant shares pte tables at fork (`share=fork`).
        public var sharesTables: Bool
        public var pages: Int
        public var workload: Workload
        /// Timed repetitions.
        public var repetitions: Int
        /// Host nanoseconds of the fork call alone, median.
        public var nsPerFork: Double
        /// Host nanoseconds of the whole workload (fork, exec, exit),
        /// median.
        public var nsPerWorkload: Double
        /// Counter deltas per repetition (the same on every one).
        public var counts: Counts

        public init(variant: String, sharesTables: Bool, pages: Int, workload: Workload,
                    repetitions: Int, nsPerFork: Double, nsPerWorkload: Double, counts: Counts) {
            self.variant = variant
            self.sharesTables = sharesTables
            self.pages = pages
            self.workload = workload
            self.repetitions = repetitions
            self.nsPerFork = nsPerFork
            self.nsPerWorkload = nsPerWorkload
            self.counts = counts
        }
    }

    /// What one repetition did, from the machine's counters.
    public struct Counts: Sendable, Codable, Hashable {
        /// ptes fork copied one by one (`fork_ptes_copied`).
        public var ptesCopied: UInt64 = 0
        /// pte tables fork gave the child by reference (`ptables_shared`).
        public var tablesShared: UInt64 = 0
        /// Shared tables copied before a change (`ptables_unshared`).
        public var tablesUnshared: UInt64 = 0
        /// Shared tables let go of whole, by exit or exec
        /// (`ptables_share_dropped`).
        public var tablesDropped: UInt64 = 0
        /// Page tables of every level allocated (`ptables_alloced`).
        public var tablesAllocated: UInt64 = 0
        /// Flush IPIs sent (`ipis`).
        public var ipis: UInt64 = 0
        /// Copy-on-write copies (`cow_copies`).
        public var cowCopies: UInt64 = 0

        public init() {}

        /// The deltas between two readings of the counters.
        public init(from before: Stats, to after: Stats) {
            ptesCopied = after.forkPtesCopied - before.forkPtesCopied
            tablesShared = after.ptablesShared - before.ptablesShared
            tablesUnshared = after.ptablesUnshared - before.ptablesUnshared
            tablesDropped = after.ptablesShareDropped - before.ptablesShareDropped
            tablesAllocated = after.ptablesAlloced - before.ptablesAlloced
            ipis = after.ipis - before.ipis
            cowCopies = after.cowCopies - before.cowCopies
        }
    }

    /// Where the parent's pages start: a pmd boundary, so that N pages
    /// fill ceil(N / 512) pte tables.
    public static let base: UInt64 = 0x4000_0000

    /// Parent sizes of Phillips's table.
    public static let defaultSizes = [100, 1_000, 10_000, 100_000]

    /// pte tables mapping `pages` pages from a pmd boundary.
    public static func pteTables(pages: Int) -> Int { (pages + 511) / 512 }

    /// Frames for a parent of `pages` pages and one child: the pages, the
    /// parent's tables (its pte tables and pgd, pud and pmd), as many
    /// again for a child that copies them, the fresh mm of an exec, and a
    /// few to spare.  Every machine of a run gets the frames of its
    /// largest parent, so that the rows differ only in the parent's size.
    public static func framesNeeded(pages: Int) -> Int {
        max(16, pages + 2 * (pteTables(pages: pages) + 3) + 8)
    }

    /// The frames a run of `sizes` uses: at least 131,072 (the trace
    /// replay's machine), more if the largest parent needs it.
    public static func frames(for sizes: [Int]) -> Int {
        max(131_072, framesNeeded(pages: sizes.max() ?? 0))
    }

    /// A machine and its parent: `pages` pages mapped and stored to.
    final class Parent {
        let machine: Machine
        let mm: MMID
        /// Values stored after a fork, so that each store is a new one.
        var stores: UInt64 = 1 << 32

        init(_ config: MachineConfig, pages: Int) throws {
            machine = try Machine(config)
            mm = try machine.newMM()
            _ = try machine.mmap(cpu: 0, mm: mm, addr: ForkBench.base,
                                 length: UInt64(pages) * Machine.pageSize,
                                 prot: .readWrite, flags: [.anonymousPrivate, .fixed])
            for p in 0 ..< UInt64(pages) {
                guard try machine.store(cpu: 0, mm: mm, addr: ForkBench.base + p * Machine.pageSize,
                                        value: p) == .ok(p) else {
                    throw Errno.ENOMEM
                }
            }
        }

        /// One repetition of `workload`: host ns of the fork and of the
        /// whole, and the counters it moved.
        func once(_ workload: Workload) throws -> (fork: UInt64, total: UInt64, counts: Counts) {
            let before = machine.stats
            let t0 = ForkBench.now()
            var child = try machine.fork(cpu: 0, mm: mm)
            let t1 = ForkBench.now()
            switch workload {
            case .forkExit:
                break
            case .forkExecExit:
                child = try machine.exec(cpu: 0, mm: child)
            case .forkStoreExit:
                stores &+= 1
                guard try machine.store(cpu: 0, mm: mm, addr: ForkBench.base, value: stores) == .ok(stores) else {
                    throw Errno.ENOMEM
                }
            }
            try machine.exit(cpu: 0, mm: child)
            let t2 = ForkBench.now()
            return (t1 - t0, t2 - t0, Counts(from: before, to: machine.stats))
        }
    }

    /// The host's monotonic clock, in nanoseconds.
    @inline(__always)
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Runs both workloads `repetitions` times on a parent of `pages`
    /// pages under each of `configs`, alternating between them (so that
    /// a change of the host's load falls on every variant alike).  One row
    /// per config and workload, workloads outermost.  Throws the machine's
    /// errno if a call fails (too few frames).
    public static func measure(_ configs: [MachineConfig], pages: Int, repetitions: Int,
                               workloads: [Workload] = Workload.allCases,
                               shouldStop: () -> Bool = { false }) throws -> [Row] {
        let parents = try configs.map { try Parent($0, pages: pages) }
        // The untimed first fork (write-protects the parent's ptes).
        for p in parents { _ = try p.once(.forkExit) }
        var samples = Array(repeating: Array(repeating: [(fork: UInt64, total: UInt64, counts: Counts)](),
                                             count: parents.count),
                            count: workloads.count)
        for _ in 0 ..< max(1, repetitions) {
            for (w, workload) in workloads.enumerated() {
                for (i, p) in parents.enumerated() {
                    samples[w][i].append(try p.once(workload))
                }
            }
            if shouldStop() { break }
        }
        var rows: [Row] = []
        for (w, workload) in workloads.enumerated() {
            for (i, config) in configs.enumerated() {
                let s = samples[w][i]
                rows.append(Row(variant: config.variant.name, sharesTables: config.variant.share == .fork,
                                pages: pages, workload: workload,
                                repetitions: s.count,
                                nsPerFork: median(s.map { Double($0.fork) }),
                                nsPerWorkload: median(s.map { Double($0.total) }),
                                counts: s.first?.counts ?? Counts()))
            }
        }
        return rows
    }

    /// Shared over copied host time for one parent size.
    public struct Ratio: Sendable, Codable, Hashable {
        public var pages: Int
        /// Median host ns of fork+exit, tables copied and shared, and
        /// shared / copied.
        public var exitCopied: Double
        public var exitShared: Double
        public var exitRatio: Double
        /// The same for fork+exec+exit.
        public var execCopied: Double
        public var execShared: Double
        public var execRatio: Double
        /// The same for fork+store+exit (0 when not measured).
        public var storeCopied: Double = 0
        public var storeShared: Double = 0
        public var storeRatio: Double = 0

        public init(pages: Int, exitCopied: Double, exitShared: Double, exitRatio: Double,
                    execCopied: Double, execShared: Double, execRatio: Double) {
            self.pages = pages
            self.exitCopied = exitCopied
            self.exitShared = exitShared
            self.exitRatio = exitRatio
            self.execCopied = execCopied
            self.execShared = execShared
            self.execRatio = execRatio
        }
    }

    /// The ratios of a run's rows, per parent size in the order met: the
    /// row of a variant with `share=off` against the one with
    /// `share=fork`, for each workload.  Sizes missing a row are left out.
    public static func ratios(_ rows: [Row]) -> [Ratio] {
        var sizes: [Int] = []
        for r in rows where !sizes.contains(r.pages) { sizes.append(r.pages) }
        func ratio(_ a: Double, _ b: Double) -> Double { b > 0 ? (a / b * 1000).rounded() / 1000 : 0 }
        return sizes.compactMap { pages in
            func ns(_ w: Workload, shared: Bool) -> Double? {
                rows.first {
                    $0.pages == pages && $0.workload == w && $0.sharesTables == shared
                }?.nsPerWorkload
            }
            guard let eo = ns(.forkExit, shared: false), let es = ns(.forkExit, shared: true),
                  let xo = ns(.forkExecExit, shared: false), let xs = ns(.forkExecExit, shared: true)
            else { return nil }
            var r = Ratio(pages: pages, exitCopied: eo, exitShared: es, exitRatio: ratio(es, eo),
                          execCopied: xo, execShared: xs, execRatio: ratio(xs, xo))
            if let so = ns(.forkStoreExit, shared: false), let ss = ns(.forkStoreExit, shared: true) {
                (r.storeCopied, r.storeShared, r.storeRatio) = (so, ss, ratio(ss, so))
            }
            return r
        }
    }

    /// The middle value (the mean of the two middle ones for an even
    /// count); 0 for none.
    public static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// The two variants compared: `base` with tables copied, and with
    /// them shared at fork (`ptl=split`, which sharing needs, on both).
    public static func variants(base: Variant) -> [Variant] {
        var off = base
        off.ptl = .split
        off.share = .off
        off.sharemask = .all
        var on = off
        on.share = .fork
        return [off, on]
    }
}
