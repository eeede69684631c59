import CMMSim

/// A boot option of `struct mmsim_config`: each case and the value C
/// spells it with, stated once.
protocol BootOption: CaseIterable, Equatable {
    /// Every case with its value in `struct mmsim_config`.
    static var cValues: KeyValuePairs<Self, UInt32> { get }
}

extension BootOption {
    /// The case C's `value` names, or nil.
    init?(c value: UInt32) {
        guard let match = Self.cValues.first(where: { $0.value == value }) else { return nil }
        self = match.key
    }

    /// This case's value in `struct mmsim_config`.
    var c: UInt32 {
        // cValues lists every case (ABITests checks it against mmsim.h)
        Self.cValues.first { $0.key == self }!.value
    }
}

/// How the unmap paths batch pages and TLB flushes (the `gather` boot
/// option).
public enum Gather: String, Sendable, Hashable, Codable, CaseIterable, BootOption {
    /// Linux 2.6.16: a per-CPU `mmu_gather` holding a vector of pages.
    case vector
    /// The 2006 RFC: an on-stack gather, pages remembered in the page tables.
    case inplace

    static let cValues: KeyValuePairs<Gather, UInt32> = [
        .vector: UInt32(MMSIM_GATHER_VECTOR.rawValue),
        .inplace: UInt32(MMSIM_GATHER_INPLACE.rawValue),
    ]
}

/// Which lock guards page-table entries (the `ptl` boot option).
public enum PTL: String, Sendable, Hashable, Codable, CaseIterable, BootOption {
    /// One `mm->page_table_lock` for everything.
    case mm
    /// A lock in each page-table page's `struct page`.
    case split

    static let cValues: KeyValuePairs<PTL, UInt32> = [
        .mm: UInt32(MMSIM_PTL_MM.rawValue),
        .split: UInt32(MMSIM_PTL_SPLIT.rawValue),
    ]
}

/// Whether fork shares pte tables between parent and child (the `share`
/// boot option; the 2002 proposal).  Needs ``PTL/split``.
public enum Share: String, Sendable, Hashable, Codable, CaseIterable, BootOption {
    /// fork copies every pte.
    case off
    /// fork shares a pte table whose 2 MiB holds only private vmas,
    /// write-protecting it once; a change unshares it first.
    case fork

    static let cValues: KeyValuePairs<Share, UInt32> = [
        .off: UInt32(MMSIM_SHARE_OFF.rawValue),
        .fork: UInt32(MMSIM_SHARE_FORK.rawValue),
    ]
}

/// Whom a change to an entry of a shared pte table is flushed on (the
/// `sharemask` boot option; it matters only with ``Share/fork``).
public enum ShareMask: String, Sendable, Hashable, Codable, CaseIterable, BootOption {
    /// Every CPU (Linus's rule).
    case all
    /// The union of the sharers' cpu masks.
    case precise

    static let cValues: KeyValuePairs<ShareMask, UInt32> = [
        .all: UInt32(MMSIM_SHAREMASK_ALL.rawValue),
        .precise: UInt32(MMSIM_SHAREMASK_PRECISE.rawValue),
    ]
}

/// The kernel variant a machine runs: the boot options of docs/DESIGN.md
/// section 4.
///
/// Its textual form is the `--variant` spec, `gather=vector,ptl=mm,preempt=on`
/// (with `,share=fork,sharemask=all|precise` when fork shares pte
/// tables): keys in any order, each at most once, a missing key taking
/// the baseline's value (`share=off`, `sharemask=all`).
public struct Variant: Sendable, Hashable, Codable, CustomStringConvertible {
    public var gather: Gather
    public var ptl: PTL
    /// CONFIG_PREEMPT.
    public var preempt: Bool
    /// Whether fork shares pte tables (needs `ptl` split).
    public var share: Share
    /// Whom a change in a shared pte table is flushed on.
    public var sharemask: ShareMask

    public init(gather: Gather = .vector, ptl: PTL = .mm, preempt: Bool = false,
                share: Share = .off, sharemask: ShareMask = .all) {
        self.gather = gather
        self.ptl = ptl
        self.preempt = preempt
        self.share = share
        self.sharemask = sharemask
    }

    /// Whether the sharing keys differ from their defaults: only then do
    /// they appear in the spec, the short name and JSON (so that what was
    /// written before they existed reads and writes as it did).
    public var sharesTables: Bool { share != .off || sharemask != .all }

    private enum CodingKeys: String, CodingKey {
        case gather, ptl, preempt, share, sharemask
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(gather: try c.decode(Gather.self, forKey: .gather),
                  ptl: try c.decode(PTL.self, forKey: .ptl),
                  preempt: try c.decode(Bool.self, forKey: .preempt),
                  share: try c.decodeIfPresent(Share.self, forKey: .share) ?? .off,
                  sharemask: try c.decodeIfPresent(ShareMask.self, forKey: .sharemask) ?? .all)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(gather, forKey: .gather)
        try c.encode(ptl, forKey: .ptl)
        try c.encode(preempt, forKey: .preempt)
        if sharesTables {
            try c.encode(share, forKey: .share)
            try c.encode(sharemask, forKey: .sharemask)
        }
    }

    /// Linux 2.6.16 as it shipped: vector gather, one page-table lock,
    /// no CONFIG_PREEMPT.
    public static let baseline = Variant()

    /// Every combination the kernel accepts, baseline first: the 8 of
    /// gather, ptl and preempt without sharing, then the 8 of gather,
    /// preempt and sharemask with `share=fork` (which needs `ptl=split`).
    public static let allCombinations: [Variant] = Gather.allCases.flatMap { gather in
        PTL.allCases.flatMap { ptl in
            [false, true].map { Variant(gather: gather, ptl: ptl, preempt: $0) }
        }
    } + Gather.allCases.flatMap { gather in
        [false, true].flatMap { preempt in
            ShareMask.allCases.map {
                Variant(gather: gather, ptl: .split, preempt: preempt, share: .fork, sharemask: $0)
            }
        }
    }

    /// The canonical spec: `gather=vector,ptl=mm,preempt=off`, and
    /// `,share=fork,sharemask=all` only when tables are shared.
    public var description: String {
        var s = "gather=\(gather.rawValue),ptl=\(ptl.rawValue),preempt=\(preempt ? "on" : "off")"
        if sharesTables {
            s += ",share=\(share.rawValue),sharemask=\(sharemask.rawValue)"
        }
        return s
    }

    /// Why the kernel cannot run this combination, or nil when it can:
    /// `share=fork` needs `ptl=split`.
    public var incoherence: String? {
        if share == .fork, ptl != .split {
            return "share=fork needs ptl=split (the sharers' own page_table_locks cannot serialise a table they share)"
        }
        if share == .off, sharemask != .all {
            return "sharemask=\(sharemask.rawValue) needs share=fork (it says whom a change in a shared table is flushed on)"
        }
        return nil
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
                reason: "empty spec (expected gather=vector|inplace,ptl=mm|split,preempt=on|off[,share=off|fork,sharemask=all|precise]; the baseline is \(Variant.baseline))")
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
            case "share":
                guard let v = Share(rawValue: value) else {
                    throw VariantSpecError(spec: spec, reason: "unknown share '\(value)' (expected off or fork)")
                }
                result.share = v
            case "sharemask":
                guard let v = ShareMask(rawValue: value) else {
                    throw VariantSpecError(spec: spec, reason: "unknown sharemask '\(value)' (expected all or precise)")
                }
                result.sharemask = v
            default:
                throw VariantSpecError(spec: spec, reason: "unknown key '\(key)' (expected gather, ptl, preempt, share or sharemask)")
            }
        }
        if let why = result.incoherence {
            throw VariantSpecError(spec: spec, reason: why)
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
    /// Whether fork shares pte tables.
    public var share: Share
    /// Whom a change in a shared pte table is flushed on.
    public var sharemask: ShareMask

    public init(cpus: Int, frames: Int, tlbEntries: Int, pscEntries: Int,
                gather: Gather, ptl: PTL, preempt: Bool,
                share: Share = .off, sharemask: ShareMask = .all) {
        self.cpus = cpus
        self.frames = frames
        self.tlbEntries = tlbEntries
        self.pscEntries = pscEntries
        self.gather = gather
        self.ptl = ptl
        self.preempt = preempt
        self.share = share
        self.sharemask = sharemask
    }

    private enum CodingKeys: String, CodingKey {
        case cpus, frames, tlbEntries, pscEntries, gather, ptl, preempt, share, sharemask
    }

    /// Reads the sharing keys when present (older JSON has none).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(cpus: try c.decode(Int.self, forKey: .cpus),
                  frames: try c.decode(Int.self, forKey: .frames),
                  tlbEntries: try c.decode(Int.self, forKey: .tlbEntries),
                  pscEntries: try c.decode(Int.self, forKey: .pscEntries),
                  gather: try c.decode(Gather.self, forKey: .gather),
                  ptl: try c.decode(PTL.self, forKey: .ptl),
                  preempt: try c.decode(Bool.self, forKey: .preempt),
                  share: try c.decodeIfPresent(Share.self, forKey: .share) ?? .off,
                  sharemask: try c.decodeIfPresent(ShareMask.self, forKey: .sharemask) ?? .all)
    }

    /// Writes the sharing keys only when tables are shared.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(cpus, forKey: .cpus)
        try c.encode(frames, forKey: .frames)
        try c.encode(tlbEntries, forKey: .tlbEntries)
        try c.encode(pscEntries, forKey: .pscEntries)
        try c.encode(gather, forKey: .gather)
        try c.encode(ptl, forKey: .ptl)
        try c.encode(preempt, forKey: .preempt)
        if variant.sharesTables {
            try c.encode(share, forKey: .share)
            try c.encode(sharemask, forKey: .sharemask)
        }
    }

    /// The C side's defaults (`mmsim_default_config`).
    public static let `default`: MachineConfig = {
        var c = mmsim_config()
        mmsim_default_config(&c)
        return MachineConfig(
            cpus: Int(c.nr_cpus), frames: Int(c.nr_frames),
            tlbEntries: Int(c.tlb_entries), pscEntries: Int(c.psc_entries),
            gather: Gather(c: c.gather) ?? .vector, ptl: PTL(c: c.ptl) ?? .mm,
            preempt: c.preempt != 0,
            share: c.share == MMSIM_SHARE_FORK.rawValue ? .fork : .off,
            sharemask: c.sharemask == MMSIM_SHAREMASK_PRECISE.rawValue ? .precise : .all)
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

    /// The boot options as one value.
    public var variant: Variant {
        get { Variant(gather: gather, ptl: ptl, preempt: preempt, share: share, sharemask: sharemask) }
        set {
            gather = newValue.gather
            ptl = newValue.ptl
            preempt = newValue.preempt
            share = newValue.share
            sharemask = newValue.sharemask
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
                            preempt: preempt ? 1 : 0, share: share.c, sharemask: sharemask.c)
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
