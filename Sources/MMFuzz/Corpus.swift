import Foundation

/// A directory of cases that persists between runs (`mmfuzz run --corpus
/// DIR`), as Hypothesis's example database and libFuzzer's corpus and
/// crash files: every failure a run finds is saved there, shrunk, as a
/// ``Reproducer`` named by its content (`crash-<hash>.json`, so the same
/// case is saved once), and the next run replays every case there before
/// it generates new ones (``ParallelSession``).  `mmfuzz replay DIR`
/// replays them all.
public struct Corpus: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The reproducers in the directory (`*.json`), by file name; one that
    /// cannot be read is an error (a corpus is the tool's own writing).
    public func entries() throws(ReproducerError) -> [(name: String, reproducer: Reproducer)] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            // A corpus not made yet is an empty one.
            if !FileManager.default.fileExists(atPath: directory) { return [] }
            throw ReproducerError(reason: "cannot list \(directory): \((error as NSError).localizedDescription)")
        }
        var out: [(String, Reproducer)] = []
        for name in names.filter({ $0.hasSuffix(".json") }).sorted() {
            out.append((name, try Reproducer.load(path: (directory as NSString).appendingPathComponent(name))))
        }
        return out
    }

    /// Saves `fuzzCase` (with the failure it makes) under its content
    /// hash with `prefix`; returns the file's path.  The same case saved
    /// again overwrites its file: the directory never holds it twice.
    @discardableResult
    public func add(_ fuzzCase: FuzzCase, failure: Failure?, prefix: String = "crash") throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("\(prefix)-\(Self.contentHash(fuzzCase)).json")
        try Reproducer(fuzzCase: fuzzCase, failure: failure).write(path: path)
        return path
    }

    /// A hash of what makes the case (its configuration, variant and ops
    /// as a reproducer writes them, not its seed or failure): 64-bit
    /// FNV-1a, 16 hex digits.
    public static func contentHash(_ fuzzCase: FuzzCase) -> String {
        var c = fuzzCase
        c.seed = 0
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in Reproducer(fuzzCase: c, failure: nil).encoded().utf8 {
            h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
