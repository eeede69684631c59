import Foundation
import MMSim

/// One line a worker process of `mmfuzz run --jobs N` writes on its
/// standard output for the run that started it: a JSON object with one
/// member set, on one line.
///
/// A worker writes `progress` about once a second, `found` as soon as it
/// finds a failure (before shrinking it, so that the run can stop the
/// others at once), and `summary` last, its failures with their cases in
/// full (``FoundFailure``'s coding); then it exits.
public struct WorkerReport: Codable, Sendable {
    /// The worker's figures so far.
    public var progress: SessionProgress?
    /// A failure was just found.
    public var found: Bool?
    /// The worker's session, done.
    public var summary: SessionSummary?

    public static func progress(_ p: SessionProgress) -> WorkerReport {
        WorkerReport(progress: p)
    }

    public static let found = WorkerReport(found: true)

    public static func summary(_ s: SessionSummary) -> WorkerReport {
        WorkerReport(summary: s)
    }

    /// The report as one line of JSON, newline included.
    public func line() throws -> Data {
        var data = try JSONEncoder().encode(self)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Reads what ``line()`` wrote (without its newline).
    public static func parse<Bytes: DataProtocol>(_ line: Bytes) throws -> WorkerReport {
        try JSONDecoder().decode(WorkerReport.self, from: Data(line))
    }
}

/// A failure as a worker reports it: its cases as reproducers' text (the
/// format `mmfuzz replay` reads, so a case crosses the pipe as exactly as
/// it reaches a file), the rest as they are.
extension FoundFailure: Codable {
    private enum CodingKeys: String, CodingKey {
        case variant, original, originalFailure, shrunk, failure, secondsToFind, shrinkRuns, caseIndex
        case worker, workerSeed, corpusFile
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(variant, forKey: .variant)
        try c.encode(Reproducer(fuzzCase: original, failure: nil).encoded(), forKey: .original)
        try c.encode(originalFailure, forKey: .originalFailure)
        try c.encode(Reproducer(fuzzCase: shrunk, failure: nil).encoded(), forKey: .shrunk)
        try c.encode(failure, forKey: .failure)
        try c.encode(secondsToFind, forKey: .secondsToFind)
        try c.encode(shrinkRuns, forKey: .shrinkRuns)
        try c.encode(caseIndex, forKey: .caseIndex)
        try c.encode(worker, forKey: .worker)
        try c.encode(workerSeed, forKey: .workerSeed)
        try c.encodeIfPresent(corpusFile, forKey: .corpusFile)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func fuzzCase(_ key: CodingKeys) throws -> FuzzCase {
            let text = try c.decode(String.self, forKey: key)
            do {
                return try Reproducer.decode(Data(text.utf8)).fuzzCase()
            } catch {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: error.reason)
            }
        }
        self.init(variant: try c.decode(Variant.self, forKey: .variant),
                  original: try fuzzCase(.original),
                  originalFailure: try c.decode(Failure.self, forKey: .originalFailure),
                  shrunk: try fuzzCase(.shrunk),
                  failure: try c.decode(Failure.self, forKey: .failure),
                  secondsToFind: try c.decode(Double.self, forKey: .secondsToFind),
                  shrinkRuns: try c.decode(Int.self, forKey: .shrinkRuns),
                  caseIndex: try c.decode(Int.self, forKey: .caseIndex),
                  worker: try c.decode(Int.self, forKey: .worker),
                  workerSeed: try c.decode(UInt64.self, forKey: .workerSeed),
                  corpusFile: try c.decodeIfPresent(String.self, forKey: .corpusFile))
    }
}
