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

/// What an mm's page tables say about one address.
public struct PTEInfo: Hashable, Sendable, Codable {
    public var pfn: UInt64
    /// The first data word of the page.
    public var word0: UInt64
    public var present: Bool
    public var writable: Bool

    public init(pfn: UInt64, word0: UInt64, present: Bool, writable: Bool) {
        self.pfn = pfn
        self.word0 = word0
        self.present = present
        self.writable = writable
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

    public init(anonRSS: UInt64, fileRSS: UInt64, nrPtes: UInt64, totalVM: UInt64,
                mapCount: Int, users: Int) {
        self.anonRSS = anonRSS
        self.fileRSS = fileRSS
        self.nrPtes = nrPtes
        self.totalVM = totalVM
        self.mapCount = mapCount
        self.users = users
    }
}
