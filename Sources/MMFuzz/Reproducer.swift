import Foundation
import MMSim

/// A saved case: everything `mmfuzz replay` needs to run it again exactly,
/// and the failure it produced when it was saved.
///
/// On disk it is pretty-printed JSON with its keys in a fixed order and
/// one op per line:
///
/// ```json
/// {
///   "version": 2,
///   "config": {"cpus": 4, "frames": 4096, "tlb": 64, "psc": 16},
///   "variant": "gather=vector,ptl=mm,preempt=on",
///   "seed": 12345,
///   "failure": {"kind": "violation:free-while-cached", "message": "..."},
///   "ops": [
///     {"op": "newMM"},
///     {"op": "mmap", "cpu": 0, "mm": 0, "addr": "0x40000000", ...},
///     ...
///   ]
/// }
/// ```
///
/// Format versions: 2 is written; it has version 1's layout and marks a
/// file whose variant is never empty and whose ops keep the slot rule
/// (see ``validate()``), which reading checks in either version (every
/// version-1 file the repository keeps passes).  A file without `version`
/// is version 1; a later one is refused.
public struct Reproducer: Hashable, Sendable, Codable {
    public static let currentVersion = 2
    /// The format versions this code reads.
    public static let readableVersions: ClosedRange<Int> = 1 ... 2

    public var version: Int
    public var config: CaseConfig
    /// The variant's spec, as `--variant` takes it.
    public var variant: String
    public var seed: UInt64
    public var ops: [Op]
    public var failure: RecordedFailure?

    /// The failure a reproducer was saved with.
    public struct RecordedFailure: Hashable, Sendable, Codable {
        public var kind: String
        public var message: String

        public init(kind: String, message: String) {
            self.kind = kind
            self.message = message
        }
    }

    public init(fuzzCase: FuzzCase, failure: Failure?) {
        version = Self.currentVersion
        config = fuzzCase.config
        variant = fuzzCase.variant.description
        seed = fuzzCase.seed
        ops = fuzzCase.ops
        self.failure = failure.map { RecordedFailure(kind: $0.kind, message: $0.message) }
    }

    private enum CodingKeys: String, CodingKey {
        case version, config, variant, seed, ops, failure
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 1
        config = try c.decode(CaseConfig.self, forKey: .config)
        variant = try c.decode(String.self, forKey: .variant)
        do {
            seed = try c.decode(UInt64.self, forKey: .seed)
        } catch {
            let shown = (try? c.decode(Decimal.self, forKey: .seed)).map { "\($0)" }
                ?? (try? c.decode(String.self, forKey: .seed)).map { "\"\($0)\"" }
                ?? "that value"
            throw DecodingError.dataCorruptedError(
                forKey: .seed, in: c,
                debugDescription: "the seed must be a whole number from 0 to \(UInt64.max), not \(shown)")
        }
        ops = try c.decode([Op].self, forKey: .ops)
        failure = try c.decodeIfPresent(RecordedFailure.self, forKey: .failure)
    }

    /// The case to run.
    public func fuzzCase() throws(ReproducerError) -> FuzzCase {
        let v: Variant
        do {
            v = try Variant(parsing: variant)
        } catch {
            throw ReproducerError(reason: "bad variant: \(error)")
        }
        return FuzzCase(config: config, variant: v, seed: seed, ops: ops)
    }

    /// Checks what decoding alone cannot: the variant parses, and every
    /// op's `mm` slot can name an mm of the case.
    ///
    /// A slot `s >= 0` means the `s`th live mm, taken modulo the live
    /// ones (see ``Op``).  Generated and shrunk cases keep slots below
    /// ``Op/aliasingSlots`` or the number of mms the case creates (its
    /// newMM, fork and exec ops, a batch's forks included), whichever is
    /// larger; a slot past both names no mm of the case (a typo or an
    /// edit), which would otherwise replay on whichever mm the modulo
    /// picks.  Negative slots (an id nobody uses) are always valid.
    public func validate() throws(ReproducerError) {
        _ = try fuzzCase()
        let mms = Self.mmsCreated(ops)
        let bound = Self.slotBound(ops)
        for (index, op) in ops.enumerated() {
            for slot in op.slots where slot >= bound {
                throw ReproducerError(
                    reason: "op \(index) (\(op.kind.rawValue)) names mm \(slot), which is no mm of the case: "
                        + "it creates \(mms) mm\(mms == 1 ? "" : "s"), and slots from 0 to \(bound - 1) "
                        + "name one (modulo the live ones); a negative slot names an mm nobody uses")
            }
        }
    }

    /// The mms `ops` create: their newMM, fork and exec ops, a batch's
    /// forks included.
    static func mmsCreated(_ ops: [Op]) -> Int {
        func creates(_ op: Op) -> Bool {
            switch op.request?.kind.lifetime {
            case .creates, .replaces: true
            default: false
            }
        }
        return ops.reduce(0) { n, op in
            if case .parallel(let b) = op { return n + b.ops.filter(creates).count }
            return n + (creates(op) ? 1 : 0)
        }
    }

    /// Slots of `ops` name an mm of the case below this (see ``validate()``).
    static func slotBound(_ ops: [Op]) -> Int {
        max(mmsCreated(ops), Op.aliasingSlots)
    }

    // MARK: Files

    /// Decodes a reproducer, checking its version.
    public static func decode(_ data: Data) throws(ReproducerError) -> Reproducer {
        let r: Reproducer
        do {
            r = try JSONDecoder().decode(Reproducer.self, from: data)
        } catch let error as DecodingError {
            throw ReproducerError(reason: "not a reproducer: \(Self.explain(error))")
        } catch {
            throw ReproducerError(reason: "not a reproducer: \(error.localizedDescription)")
        }
        guard readableVersions.contains(r.version) else {
            throw ReproducerError(
                reason: "unsupported version \(r.version) (this mmfuzz reads versions "
                    + "\(readableVersions.lowerBound) to \(readableVersions.upperBound))")
        }
        try r.validate()
        return r
    }

    /// Loads a reproducer file.
    public static func load(path: String) throws(ReproducerError) -> Reproducer {
        let data = try contents(of: path)
        do {
            return try decode(data)
        } catch {
            throw ReproducerError(reason: "\(path): \(error.reason)")
        }
    }

    /// A file's bytes, or why it cannot be read (missing, a directory).
    static func contents(of path: String) throws(ReproducerError) -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReproducerError(reason: "cannot read \(path): no such file")
        }
        guard !isDirectory.boolValue else {
            throw ReproducerError(reason: "cannot read \(path): it is a directory")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ReproducerError(reason: "cannot read \(path): \((error as NSError).localizedDescription)")
        }
    }

    /// Writes the reproducer to `path`.
    public func write(path: String) throws {
        try Data(encoded().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The file's text.
    public func encoded() -> String {
        var s = "{\n"
        s += "  \"version\": \(version),\n"
        s += "  \"config\": {\"cpus\": \(config.cpus), \"frames\": \(config.frames), \"tlb\": \(config.tlb), \"psc\": \(config.psc)},\n"
        s += "  \"variant\": \(jsonString(variant)),\n"
        s += "  \"seed\": \(seed),\n"
        if let failure {
            s += "  \"failure\": {\"kind\": \(jsonString(failure.kind)), \"message\": \(jsonString(failure.message))},\n"
        }
        s += "  \"ops\": ["
        for (i, op) in ops.enumerated() {
            s += (i == 0 ? "\n" : ",\n") + "    " + op.jsonLine
        }
        s += ops.isEmpty ? "]\n" : "\n  ]\n"
        s += "}\n"
        return s
    }

    private static func explain(_ error: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "" : " at \(p)"
        }
        switch error {
        case .dataCorrupted(let c):
            // With a coding path the JSON parsed: a value is wrong (a
            // seed past 64 bits, a negative seed); without, it did not.
            if c.codingPath.isEmpty {
                let why = c.underlyingError.map { ($0 as NSError).localizedDescription } ?? c.debugDescription
                return "invalid JSON (\(why))"
            }
            return "bad value" + path(c) + ": " + c.debugDescription
        case .keyNotFound(let key, let c):
            return "missing key '\(key.stringValue)'" + path(c)
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            return c.debugDescription + path(c)
        @unknown default:
            return "\(error)"
        }
    }
}

/// A reproducer that cannot be used.
public struct ReproducerError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// `"text"` with JSON escapes.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

extension Op {
    /// The op as one line of JSON, keys in a fixed order (`op` first).
    var jsonLine: String {
        var fields: [(String, String)] = [("op", jsonString(kind.rawValue))]
        func cpu(_ c: Int) { fields.append(("cpu", "\(c)")) }
        func mm(_ s: Int) { fields.append(("mm", "\(s)")) }
        func word(_ key: String, _ v: UInt64) { fields.append((key, jsonString(hex(v)))) }
        switch self {
        case .call(let c, let s, let r):
            let who = r.kind.who
            if who.namesCPU { cpu(c) }
            if who.namesMM, let s { mm(s) }
            fields += r.jsonFields.map { ($0.key, $0.value) }
        case .touch(let c, let s, let a, let n, let v):
            cpu(c); mm(s); word("addr", a)
            fields.append(("pages", "\(n)"))
            word("value", v)
        case .failNthAlloc(let n):
            fields.append(("n", "\(n)"))
        case .parallel(let b):
            fields.append(("schedule", b.schedule.jsonLine))
            fields.append(("ops", "[" + b.ops.map(\.jsonLine).joined(separator: ", ") + "]"))
        }
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}
