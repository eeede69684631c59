import CMMSim

/// The machine's counters (`struct mmsim_stats`).  All are monotonic
/// except the `...Now` gauges.
public struct Stats: Hashable, Sendable, Codable {
    // MARK: Hardware

    public var tlbHits: UInt64 = 0
    public var tlbMisses: UInt64 = 0
    public var tlbEvictions: UInt64 = 0
    public var walks: UInt64 = 0
    public var pscHits: UInt64 = 0
    /// Walks that raised a page fault.
    public var hwFaults: UInt64 = 0
    /// Local single-page invalidations.
    public var flushOne: UInt64 = 0
    /// Local whole-TLB flushes (cr3 loads).
    public var flushAll: UInt64 = 0
    /// Flush IPIs sent.
    public var ipis: UInt64 = 0
    /// Flush IPIs sent to CPUs in lazy TLB mode.
    public var ipisLazy: UInt64 = 0
    /// TLB + PSC entries dropped.
    public var entriesInvalidated: UInt64 = 0
    /// TLB misses on flushed entries.
    public var missesAfterFlush: UInt64 = 0

    // MARK: Kernel

    /// `flush_tlb_{mm,range,page}` calls.
    public var tlbFlushCalls: UInt64 = 0
    /// `tlb_flush()` calls from an mmu_gather.
    public var gatherFlushes: UInt64 = 0
    /// Flushes forced by a full vector.
    public var gatherFull: UInt64 = 0
    /// Pages freed in UP fast mode.
    public var gatherFastFrees: UInt64 = 0
    /// ZAP_BLOCK_SIZE gather breaks.
    public var zapBreaks: UInt64 = 0
    /// Pages freed through a gather.
    public var pagesGathered: UInt64 = 0
    public var faults: UInt64 = 0
    public var cowCopies: UInt64 = 0
    public var cowReuses: UInt64 = 0
    public var pagesFreed: UInt64 = 0
    public var ptablesAlloced: UInt64 = 0
    public var ptablesFreed: UInt64 = 0
    public var forks: UInt64 = 0
    public var exits: UInt64 = 0
    /// Allocation failures, injected or out of frames.
    public var allocFailures: UInt64 = 0
    /// `cond_resched()` preemption points taken.
    public var preemptPoints: UInt64 = 0
    /// Longest stretch with preemption off, in ptes processed.
    public var maxPreemptOffPtes: UInt64 = 0
    /// Per-CPU gather memory held.
    public var gatherPercpuBytes: UInt64 = 0
    public var lockAcquisitions: UInt64 = 0
    public var lockContended: UInt64 = 0
    public var semContended: UInt64 = 0

    // MARK: Gauges

    /// Frames allocated now, page tables included.
    public var framesUsedNow: UInt64 = 0
    /// Kernel objects (mm_struct, vma, ...) allocated now.
    public var slabObjectsNow: UInt64 = 0

    public init() {}

    init(_ s: mmsim_stats) {
        tlbHits = s.tlb_hits
        tlbMisses = s.tlb_misses
        tlbEvictions = s.tlb_evictions
        walks = s.walks
        pscHits = s.psc_hits
        hwFaults = s.hw_faults
        flushOne = s.flush_one
        flushAll = s.flush_all
        ipis = s.ipis
        ipisLazy = s.ipis_lazy
        entriesInvalidated = s.entries_invalidated
        missesAfterFlush = s.misses_after_flush
        tlbFlushCalls = s.tlb_flush_calls
        gatherFlushes = s.gather_flushes
        gatherFull = s.gather_full
        gatherFastFrees = s.gather_fast_frees
        zapBreaks = s.zap_breaks
        pagesGathered = s.pages_gathered
        faults = s.faults
        cowCopies = s.cow_copies
        cowReuses = s.cow_reuses
        pagesFreed = s.pages_freed
        ptablesAlloced = s.ptables_alloced
        ptablesFreed = s.ptables_freed
        forks = s.forks
        exits = s.exits
        allocFailures = s.alloc_failures
        preemptPoints = s.preempt_points
        maxPreemptOffPtes = s.max_preempt_off_ptes
        gatherPercpuBytes = s.gather_percpu_bytes
        lockAcquisitions = s.lock_acquisitions
        lockContended = s.lock_contended
        semContended = s.sem_contended
        framesUsedNow = s.frames_used_now
        slabObjectsNow = s.slab_objects_now
    }

    /// Every counter under its C name, in the header's order: for tables
    /// and for comparing runs field by field.
    public var counters: [(name: String, value: UInt64)] {
        [
            ("tlb_hits", tlbHits),
            ("tlb_misses", tlbMisses),
            ("tlb_evictions", tlbEvictions),
            ("walks", walks),
            ("psc_hits", pscHits),
            ("hw_faults", hwFaults),
            ("flush_one", flushOne),
            ("flush_all", flushAll),
            ("ipis", ipis),
            ("ipis_lazy", ipisLazy),
            ("entries_invalidated", entriesInvalidated),
            ("misses_after_flush", missesAfterFlush),
            ("tlb_flush_calls", tlbFlushCalls),
            ("gather_flushes", gatherFlushes),
            ("gather_full", gatherFull),
            ("gather_fast_frees", gatherFastFrees),
            ("zap_breaks", zapBreaks),
            ("pages_gathered", pagesGathered),
            ("faults", faults),
            ("cow_copies", cowCopies),
            ("cow_reuses", cowReuses),
            ("pages_freed", pagesFreed),
            ("ptables_alloced", ptablesAlloced),
            ("ptables_freed", ptablesFreed),
            ("forks", forks),
            ("exits", exits),
            ("alloc_failures", allocFailures),
            ("preempt_points", preemptPoints),
            ("max_preempt_off_ptes", maxPreemptOffPtes),
            ("gather_percpu_bytes", gatherPercpuBytes),
            ("lock_acquisitions", lockAcquisitions),
            ("lock_contended", lockContended),
            ("sem_contended", semContended),
            ("frames_used_now", framesUsedNow),
            ("slab_objects_now", slabObjectsNow),
        ]
    }
}
