import CMMSim

/// How the unmap paths batch pages and TLB flushes (the `gather` boot
/// option).
public enum Gather: String, Sendable, Hashable, Codable, CaseIterable {
    /// Linux 2.6.16: a per-CPU `mmu_gather` holding a vector of pages.
    case vector
    /// The 2006 RFC: an on-stack gather, pages remembered in the page tables.
    case inplace

    init?(c: UInt32) {
        switch c {
        case UInt32(MMSIM_GATHER_VECTOR.rawValue): self = .vector
        case UInt32(MMSIM_GATHER_INPLACE.rawValue): self = .inplace
        default: return nil
        }
    }

    var c: UInt32 {
        switch self {
        case .vector: UInt32(MMSIM_GATHER_VECTOR.rawValue)
        case .inplace: UInt32(MMSIM_GATHER_INPLACE.rawValue)
        }
    }
}

/// Which lock guards page-table entries (the `ptl` boot option).
public enum PTL: String, Sendable, Hashable, Codable, CaseIterable {
    /// One `mm->page_table_lock` for everything.
    case mm
    /// A lock in each page-table page's `struct page`.
    case split

    init?(c: UInt32) {
        switch c {
        case UInt32(MMSIM_PTL_MM.rawValue): self = .mm
        case UInt32(MMSIM_PTL_SPLIT.rawValue): self = .split
        default: return nil
        }
    }

    var c: UInt32 {
        switch self {
        case .mm: UInt32(MMSIM_PTL_MM.rawValue)
        case .split: UInt32(MMSIM_PTL_SPLIT.rawValue)
        }
    }
}

/// The kernel variant a machine runs: the three boot options of docs/DESIGN.md
/// section 4.
///
/// Its textual form is the `--variant` spec, `gather=vector,ptl=mm,preempt=on`:
/// keys in any order, each at most once, a missing key taking the
/// baseline's value.
public struct Variant: Sendable, Hashable, Codable, CustomStringConvertible {
    public var gather: Gather
    public var ptl: PTL
    /// CONFIG_PREEMPT.
    public var preempt: Bool

    public init(gather: Gather = .vector, ptl: PTL = .mm, preempt: Bool = false) {
        self.gather = gather
        self.ptl = ptl
        self.preempt = preempt
    }

    /// Linux 2.6.16 as it shipped: vector gather, one page-table lock,
    /// no CONFIG_PREEMPT.
    public static let baseline = Variant()

    /// Every combination of the three settings, baseline first.
    public static let allCombinations: [Variant] = Gather.allCases.flatMap { gather in
        PTL.allCases.flatMap { ptl in
            [false, true].map { Variant(gather: gather, ptl: ptl, preempt: $0) }
        }
    }

    /// The canonical spec: `gather=vector,ptl=mm,preempt=off`.
    public var description: String {
        "gather=\(gather.rawValue),ptl=\(ptl.rawValue),preempt=\(preempt ? "on" : "off")"
    }

    /// Parses a spec such as `ptl=split,preempt=on`.
    ///
    /// Throws ``VariantSpecError`` naming the offending part for an
    /// unknown key or value, a repeated key, or a part that is not
    /// `key=value`; and for an empty spec, which would otherwise run the
    /// baseline without anyone having asked for it (write
    /// `gather=vector` for the baseline).
    public init(parsing spec: String) throws(VariantSpecError) {
        var result = Variant.baseline
        var seen: Set<String> = []
        let trimmed = spec.trimmingSpaces
        guard !trimmed.isEmpty else {
            throw VariantSpecError(
                spec: spec,
                reason: "empty spec (expected gather=vector|inplace,ptl=mm|split,preempt=on|off; the baseline is \(Variant.baseline))")
        }
        for rawPart in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let part = String(rawPart).trimmingSpaces
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pieces.count == 2, !pieces[0].isEmpty else {
                throw VariantSpecError(spec: spec, reason: "'\(part)' is not key=value")
            }
            let key = String(pieces[0]).trimmingSpaces.lowercased()
            let value = String(pieces[1]).trimmingSpaces.lowercased()
            guard seen.insert(key).inserted else {
                throw VariantSpecError(spec: spec, reason: "key '\(key)' given twice")
            }
            switch key {
            case "gather":
                guard let g = Gather(rawValue: value) else {
                    throw VariantSpecError(spec: spec, reason: "unknown gather '\(value)' (expected vector or inplace)")
                }
                result.gather = g
            case "ptl":
                guard let p = PTL(rawValue: value) else {
                    throw VariantSpecError(spec: spec, reason: "unknown ptl '\(value)' (expected mm or split)")
                }
                result.ptl = p
            case "preempt":
                switch value {
                case "on": result.preempt = true
                case "off": result.preempt = false
                default:
                    throw VariantSpecError(spec: spec, reason: "unknown preempt '\(value)' (expected on or off)")
                }
            default:
                throw VariantSpecError(spec: spec, reason: "unknown key '\(key)' (expected gather, ptl or preempt)")
            }
        }
        self = result
    }
}

/// A `--variant` spec that does not parse.
public struct VariantSpecError: Error, Hashable, Sendable, CustomStringConvertible {
    public var spec: String
    public var reason: String

    public var description: String {
        "invalid variant '\(spec)': \(reason)"
    }
}

/// The machine's hardware and boot options (`struct mmsim_config`).
public struct MachineConfig: Sendable, Hashable, Codable {
    /// Simulated CPUs, 1 ... ``Machine/maxCPUs``.
    public var cpus: Int
    /// Physical page frames.
    public var frames: Int
    /// TLB entries per CPU (a multiple of 4).
    public var tlbEntries: Int
    /// Paging-structure-cache entries per CPU.
    public var pscEntries: Int
    public var gather: Gather
    public var ptl: PTL
    /// CONFIG_PREEMPT.
    public var preempt: Bool

    public init(cpus: Int, frames: Int, tlbEntries: Int, pscEntries: Int,
                gather: Gather, ptl: PTL, preempt: Bool) {
        self.cpus = cpus
        self.frames = frames
        self.tlbEntries = tlbEntries
        self.pscEntries = pscEntries
        self.gather = gather
        self.ptl = ptl
        self.preempt = preempt
    }

    /// The C side's defaults (`mmsim_default_config`).
    public static let `default`: MachineConfig = {
        var c = mmsim_config()
        mmsim_default_config(&c)
        return MachineConfig(
            cpus: Int(c.nr_cpus), frames: Int(c.nr_frames),
            tlbEntries: Int(c.tlb_entries), pscEntries: Int(c.psc_entries),
            gather: Gather(c: c.gather) ?? .vector, ptl: PTL(c: c.ptl) ?? .mm,
            preempt: c.preempt != 0)
    }()

    /// The defaults with some settings changed.
    public static func `default`(cpus: Int? = nil, frames: Int? = nil,
                                 variant: Variant? = nil) -> MachineConfig {
        var config = MachineConfig.default
        if let cpus { config.cpus = cpus }
        if let frames { config.frames = frames }
        if let variant { config.variant = variant }
        return config
    }

    /// The three boot options as one value.
    public var variant: Variant {
        get { Variant(gather: gather, ptl: ptl, preempt: preempt) }
        set {
            gather = newValue.gather
            ptl = newValue.ptl
            preempt = newValue.preempt
        }
    }

    /// The C struct; EINVAL for a count that does not fit its field.
    func cConfig() throws(Errno) -> mmsim_config {
        guard let cpus = UInt32(exactly: cpus),
              let frames = UInt32(exactly: frames),
              let tlb = UInt32(exactly: tlbEntries),
              let psc = UInt32(exactly: pscEntries)
        else { throw .EINVAL }
        return mmsim_config(nr_cpus: cpus, nr_frames: frames, tlb_entries: tlb,
                            psc_entries: psc, gather: gather.c, ptl: ptl.c,
                            preempt: preempt ? 1 : 0, share: 0, sharemask: 0)
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs (no
    /// Foundation in this target).
    var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
