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

/// mmap/mprotect protection bits, with Linux's values.
///
/// Any raw value can be built, unknown bits included, so that tests can
/// hand the kernel bad input.
public struct Prot: OptionSet, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// PROT_NONE.
    public static let none: Prot = []
    public static let read = Prot(rawValue: Int32(MMSIM_PROT_READ))
    public static let write = Prot(rawValue: Int32(MMSIM_PROT_WRITE))
    public static let exec = Prot(rawValue: Int32(MMSIM_PROT_EXEC))
    public static let readWrite: Prot = [.read, .write]

    /// `rw-`, as in /proc/PID/maps, with `+0x..` for unknown bits.
    public var description: String {
        var s = (contains(.read) ? "r" : "-") + (contains(.write) ? "w" : "-")
            + (contains(.exec) ? "x" : "-")
        let rest = subtracting([.read, .write, .exec]).rawValue
        if rest != 0 {
            s += "+0x" + String(rest, radix: 16)
        }
        return s
    }
}

/// mmap flags, with Linux's values.  Any raw value can be built.
public struct MapFlags: OptionSet, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    public static let shared = MapFlags(rawValue: Int32(MMSIM_MAP_SHARED))
    public static let `private` = MapFlags(rawValue: Int32(MMSIM_MAP_PRIVATE))
    public static let fixed = MapFlags(rawValue: Int32(MMSIM_MAP_FIXED))
    public static let anonymous = MapFlags(rawValue: Int32(MMSIM_MAP_ANONYMOUS))
    public static let denyWrite = MapFlags(rawValue: Int32(MMSIM_MAP_DENYWRITE))
    public static let noReserve = MapFlags(rawValue: Int32(MMSIM_MAP_NORESERVE))
    public static let stack = MapFlags(rawValue: Int32(MMSIM_MAP_STACK))

    /// `MAP_PRIVATE | MAP_ANONYMOUS`.
    public static let anonymousPrivate: MapFlags = [.private, .anonymous]
    /// `MAP_SHARED | MAP_ANONYMOUS`.
    public static let anonymousShared: MapFlags = [.shared, .anonymous]

    private static let names: [(MapFlags, String)] = [
        (.shared, "SHARED"), (.private, "PRIVATE"), (.fixed, "FIXED"),
        (.anonymous, "ANONYMOUS"), (.denyWrite, "DENYWRITE"),
        (.noReserve, "NORESERVE"), (.stack, "STACK"),
    ]

    /// `MAP_PRIVATE|MAP_ANONYMOUS`, with `0x..` for unknown bits.
    public var description: String {
        var parts: [String] = []
        var rest = self
        for (flag, name) in Self.names where contains(flag) {
            parts.append("MAP_" + name)
            rest.remove(flag)
        }
        if rest.rawValue != 0 {
            parts.append("0x" + String(rest.rawValue, radix: 16))
        }
        return parts.isEmpty ? "0" : parts.joined(separator: "|")
    }
}

/// madvise advice.  Any raw value can be built.
public struct Advice: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// MADV_DONTNEED: drop the pages; private ones read back as zeros.
    public static let dontneed = Advice(rawValue: Int32(MMSIM_MADV_DONTNEED))

    public var description: String {
        self == .dontneed ? "MADV_DONTNEED" : "advice \(rawValue)"
    }
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
