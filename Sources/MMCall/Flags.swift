/// The argument types of the calls, with Linux's values: the ABI of the
/// machine (`mmsim.h`'s `MMSIM_PROT_*`, `MMSIM_MAP_*`, `MMSIM_MADV_*`, which
/// MMSimTests checks these against), spelled once for the model, the
/// engine and the wrapper.

/// mmap/mprotect protection bits, with Linux's values.
///
/// Any raw value can be built, unknown bits included, so that tests can
/// hand the kernel bad input.
public struct Prot: OptionSet, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int32

    @inlinable
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// PROT_NONE.
    @inlinable public static var none: Prot { [] }
    @inlinable public static var read: Prot { Prot(rawValue: 0x1) }
    @inlinable public static var write: Prot { Prot(rawValue: 0x2) }
    @inlinable public static var exec: Prot { Prot(rawValue: 0x4) }
    @inlinable public static var readWrite: Prot { [.read, .write] }

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

    @inlinable
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    @inlinable public static var shared: MapFlags { MapFlags(rawValue: 0x01) }
    @inlinable public static var `private`: MapFlags { MapFlags(rawValue: 0x02) }
    @inlinable public static var fixed: MapFlags { MapFlags(rawValue: 0x10) }
    @inlinable public static var anonymous: MapFlags { MapFlags(rawValue: 0x20) }
    @inlinable public static var denyWrite: MapFlags { MapFlags(rawValue: 0x800) }
    @inlinable public static var noReserve: MapFlags { MapFlags(rawValue: 0x4000) }
    @inlinable public static var stack: MapFlags { MapFlags(rawValue: 0x20000) }

    /// `MAP_PRIVATE | MAP_ANONYMOUS`.
    @inlinable public static var anonymousPrivate: MapFlags { [.private, .anonymous] }
    /// `MAP_SHARED | MAP_ANONYMOUS`.
    @inlinable public static var anonymousShared: MapFlags { [.shared, .anonymous] }

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

    @inlinable
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// MADV_DONTNEED: drop the pages; private ones read back as zeros.
    @inlinable public static var dontneed: Advice { Advice(rawValue: 4) }
    /// MADV_HUGEPAGE: private anonymous memory of the range may be mapped
    /// by 2 MiB pages (transparent huge pages).  Changes no data.
    @inlinable public static var hugepage: Advice { Advice(rawValue: 14) }
    /// MADV_NOHUGEPAGE: no 2 MiB pages for the range from now on (those
    /// already there stay).  Changes no data.
    @inlinable public static var nohugepage: Advice { Advice(rawValue: 15) }

    public var description: String {
        switch self {
        case .dontneed: "MADV_DONTNEED"
        case .hugepage: "MADV_HUGEPAGE"
        case .nohugepage: "MADV_NOHUGEPAGE"
        default: "advice \(rawValue)"
        }
    }
}
