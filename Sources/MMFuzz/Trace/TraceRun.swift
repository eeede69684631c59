import MMSim

/// One variant's figures from a trace replay: the metrics of docs/DESIGN.md
/// section 7, on the same work as every other variant's.
public struct TraceMetrics: Sendable, Hashable {
    public var variant: Variant
    /// Replayed with transparent huge pages (`--huge`).
    public var hugePages: Bool
    /// ``TraceVariantResult/label``.
    public var label: String { TraceVariantResult.label(variant, hugePages: hugePages) }
    public var completed: Bool
    /// Kernel violations (the replay stops at the first: 0 or 1).
    public var violations: Int
    /// Disagreements with the reference model (0 or 1, likewise).
    public var disagreements: Int
    /// Every TLB flush the kernel asked for (`flush_tlb_mm/range/page`).
    public var flushes: UInt64
    /// ... of which from an mmu_gather (unmap, exit, MADV_DONTNEED).
    public var gatherFlushes: UInt64
    /// Gather flushes forced by a full vector.
    public var gatherFull: UInt64
    /// ZAP_BLOCK_SIZE breaks of the gather.
    public var zapBreaks: UInt64
    /// Local single-page invalidations (invlpg).
    public var flushOne: UInt64
    /// Local full flushes (cr3 reloads).
    public var flushAll: UInt64
    public var ipis: UInt64
    public var ipisLazy: UInt64
    public var entriesInvalidated: UInt64
    public var pagesGathered: UInt64
    public var pagesFreed: UInt64
    /// Pages freed through the gather per gather flush.
    public var pagesFreedPerFlush: Double
    public var missesAfterFlush: UInt64
    public var maxPreemptOffPtes: UInt64
    public var gatherPercpuBytes: UInt64
    public var lockAcquisitions: UInt64
    public var lockContended: UInt64
    public var faults: UInt64
    /// Huge pages (all 0 without `--huge`): faults that mapped a 2 MiB
    /// page, 2 MiB faults fallen back to 4 KiB pages (no free aligned
    /// block), huge pmds split, copied by fork, made writable in place,
    /// zapped by each gather, compound pages freed.
    public var hugeFaults: UInt64
    public var hugeFallbacks: UInt64
    public var hugeSplits: UInt64
    public var hugeForkCopies: UInt64
    public var hugeCowReuses: UInt64
    public var hugeZapsVector: UInt64
    public var hugeZapsInplace: UInt64
    public var hugeFreed: UInt64
    /// 2 MiB TLB hits.
    public var tlb2mHits: UInt64
    /// Entries the in-place gather's phase 3 visited.
    public var phase3Entries: UInt64
    public var modelledTlbNs: Double
    public var seconds: Double

    public init(_ r: TraceVariantResult, cost: TLBCostModel) {
        let s = r.stats
        variant = r.variant
        hugePages = r.hugePages
        completed = r.completed
        violations = r.failure?.isViolation == true ? 1 : 0
        disagreements = r.failure != nil && r.failure?.isViolation == false ? 1 : 0
        flushes = s.tlbFlushCalls
        gatherFlushes = s.gatherFlushes
        gatherFull = s.gatherFull
        zapBreaks = s.zapBreaks
        flushOne = s.flushOne
        flushAll = s.flushAll
        ipis = s.ipis
        ipisLazy = s.ipisLazy
        entriesInvalidated = s.entriesInvalidated
        pagesGathered = s.pagesGathered
        pagesFreed = s.pagesFreed
        pagesFreedPerFlush = s.gatherFlushes > 0 ? Double(s.pagesGathered) / Double(s.gatherFlushes) : 0
        missesAfterFlush = s.missesAfterFlush
        maxPreemptOffPtes = s.maxPreemptOffPtes
        gatherPercpuBytes = s.gatherPercpuBytes
        lockAcquisitions = s.lockAcquisitions
        lockContended = s.lockContended
        faults = s.faults
        hugeFaults = s.thpFaults
        hugeFallbacks = s.thpFallbacks
        hugeSplits = s.thpSplits
        hugeForkCopies = s.thpForkCopies
        hugeCowReuses = s.thpCowReuses
        hugeZapsVector = s.thpZapsVector
        hugeZapsInplace = s.thpZapsInplace
        hugeFreed = s.thpFreed
        tlb2mHits = s.tlb2mHits
        phase3Entries = s.phase3Entries
        modelledTlbNs = cost.nanoseconds(s)
        seconds = r.seconds
    }
}

/// A trace replayed on several variants at once: one pass over the input
/// feeds one machine per variant (see ``TraceReplayer/replay(_:variants:options:shouldStop:)``).
public struct TraceRun: Sendable {
    public var source: TraceSource
    public var results: [TraceVariantResult]
    public var cost: TLBCostModel

    public var metrics: [TraceMetrics] { results.map { TraceMetrics($0, cost: cost) } }

    /// Replays `source` on each of `variants`.  `progress` is called for
    /// each variant at the end.  Throws ``TraceError`` for bad input.
    public static func run(_ source: TraceSource, variants: [Variant], options: TraceReplayOptions,
                           cost: TLBCostModel = .standard,
                           shouldStop: () -> Bool = { false },
                           progress: (TraceVariantResult) -> Void = { _ in }) throws(TraceError) -> TraceRun {
        let results = try TraceReplayer.replay(source, variants: variants, options: options,
                                               shouldStop: shouldStop)
        results.forEach(progress)
        return TraceRun(source: source, results: results, cost: cost)
    }

    /// Whether the replay was stopped (Ctrl-C) before the end.
    public var interrupted: Bool { results.contains(where: \.interrupted) }

    /// The tally of the first variant: the events and what was skipped
    /// are the same on every variant unless a replay stopped early.
    public var tally: TraceTally { results.first?.tally ?? TraceTally() }

    /// Did every variant replay to the end with no failure?
    public var clean: Bool { results.allSatisfy(\.completed) }

    /// The ratio `a / b` of modelled TLB time and of flushes between two
    /// variants, when both were run (with huge pages or without).
    public func ratios(_ a: Variant, over b: Variant,
                       hugePages: Bool = false) -> (time: Double, flushes: Double, gatherFlushes: Double)? {
        let m = metrics
        guard let x = m.first(where: { $0.variant == a && $0.hugePages == hugePages }),
              let y = m.first(where: { $0.variant == b && $0.hugePages == hugePages }),
              y.modelledTlbNs > 0, y.flushes > 0, y.gatherFlushes > 0 else { return nil }
        return (x.modelledTlbNs / y.modelledTlbNs, Double(x.flushes) / Double(y.flushes),
                Double(x.gatherFlushes) / Double(y.gatherFlushes))
    }
}

// MARK: - JSON

/// A JSON value with its keys in the order written.
indirect enum JSON {
    case int(Int)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])
    /// JSON text made elsewhere, inserted as it is.
    case raw(String)

    var text: String {
        switch self {
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        case .double(let v): return v.isFinite ? String((v * 1000).rounded() / 1000) : "null"
        case .string(let s): return jsonString(s)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .raw(let text): return text
        case .array(let a): return "[" + a.map(\.text).joined(separator: ", ") + "]"
        case .object(let o):
            return "{" + o.map { jsonString($0.0) + ": " + $0.1.text }.joined(separator: ", ") + "}"
        }
    }
}

extension TraceRun {
    /// The whole result as one JSON object:
    /// `{"events": N, "skipped": N, "variants": [{"variant": SPEC, ...}]}`.
    /// `header` (key, JSON text) pairs come first: the command's
    /// configuration and stop reason.
    public func json(header: [(String, String)] = []) -> String {
        let t = tally
        var top: [(String, JSON)] = header.map { ($0.0, .raw($0.1)) }
        top += [
            ("events", .int(t.events)),
            ("skipped", .int(t.skippedTotal)),
            ("replayed", .int(t.replayed)),
            ("skippedByReason", .object(t.skipped.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
            ("notes", .object(t.notes.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
        ]
        top.append(("costModel", .object([
            ("invalidatePageNs", .double(cost.invalidatePageNs)),
            ("fullFlushNs", .double(cost.fullFlushNs)),
            ("ipiRoundTripNs", .double(cost.ipiRoundTripNs)),
            ("pageWalkNs", .double(cost.pageWalkNs)),
        ])))
        var rows: [JSON] = []
        for (r, m) in zip(results, metrics) {
            var o: [(String, JSON)] = [
                ("variant", .string(m.variant.name)),
                ("hugePages", .bool(m.hugePages)),
                ("completed", .bool(m.completed)),
                ("interrupted", .bool(r.interrupted)),
                ("violations", .int(m.violations)),
                ("disagreements", .int(m.disagreements)),
                ("flushes", .uint(m.flushes)),
                ("ipis", .uint(m.ipis)),
                ("modelledTlbNs", .uint(UInt64(m.modelledTlbNs.rounded()))),
                ("maxPreemptOffPtes", .uint(m.maxPreemptOffPtes)),
                ("gatherFlushes", .uint(m.gatherFlushes)),
                ("gatherFull", .uint(m.gatherFull)),
                ("zapBreaks", .uint(m.zapBreaks)),
                ("flushOne", .uint(m.flushOne)),
                ("flushAll", .uint(m.flushAll)),
                ("ipisLazy", .uint(m.ipisLazy)),
                ("entriesInvalidated", .uint(m.entriesInvalidated)),
                ("pagesGathered", .uint(m.pagesGathered)),
                ("pagesFreed", .uint(m.pagesFreed)),
                ("pagesFreedPerFlush", .double(m.pagesFreedPerFlush)),
                ("missesAfterFlush", .uint(m.missesAfterFlush)),
                ("gatherPercpuBytes", .uint(m.gatherPercpuBytes)),
                ("lockAcquisitions", .uint(m.lockAcquisitions)),
                ("lockContended", .uint(m.lockContended)),
                ("faults", .uint(m.faults)),
                ("hugeFaults", .uint(m.hugeFaults)),
                ("hugeFallbacks", .uint(m.hugeFallbacks)),
                ("hugeSplits", .uint(m.hugeSplits)),
                ("hugeForkCopies", .uint(m.hugeForkCopies)),
                ("hugeCowReuses", .uint(m.hugeCowReuses)),
                ("hugeZapsVector", .uint(m.hugeZapsVector)),
                ("hugeZapsInplace", .uint(m.hugeZapsInplace)),
                ("hugeFreed", .uint(m.hugeFreed)),
                ("tlb2mHits", .uint(m.tlb2mHits)),
                ("phase3Entries", .uint(m.phase3Entries)),
                ("events", .int(r.tally.events)),
                ("skipped", .int(r.tally.skippedTotal)),
                ("machineCalls", .int(r.tally.machineCalls)),
                ("hugeAdvised", .int(r.tally.notes[TraceTally.hugeAdvised] ?? 0)),
                ("seconds", .double(m.seconds)),
            ]
            if let f = r.failure {
                o.append(("failure", .object([
                    ("kind", .string(f.kind)),
                    ("message", .string(f.message)),
                    ("line", f.line.map { .int($0) } ?? .null),
                    ("reproducer", f.reproducer.map { .string($0) } ?? .null),
                    ("reproducerReplays", f.reproducerReplays.map { .bool($0) } ?? .null),
                ])))
            }
            rows.append(.object(o))
        }
        top.append(("variants", .array(rows)))
        return JSON.object(top).text
    }
}
