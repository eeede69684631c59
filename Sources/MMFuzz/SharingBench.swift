import MMSim

/// The price of sharing pte tables at fork, on mixed work: how often a
/// shared table must be copied back (unshared) before a change, and what
/// the flushes of entries changed in place in a shared table (reclaim's)
/// cost in IPIs when they go to every CPU (`sharemask=all`) or to the
/// sharers' CPUs only (`sharemask=precise`).  Every figure is a counter
/// total over a workload, divided per 1,000 calls to the machine.
public enum SharingBench {
    /// One variant's counters over one workload.
    public struct Row: Sendable, Codable, Hashable {
        public var variant: String
        /// `fuzz mix` or `kbuild trace`.
        public var workload: String
        /// Calls made to the machine.
        public var ops: Int
        public var totals: Figures
        /// `totals`, per 1,000 calls.
        public var perThousandOps: PerThousand

        public init(variant: String, workload: String, ops: Int, totals: Figures) {
            self.variant = variant
            self.workload = workload
            self.ops = ops
            self.totals = totals
            self.perThousandOps = PerThousand(totals, ops: ops)
        }

        /// Counters of `stats`, per 1,000 of `ops`.
        public init(variant: Variant, workload: String, ops: Int, stats: Stats) {
            self.init(variant: variant.name, workload: workload, ops: ops, totals: Figures(stats))
        }
    }

    /// The counters the price is read from.
    public struct Figures: Sendable, Codable, Hashable {
        public var forks: UInt64 = 0
        /// `fork_ptes_copied`.
        public var ptesCopied: UInt64 = 0
        /// `ptables_shared`.
        public var tablesShared: UInt64 = 0
        /// `ptables_unshared`: shared tables copied before a change.
        public var unshares: UInt64 = 0
        /// `ptables_share_dropped`: shared tables let go of whole.
        public var shareDropped: UInt64 = 0
        /// `shared_flushes`: flushes of an entry of a shared table.
        public var sharedFlushes: UInt64 = 0
        /// `shared_flush_ipis`: the IPIs those flushes sent (to every
        /// other CPU under `sharemask=all`, to the sharers' other CPUs
        /// under `precise`).
        public var sharedFlushIPIs: UInt64 = 0
        /// `ipis`: every flush IPI, the above included.
        public var ipis: UInt64 = 0
        /// `pages_reclaimed`.
        public var pagesReclaimed: UInt64 = 0
        /// `swap_ins`.
        public var swapIns: UInt64 = 0

        public init() {}

        public init(_ s: Stats) {
            forks = s.forks
            ptesCopied = s.forkPtesCopied
            tablesShared = s.ptablesShared
            unshares = s.ptablesUnshared
            shareDropped = s.ptablesShareDropped
            sharedFlushes = s.sharedFlushes
            sharedFlushIPIs = s.sharedFlushIpis
            ipis = s.ipis
            pagesReclaimed = s.pagesReclaimed
            swapIns = s.swapIns
        }

        public mutating func add(_ o: Figures) {
            forks += o.forks
            ptesCopied += o.ptesCopied
            tablesShared += o.tablesShared
            unshares += o.unshares
            shareDropped += o.shareDropped
            sharedFlushes += o.sharedFlushes
            sharedFlushIPIs += o.sharedFlushIPIs
            ipis += o.ipis
            pagesReclaimed += o.pagesReclaimed
            swapIns += o.swapIns
        }
    }

    /// ``Figures`` per 1,000 calls.
    public struct PerThousand: Sendable, Codable, Hashable {
        public var forks: Double
        public var ptesCopied: Double
        public var tablesShared: Double
        public var unshares: Double
        public var shareDropped: Double
        public var sharedFlushes: Double
        public var sharedFlushIPIs: Double
        public var ipis: Double
        public var pagesReclaimed: Double
        public var swapIns: Double

        public init(_ f: Figures, ops: Int) {
            func per(_ x: UInt64) -> Double { ops > 0 ? Double(x) * 1000 / Double(ops) : 0 }
            forks = per(f.forks)
            ptesCopied = per(f.ptesCopied)
            tablesShared = per(f.tablesShared)
            unshares = per(f.unshares)
            shareDropped = per(f.shareDropped)
            sharedFlushes = per(f.sharedFlushes)
            sharedFlushIPIs = per(f.sharedFlushIPIs)
            ipis = per(f.ipis)
            pagesReclaimed = per(f.pagesReclaimed)
            swapIns = per(f.swapIns)
        }
    }

    /// The three variants compared: `base` (with `ptl=split`, which
    /// sharing needs) copying ptes at fork, sharing tables and flushing
    /// every CPU, and sharing them flushing the sharers' CPUs.
    public static func variants(base: Variant) -> [Variant] {
        var off = base
        off.ptl = .split
        off.share = .off
        off.sharemask = .all
        var all = off
        all.share = .fork
        var precise = all
        precise.sharemask = .precise
        return [off, all, precise]
    }

    /// The fuzz mix's calls on each of `variants`: every case of `cases`
    /// (generated once, for a variant that shares tables, whose mix forks
    /// more and maps whole pte tables: the same ops for every variant)
    /// run on each variant, checked or raw.  Returns the rows and the
    /// cases that failed (on unmutated code: none).
    public static func fuzzMix(_ cases: [FuzzCase], variants: [Variant], checked: Bool,
                               shouldStop: () -> Bool = { false }) -> (rows: [Row], failures: Int) {
        var rows: [Row] = []
        var failures = 0
        for variant in variants {
            var totals = Figures()
            var ops = 0
            for var c in cases {
                if shouldStop() { break }
                c.variant = variant
                let r = CaseRunner.run(c, checked: checked)
                ops += r.ops
                totals.add(Figures(r.stats))
                if r.failure != nil { failures += 1 }
            }
            rows.append(Row(variant: variant.name, workload: "fuzz mix", ops: ops, totals: totals))
        }
        return (rows, failures)
    }

    /// The same on a trace replay's results: calls are the machine calls
    /// the replay made.
    public static func trace(_ run: TraceRun, workload: String = "kbuild trace") -> [Row] {
        run.results.map {
            Row(variant: $0.variant, workload: workload, ops: $0.tally.machineCalls, stats: $0.stats)
        }
    }
}
