import MMSim

/// One short name per variant, used wherever a variant is shown (tables,
/// JSON, progress lines, reproducers' display): `GATHER/PTL/PREEMPT`, as
/// `vector/mm/nopreempt` or `inplace/split/preempt`.  Files keep the spec
/// (``Variant/description``), which reads back with ``Variant/init(parsing:)``.
extension Variant {
    public var name: String {
        "\(gather.rawValue)/\(ptl.rawValue)/\(preempt ? "preempt" : "nopreempt")"
    }

    /// Parses a short name; nil when `name` is not one.
    public init?(name: String) {
        let parts = name.lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, let g = Gather(rawValue: String(parts[0])),
              let p = PTL(rawValue: String(parts[1])) else { return nil }
        switch parts[2] {
        case "preempt": self.init(gather: g, ptl: p, preempt: true)
        case "nopreempt": self.init(gather: g, ptl: p, preempt: false)
        default: return nil
        }
    }
}
