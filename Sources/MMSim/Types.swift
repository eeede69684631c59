import CMMSim

/// An address space (`struct mm_struct`), named by the small id the C side
/// hands out.  Valid from the call that returns it until its last user
/// exits.
public struct MMID: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    public var description: String { "mm\(rawValue)" }
}

/// What a user load or store did.
public enum AccessResult: Hashable, Sendable, CustomStringConvertible {
    /// It completed; the word loaded, or the word stored.
    case ok(UInt64)
    /// The task would get SIGSEGV (the C side's -EFAULT).
    case segv
    /// The fault handler ran out of memory (VM_FAULT_OOM, -ENOMEM).
    case oom

    /// The word, if the access completed.
    public var value: UInt64? {
        if case .ok(let v) = self { return v }
        return nil
    }

    public var description: String {
        switch self {
        case .ok(let v): "ok(0x\(String(v, radix: 16)))"
        case .segv: "SIGSEGV"
        case .oom: "OOM"
        }
    }
}

/// One vma, as `mmsim_vma` reports it.
public struct VMAInfo: Hashable, Sendable, Codable, CustomStringConvertible {
    public var start: UInt64
    public var end: UInt64
    public var prot: Prot
    /// MAP_SHARED.
    public var shared: Bool

    public init(start: UInt64, end: UInt64, prot: Prot, shared: Bool) {
        self.start = start
        self.end = end
        self.prot = prot
        self.shared = shared
    }

    public var length: UInt64 { end - start }

    /// `0x10000-0x20000 rw-p`, as in /proc/PID/maps.
    public var description: String {
        "0x\(String(start, radix: 16))-0x\(String(end, radix: 16)) \(prot)\(shared ? "s" : "p")"
    }
}

/// What an mm's page tables say about one address: a page mapped
/// (present, or PROT_NONE: not present to the hardware), or a page in
/// swap (a swap entry).
public struct PTEInfo: Hashable, Sendable, Codable {
    /// The page's identity: its frame; for a page in swap, the frame of
    /// its swap-cache page if it has one, else the machine's frame count
    /// plus its swap slot (slots run from 1 to the frame count).  Two
    /// ptes name the same page exactly when their `pfn` is equal.
    public var pfn: UInt64
    /// The first data word of the page, wherever it lives.
    public var word0: UInt64
    /// Present to the hardware (false for PROT_NONE and for swap entries).
    public var present: Bool
    public var writable: Bool
    /// A swap entry: the page is in swap (or its swap cache), not mapped.
    public var swapped: Bool
    /// Mapped by a 2 MiB pmd entry (a transparent huge page): every page
    /// of the aligned 2 MiB around it is present, each with its own
    /// `pfn` (the head's plus its index).
    public var huge: Bool

    public init(pfn: UInt64, word0: UInt64, present: Bool, writable: Bool, swapped: Bool = false,
                huge: Bool = false) {
        self.pfn = pfn
        self.word0 = word0
        self.present = present
        self.writable = writable
        self.swapped = swapped
        self.huge = huge
    }

    private enum CodingKeys: String, CodingKey {
        case pfn, word0, present, writable, swapped, huge
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(pfn: try c.decode(UInt64.self, forKey: .pfn), word0: try c.decode(UInt64.self, forKey: .word0),
                  present: try c.decode(Bool.self, forKey: .present),
                  writable: try c.decode(Bool.self, forKey: .writable),
                  swapped: try c.decodeIfPresent(Bool.self, forKey: .swapped) ?? false,
                  huge: try c.decodeIfPresent(Bool.self, forKey: .huge) ?? false)
    }
}

/// An mm's counters (`struct mmsim_mm_info`).
public struct MMInfo: Hashable, Sendable, Codable {
    /// Private anonymous pages mapped.
    public var anonRSS: UInt64
    /// Shared pages mapped.
    public var fileRSS: UInt64
    /// Pte pages.
    public var nrPtes: UInt64
    /// Pages of vmas.
    public var totalVM: UInt64
    /// Vmas.
    public var mapCount: Int
    /// mm_users.
    public var users: Int
    /// Ptes of the mm that are swap entries (those of a pte table shared
    /// with other mms counted in each, as rss is).
    public var swapEnts: UInt64

    public init(anonRSS: UInt64, fileRSS: UInt64, nrPtes: UInt64, totalVM: UInt64,
                mapCount: Int, users: Int, swapEnts: UInt64 = 0) {
        self.anonRSS = anonRSS
        self.fileRSS = fileRSS
        self.nrPtes = nrPtes
        self.totalVM = totalVM
        self.mapCount = mapCount
        self.users = users
        self.swapEnts = swapEnts
    }

    private enum CodingKeys: String, CodingKey {
        case anonRSS, fileRSS, nrPtes, totalVM, mapCount, users, swapEnts
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(anonRSS: try c.decode(UInt64.self, forKey: .anonRSS),
                  fileRSS: try c.decode(UInt64.self, forKey: .fileRSS),
                  nrPtes: try c.decode(UInt64.self, forKey: .nrPtes),
                  totalVM: try c.decode(UInt64.self, forKey: .totalVM),
                  mapCount: try c.decode(Int.self, forKey: .mapCount),
                  users: try c.decode(Int.self, forKey: .users),
                  swapEnts: try c.decodeIfPresent(UInt64.self, forKey: .swapEnts) ?? 0)
    }
}
