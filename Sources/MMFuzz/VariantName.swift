import MMSim

/// One short name per variant, used wherever a variant is shown (tables,
/// JSON, progress lines, reproducers' display): `GATHER/PTL/PREEMPT`, as
/// `vector/mm/nopreempt` or `inplace/split/preempt`, with `/share` or
/// `/share-precise` after it when fork shares pte tables
/// (`inplace/split/preempt/share-precise`).  Files keep the spec
/// (``Variant/description``), which reads back with ``Variant/init(parsing:)``.
extension Variant {
    public var name: String {
        var s = "\(gather.rawValue)/\(ptl.rawValue)/\(preempt ? "preempt" : "nopreempt")"
        if sharesTables {
            s += "/" + (share == .fork ? "share" : "noshare") + (sharemask == .precise ? "-precise" : "")
        }
        return s
    }

    /// Parses a short name; nil when `name` is not one, or names a
    /// combination the kernel cannot run (`/share` without `split`).
    public init?(name: String) {
        let parts = name.lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3 || parts.count == 4, let g = Gather(rawValue: String(parts[0])),
              let p = PTL(rawValue: String(parts[1])) else { return nil }
        let preempt: Bool
        switch parts[2] {
        case "preempt": preempt = true
        case "nopreempt": preempt = false
        default: return nil
        }
        var share = Share.off, mask = ShareMask.all
        if parts.count == 4 {
            switch parts[3] {
            case "share": share = .fork
            case "share-precise": (share, mask) = (.fork, .precise)
            default: return nil
            }
        }
        self.init(gather: g, ptl: p, preempt: preempt, share: share, sharemask: mask)
        if incoherence != nil { return nil }
    }
}
