import MMSim

/// The modelled time a variant spends on TLB maintenance: the one place
/// the cost of each kind of event is set, and where its figure comes from.
///
/// The simulator counts events, not time; these weights turn its counters
/// into nanoseconds so that variants can be compared on one scale.  They
/// are round figures for a modern x86-64 core, not measurements of this
/// machine: the comparison between variants is what they are for.
public struct TLBCostModel: Sendable, Hashable, Codable {
    /// One local single-page invalidation (`invlpg`, the simulator's
    /// `flush_one`): 100 ns.  Source: Linux's `arch/x86/mm/tlb.c`, on
    /// `tlb_single_page_flush_ceiling` ("Each single flush is about 100 ns,
    /// so this caps the maximum overhead at _about_ 3,000 ns", Dave Hansen,
    /// 2014, with the measurements in `Documentation/x86/tlb.rst`), and
    /// docs/DESIGN.md section 7 ("a single-page invalidation is around 100 ns").
    public var invalidatePageNs: Double = 100

    /// One local full flush (a cr3 reload, `flush_all`), its own cost
    /// only: 200 ns.  `Documentation/x86/tlb.rst` calls it "a quick
    /// operation" whose real price is the collateral damage, the refills;
    /// those are charged separately through ``pageWalkNs``.  200 ns is our
    /// assumption for the instruction pair (a serializing cr3 write, the
    /// order of a few hundred cycles), of the same order as one `invlpg`.
    public var fullFlushNs: Double = 200

    /// One flush IPI, the round trip to the other CPU and back as the
    /// initiator waits for it (`ipis`): 3,000 ns.  docs/DESIGN.md section 7: "an
    /// IPI round trip a few microseconds"; Amit, "Optimizing the TLB
    /// Shootdown Algorithm with Page Access Tracking" (USENIX ATC 2017) and
    /// Kumar et al., "LATR: Lazy Translation Coherence" (ASPLOS 2018)
    /// measure shootdowns in the microseconds on current x86 servers.
    public var ipiRoundTripNs: Double = 3_000

    /// One TLB miss caused by a flush (`misses_after_flush`): a page walk,
    /// 30 ns.  Our assumption: a 4-level walk whose upper levels hit the
    /// paging-structure caches and whose pte comes from the data caches
    /// costs tens of cycles to ~100 (Barr, Cox and Rixner, "Translation
    /// Caching: Skip, Don't Walk (the Page Table)", ISCA 2010, on the cost
    /// of walks and what the caches save).
    public var pageWalkNs: Double = 30

    public init() {}

    /// The standard model, as documented above.
    public static let standard = TLBCostModel()

    /// The modelled TLB-maintenance time of `stats`, in nanoseconds.
    public func nanoseconds(_ stats: Stats) -> Double {
        Double(stats.flushOne) * invalidatePageNs
            + Double(stats.flushAll) * fullFlushNs
            + Double(stats.ipis) * ipiRoundTripNs
            + Double(stats.missesAfterFlush) * pageWalkNs
    }

    /// The parts of ``nanoseconds(_:)``, by kind.
    public func breakdown(_ stats: Stats) -> [(String, Double)] {
        [
            ("invlpg", Double(stats.flushOne) * invalidatePageNs),
            ("full flushes", Double(stats.flushAll) * fullFlushNs),
            ("IPIs", Double(stats.ipis) * ipiRoundTripNs),
            ("refill walks", Double(stats.missesAfterFlush) * pageWalkNs),
        ]
    }
}
