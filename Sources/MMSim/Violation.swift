import CMMSim

/// A kernel bug found by the C side's run-time checkers (docs/DESIGN.md
/// section 5), recorded instead of aborting.
public struct Violation: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Which rule was broken (`enum mmsim_violation_kind`).
    public enum Kind: Hashable, Sendable, Codable, CustomStringConvertible {
        /// A TLB or paging-structure-cache entry was used to reach a frame
        /// freed since the entry was filled.
        case useAfterFree
        /// A frame was freed while another CPU may still cache it.
        case freeWhileCached
        /// A CPU ran user code before its pending flush.
        case unflushedReturn
        /// A TLB grants more than the page tables do after a call returned.
        case incoherent
        case doubleFree
        case badRefcount
        /// Counters disagree with the page tables.
        case accounting
        /// A frame or kernel object is left after every mm exited.
        case leak
        /// A lock or preemption rule was broken.
        case locking
        /// `BUG_ON()` fired.
        case bug
        /// A kind this wrapper does not know yet.
        case unknown(UInt32)

        public init(rawValue: UInt32) {
            switch rawValue {
            case UInt32(MMSIM_V_USE_AFTER_FREE.rawValue): self = .useAfterFree
            case UInt32(MMSIM_V_FREE_WHILE_CACHED.rawValue): self = .freeWhileCached
            case UInt32(MMSIM_V_UNFLUSHED_RETURN.rawValue): self = .unflushedReturn
            case UInt32(MMSIM_V_INCOHERENT.rawValue): self = .incoherent
            case UInt32(MMSIM_V_DOUBLE_FREE.rawValue): self = .doubleFree
            case UInt32(MMSIM_V_BAD_REFCOUNT.rawValue): self = .badRefcount
            case UInt32(MMSIM_V_ACCOUNTING.rawValue): self = .accounting
            case UInt32(MMSIM_V_LEAK.rawValue): self = .leak
            case UInt32(MMSIM_V_LOCKING.rawValue): self = .locking
            case UInt32(MMSIM_V_BUG.rawValue): self = .bug
            default: self = .unknown(rawValue)
            }
        }

        /// `free-while-cached`.
        public var description: String {
            switch self {
            case .useAfterFree: "use-after-free"
            case .freeWhileCached: "free-while-cached"
            case .unflushedReturn: "unflushed-return"
            case .incoherent: "incoherent"
            case .doubleFree: "double-free"
            case .badRefcount: "bad-refcount"
            case .accounting: "accounting"
            case .leak: "leak"
            case .locking: "locking"
            case .bug: "BUG"
            case .unknown(let raw): "violation-\(raw)"
            }
        }
    }

    public var kind: Kind
    /// The CPU it happened on, or nil when it is not tied to one.
    public var cpu: Int?
    /// The user address, or 0.
    public var addr: UInt64
    /// The frame, or nil.
    public var pfn: Int64?
    /// The kernel function that found it.
    public var function: String
    public var message: String

    public init(kind: Kind, cpu: Int?, addr: UInt64, pfn: Int64?, function: String, message: String) {
        self.kind = kind
        self.cpu = cpu
        self.addr = addr
        self.pfn = pfn
        self.function = function
        self.message = message
    }

    init(_ v: mmsim_violation) {
        var v = v
        kind = Kind(rawValue: v.kind)
        cpu = v.cpu < 0 ? nil : Int(v.cpu)
        addr = v.addr
        pfn = v.pfn < 0 ? nil : v.pfn
        function = withUnsafeBytes(of: &v.function) { String(fixedCString: $0) }
        message = withUnsafeBytes(of: &v.message) { String(fixedCString: $0) }
    }

    /// `free-while-cached cpu 2 addr 0x7f0000001000 pfn 17 in free_hot_cold_page: message`.
    public var description: String {
        var s = kind.description
        if let cpu { s += " cpu \(cpu)" }
        if addr != 0 { s += " addr 0x\(String(addr, radix: 16))" }
        if let pfn { s += " pfn \(pfn)" }
        if !function.isEmpty { s += " in \(function)" }
        if !message.isEmpty { s += ": \(message)" }
        return s
    }
}

extension String {
    /// Decodes a fixed-size C `char[]` field, which ends at its first NUL or
    /// at its end, whichever comes first.
    init(fixedCString bytes: UnsafeRawBufferPointer) {
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        self = String(decoding: bytes[..<end], as: UTF8.self)
    }
}
