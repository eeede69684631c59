import Foundation
import MMSim

/// Reproducers of trace replays: an excerpt of the trace itself, the last
/// lines before the failure, in the trace's own format with a `#` header.
///
/// An excerpt starts in the middle of the workload, so the replay of one
/// is lenient where the cut shows: tasks first seen get a new mm (as
/// always), their earlier mappings are made up as synthetic pages (as
/// always), and a system call exit whose enter was cut off is skipped
/// instead of being an input error.  Whether the excerpt really fails
/// again is checked before it is written: the shortest of 300, 1000 and
/// ``TraceReplayOptions/reproducerLines`` lines that fails with the same
/// kind is kept (the longest is kept, marked as not replaying, when none
/// does).  Replay one with `mmfuzz trace FILE --variant SPEC`.
public enum TraceExcerpt {
    /// The first line of every excerpt.
    public static let marker = "# mmfuzz trace excerpt"

    static func save(ring: LineRing, failure: TraceFailure, source: TraceSource, variant: Variant,
                     options: TraceReplayOptions, directory: String) -> (path: String?, replays: Bool?) {
        var sizes = [300, 1000, options.reproducerLines].filter { $0 <= options.reproducerLines }
        sizes = Array(Set(sizes)).sorted()
        var chosen: [UInt8]?
        var replays = false
        for n in sizes {
            let bytes = excerpt(ring.last(n), failure: failure, source: source, variant: variant,
                                hugePages: options.hugePages != .off)
            var again = options
            again.saveDirectory = nil
            if let result = try? TraceReplayer.replay(.bytes(bytes), variant: variant, options: again),
               let f = result.failure, f.kind == failure.kind {
                chosen = bytes
                replays = true
                break
            }
            chosen = bytes
        }
        guard let bytes = chosen else { return (nil, nil) }
        let compact = variant.name.replacingOccurrences(of: "/", with: "-")
            + (options.hugePages != .off ? "-thp" : "")
        let name = "trace-\(compact)-line\(failure.line.map(String.init) ?? "end").perfscript"
        let path = (directory as NSString).appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            return (nil, nil)
        }
        return (path, replays)
    }

    static func excerpt(_ lines: [(Int, [UInt8])], failure: TraceFailure, source: TraceSource,
                        variant: Variant, hugePages: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        func put(_ s: String) { out.append(contentsOf: s.utf8); out.append(0x0A) }
        put(marker)
        if let first = lines.first?.0, let last = lines.last?.0 {
            put("# lines \(first)-\(last) of \(source.name)")
        }
        put("# variant: \(variant.name)\(hugePages ? ", huge pages (--huge)" : "")")
        put("# failure: \(failure.description.replacingOccurrences(of: "\n", with: " "))")
        put("# replay: mmfuzz trace THIS-FILE --variant \(variant.name)\(hugePages ? " --huge" : "")")
        for (_, line) in lines where !line.starts(with: marker.utf8) {
            if line.first == UInt8(ascii: "#") { continue }
            out.append(contentsOf: line)
            out.append(0x0A)
        }
        return out
    }
}
