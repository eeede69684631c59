import CMMSim

/// The machine's counters.  The list of them is C's (`MMSIM_COUNTERS()` in
/// `mmsim.h`): names, kinds and descriptions are read from it at run time,
/// so a counter added there appears here, in the JSON and in every table
/// with no Swift change.
///
/// Read a counter by its C name (`stats["ipis_lazy"]`) or, in Swift
/// spelling, as a member (`stats.ipisLazy`).  A name the C list does not
/// have stops the program with its name, never reads as 0.
@dynamicMemberLookup
public struct Stats: Hashable, Sendable {
    /// What a counter is, from `struct mmsim_counter_info`.
    public struct Counter: Hashable, Sendable {
        /// How a counter moves.
        public enum Kind: Hashable, Sendable {
            /// Counts up from 0 (summed over runs).
            case event
            /// The highest value seen (the maximum over runs).
            case peak
            /// An amount held now.
            case gauge
        }

        /// Index in the C list (`MMSIM_CTR_<name>`).
        public let index: Int
        /// The C name, e.g. `ipis_lazy`; also the JSON key.
        public let name: String
        /// The Swift member name, e.g. `ipisLazy`.
        public let memberName: String
        public let kind: Kind
        /// One line, for tables.
        public let description: String
    }

    /// Every counter, in the C list's order.
    public static let all: [Counter] = {
        (0..<Int(MMSIM_NR_COUNTERS)).map { i in
            var info = mmsim_counter_info()
            let rc = mmsim_counter_info(UInt32(i), &info)
            precondition(rc == 0, "mmsim_counter_info(\(i)) failed: \(rc)")
            let name = String(cString: info.name)
            let kind: Counter.Kind
            switch info.kind {
            case UInt32(MMSIM_COUNTER_EVENT.rawValue): kind = .event
            case UInt32(MMSIM_COUNTER_PEAK.rawValue): kind = .peak
            case UInt32(MMSIM_COUNTER_GAUGE.rawValue): kind = .gauge
            default: preconditionFailure("counter \(name): unknown kind \(info.kind)")
            }
            return Counter(index: i, name: name, memberName: Self.memberName(name), kind: kind,
                           description: String(cString: info.description))
        }
    }()

    /// Index by C name and by Swift member name.
    private static let indexByName: [String: Int] = {
        var d: [String: Int] = [:]
        for c in all {
            d[c.name] = c.index
            d[c.memberName] = c.index
        }
        return d
    }()

    /// `ipis_lazy` -> `ipisLazy`.
    static func memberName(_ cName: String) -> String {
        let parts = cName.split(separator: "_")
        guard let first = parts.first else { return cName }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// The counter named `name` (C or Swift spelling), or nil.
    public static func counter(named name: String) -> Counter? {
        indexByName[name].map { all[$0] }
    }

    /// The values, by index in ``all``.
    public private(set) var values: [UInt64]

    /// Every counter 0.
    public init() {
        values = Array(repeating: 0, count: Self.all.count)
    }

    init(machine: OpaquePointer) {
        var v = [UInt64](repeating: 0, count: Self.all.count)
        let n = v.withUnsafeMutableBufferPointer {
            mmsim_get_counters(machine, $0.baseAddress, UInt32($0.count))
        }
        precondition(Int(n) == v.count, "mmsim_get_counters returned \(n), expected \(v.count)")
        values = v
    }

    private static func index(_ name: String) -> Int {
        guard let i = indexByName[name] else {
            preconditionFailure("Stats: no counter named \"\(name)\" in MMSIM_COUNTERS()")
        }
        return i
    }

    /// A counter by C name (`"ipis_lazy"`) or Swift name (`"ipisLazy"`).
    public subscript(name: String) -> UInt64 {
        get { values[Self.index(name)] }
        set { values[Self.index(name)] = newValue }
    }

    public subscript(counter: Counter) -> UInt64 {
        get { values[counter.index] }
        set { values[counter.index] = newValue }
    }

    /// `stats.ipisLazy`: the counter `ipis_lazy`.
    public subscript(dynamicMember name: String) -> UInt64 {
        get { self[name] }
        set { self[name] = newValue }
    }

    /// Every counter under its C name, in the list's order.
    public var counters: [(name: String, value: UInt64)] {
        Self.all.map { ($0.name, values[$0.index]) }
    }

    /// Folds `other` (another run's final counters) into these: events
    /// add, peaks and gauges keep the larger.
    public mutating func accumulate(_ other: Stats) {
        for c in Self.all {
            switch c.kind {
            case .event: values[c.index] &+= other.values[c.index]
            case .peak, .gauge: values[c.index] = max(values[c.index], other.values[c.index])
            }
        }
    }
}

extension Stats: Codable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Typed errors of decoding: a key that names no counter.
    public struct UnknownCounter: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "no counter named \"\(name)\"" }
    }

    /// `{"tlb_hits": N, ...}`, every counter under its C name.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for counter in Self.all {
            try c.encode(values[counter.index], forKey: Key(stringValue: counter.name))
        }
    }

    /// Reads what ``encode(to:)`` wrote.  A counter missing reads as 0 (a
    /// file from before it was added); a key naming no counter is an error.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        self.init()
        for key in c.allKeys {
            guard let counter = Self.counter(named: key.stringValue), counter.name == key.stringValue else {
                throw UnknownCounter(name: key.stringValue)
            }
            values[counter.index] = try c.decode(UInt64.self, forKey: key)
        }
    }
}
