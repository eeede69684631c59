import Foundation
import MMCall
import MMSim

/// A fuzz case as bytes, for coverage-guided fuzzers (the libFuzzer target
/// `mmfuzz-libfuzzer`): every byte string decodes to a case the engine can
/// run, and every case a reproducer holds encodes to bytes that decode back
/// to it exactly, so reproducers seed a libFuzzer corpus and a libFuzzer
/// crash input converts to a reproducer.
///
/// The format is structure-aware, as syzkaller's programs are: a mutation
/// of a byte changes one choice of one op (its kind, CPU, mm, one
/// argument), never the framing of the rest.  Missing bytes read as zero,
/// and a value out of a field's range is taken modulo the range.
///
///     variant       u8        Variant.allCombinations[b % count]
///     cpus          u8        1 + b % Machine.maxCPUs (8)
///     frames        varint    16 + v % 8177 (16 ... 8192)
///     tlb           u8        4 * (1 + b % 64)
///     psc           u8        1 + b
///     bases         u8        b % 9 address bases, each a u64 (LE)
///     op...         until the input ends (at most ``maxOps``)
///
/// An op is a tag byte, `tag % kinds.count` into ``kinds`` (a batch's ops
/// leave out `parallel`), then
///
///     call          [cpu i8 if the kind names one] [slot i8 if it names an
///                   mm; -128 is "no mm" where that is allowed] fields
///     touch         cpu i8, slot i8, addr, pages varint, value varint
///     failNthAlloc  n varint
///     parallel      count u8 (b % 33 ops), the ops, a schedule
///
/// Fields are the request's own (``Request/Kind/fields``): an address is a
/// base index u8 (`b % (bases + 1)`; the last is base 0) and a zigzag
/// varint offset from it; prot, flags and advice are varints of their
/// 32-bit patterns; lengths, values and page counts are varints.  A
/// schedule is a tag u8 (random, pct, window, replay) then its seed and
/// parameters, each taken into the range the machine accepts.
public enum ByteCase {
    /// Ops a decoded case holds at most (a touch is one, a batch one).
    public static let maxOps = 1024

    /// Op kinds by tag: ``OpKind/allCases``' order.
    static let kinds = OpKind.allCases
    /// A batch's op kinds by tag: all but `parallel`.
    static let batchKinds = OpKind.allCases.filter { $0 != .parallel }

    static let framesRange: ClosedRange<UInt64> = 16 ... 8192
    static let tlbWays = 4
    static let maxBases = 8
    /// `-128` as a slot: no mm (a kernel thread's switchMM).
    static let noSlot: Int8 = .min

    // MARK: Decoding

    /// The case `bytes` name (seed 0; every byte string names one).
    public static func decode(_ bytes: some Collection<UInt8>) -> FuzzCase {
        var r = Reader(Array(bytes))
        let all = Variant.allCombinations
        let variant = all[Int(r.byte()) % all.count]
        var config = CaseConfig(cpus: 1 + Int(r.byte()) % Machine.maxCPUs,
                                frames: Int(framesRange.lowerBound
                                    + r.varint() % UInt64(framesRange.count)))
        config.tlb = tlbWays * (1 + Int(r.byte()) % 64)
        config.psc = 1 + Int(r.byte())
        var bases: [UInt64] = []
        for _ in 0 ..< Int(r.byte()) % (maxBases + 1) {
            bases.append(r.u64())
        }
        bases.append(0)

        var ops: [Op] = []
        while !r.atEnd, ops.count < maxOps {
            ops.append(decodeOp(&r, bases: bases, kinds: kinds))
        }
        // A slot past every mm the case can have names none of them:
        // fold it into range (a reproducer's slots are already in it).
        let bound = Reproducer.slotBound(ops)
        ops = ops.map { $0.mapSlots { $0 % bound } }
        return FuzzCase(config: config, variant: variant, seed: 0, ops: ops)
    }

    static func decodeOp(_ r: inout Reader, bases: [UInt64], kinds: [OpKind]) -> Op {
        switch kinds[Int(r.byte()) % kinds.count] {
        case .call(let kind):
            let who = kind.who
            let cpu = who.namesCPU ? Int(r.int8()) : 0
            var slot: Int?
            if who.namesMM {
                let s = r.int8()
                slot = s == noSlot && who.mmOptional ? nil : Int(s)
            }
            var request = Request(abi: Request.ABI(kind: kind.number))!
            for field in kind.fields {
                request = request.with(field, field == .addr ? r.address(bases) : r.varint())
            }
            return .call(request, cpu: cpu, slot: slot)
        case .touch:
            let cpu = Int(r.int8()), slot = Int(r.int8())
            let addr = r.address(bases)
            let pages = Int(clamping: r.varint())
            return .touch(cpu: cpu, slot: slot, addr: addr, pages: pages, value: r.varint())
        case .failNthAlloc:
            return .failNthAlloc(n: r.varint())
        case .parallel:
            let count = Int(r.byte()) % (Batch.maxCalls + 1)
            var sub: [Op] = []
            for _ in 0 ..< count {
                sub.append(decodeOp(&r, bases: bases, kinds: batchKinds))
            }
            return .parallel(Batch(ops: sub, schedule: decodeSchedule(&r)))
        }
    }

    static func decodeSchedule(_ r: inout Reader) -> Scheduler {
        switch r.byte() % 4 {
        case 0:
            return .random(seed: r.varint(), switchPermille: Int(r.varint() % 1001))
        case 1:
            return .pct(seed: r.varint(), depth: 1 + Int(r.varint() % 8), steps: Int(r.varint() % 65536))
        case 2:
            return .window(seed: r.varint(), switchPermille: Int(r.varint() % 1001),
                           windowPermille: Int(r.varint() % 1001))
        default:
            var runs: [ScheduleRun] = []
            for _ in 0 ..< r.varint() % 65536 {
                runs.append(ScheduleRun(cpu: Int(r.byte()), steps: Int(r.varint() & 0xffff_ffff)))
            }
            return .replay(runs)
        }
    }

    // MARK: Encoding

    /// The bytes that decode to `fuzzCase` (its seed aside), or an error
    /// naming what the format cannot hold (a CPU or slot outside -128 ...
    /// 127, a configuration outside the decoder's ranges).
    public static func encode(_ fuzzCase: FuzzCase) throws(ByteCaseError) -> [UInt8] {
        var w = Writer()
        guard let v = Variant.allCombinations.firstIndex(of: fuzzCase.variant) else {
            throw ByteCaseError(reason: "variant \(fuzzCase.variant.name) is not one the machine runs")
        }
        let c = fuzzCase.config
        guard (1 ... Machine.maxCPUs).contains(c.cpus),
              framesRange.contains(UInt64(clamping: c.frames)),
              c.tlb % tlbWays == 0, (1 ... 64).contains(c.tlb / tlbWays),
              (1 ... 256).contains(c.psc) else {
            throw ByteCaseError(reason: "configuration \(c.summary) is outside the byte format's ranges")
        }
        guard fuzzCase.ops.count <= maxOps else {
            throw ByteCaseError(reason: "\(fuzzCase.ops.count) ops: the byte format holds \(maxOps)")
        }
        w.byte(UInt8(v))
        w.byte(UInt8(c.cpus - 1))
        w.varint(UInt64(c.frames) - framesRange.lowerBound)
        w.byte(UInt8(c.tlb / tlbWays - 1))
        w.byte(UInt8(c.psc - 1))

        w.bases = chooseBases(fuzzCase.ops)
        w.byte(UInt8(w.bases.count))
        for b in w.bases {
            w.u64(b)
        }
        w.bases.append(0)
        for op in fuzzCase.ops {
            try encodeOp(op, &w, kinds: kinds)
        }
        return w.bytes
    }

    static func encodeOp(_ op: Op, _ w: inout Writer, kinds: [OpKind]) throws(ByteCaseError) {
        guard let tag = kinds.firstIndex(of: op.kind) else {
            throw ByteCaseError(reason: "a batch inside a batch")
        }
        w.byte(UInt8(tag))
        switch op {
        case .call(let cpu, let slot, let request):
            let who = request.kind.who
            if who.namesCPU { try w.int8(cpu, "CPU") }
            if who.namesMM {
                if let slot {
                    guard slot != Int(noSlot) || !who.mmOptional else {
                        throw ByteCaseError(reason: "slot \(slot) of a \(request.kind.rawValue)")
                    }
                    try w.int8(slot, "slot")
                } else {
                    w.byte(UInt8(bitPattern: noSlot))
                }
            }
            for field in request.kind.fields {
                if field == .addr {
                    w.address(request[field])
                } else if field == .prot || field == .flags || field == .advice {
                    w.varint(request[field] & 0xffff_ffff)
                } else {
                    w.varint(request[field])
                }
            }
        case .touch(let cpu, let slot, let addr, let pages, let value):
            try w.int8(cpu, "CPU")
            try w.int8(slot, "slot")
            w.address(addr)
            guard pages >= 0 else { throw ByteCaseError(reason: "a touch of \(pages) pages") }
            w.varint(UInt64(pages))
            w.varint(value)
        case .failNthAlloc(let n):
            w.varint(n)
        case .parallel(let batch):
            guard batch.ops.count <= Batch.maxCalls else {
                throw ByteCaseError(reason: "a batch of \(batch.ops.count) ops: the format holds \(Batch.maxCalls)")
            }
            w.byte(UInt8(batch.ops.count))
            for sub in batch.ops {
                try encodeOp(sub, &w, kinds: batchKinds)
            }
            try encodeSchedule(batch.schedule, &w)
        }
    }

    static func encodeSchedule(_ s: Scheduler, _ w: inout Writer) throws(ByteCaseError) {
        func bounded(_ v: Int, _ limit: Int, _ what: String) throws(ByteCaseError) -> UInt64 {
            guard (0 ..< limit).contains(v) else {
                throw ByteCaseError(reason: "schedule \(s.summary): \(what) \(v) is out of range")
            }
            return UInt64(v)
        }
        switch s {
        case .random(let seed, let permille):
            w.byte(0)
            w.varint(seed)
            w.varint(try bounded(permille, 1001, "permille"))
        case .pct(let seed, let depth, let steps):
            w.byte(1)
            w.varint(seed)
            w.varint(try bounded(depth - 1, 8, "depth - 1"))
            w.varint(try bounded(steps, 65536, "steps"))
        case .window(let seed, let permille, let window):
            w.byte(2)
            w.varint(seed)
            w.varint(try bounded(permille, 1001, "permille"))
            w.varint(try bounded(window, 1001, "window permille"))
        case .replay(let runs):
            w.byte(3)
            w.varint(try bounded(runs.count, 65536, "runs"))
            for run in runs {
                w.byte(UInt8(try bounded(run.cpu, 256, "cpu")))
                w.varint(try bounded(run.steps, 1 << 32, "steps"))
            }
        }
    }

    /// Address bases for `ops`: the 2 MiB boundary below each address no
    /// earlier base is within 2^20 bytes of, at most ``maxBases``
    /// (addresses past them are written from base 0).
    static func chooseBases(_ ops: [Op]) -> [UInt64] {
        var bases: [UInt64] = []
        func visit(_ op: Op) {
            var addr: UInt64?
            switch op {
            case .call(_, _, let r) where r.kind.fields.contains(.addr): addr = r[.addr]
            case .touch(_, _, let a, _, _): addr = a
            case .parallel(let b): b.ops.forEach(visit)
            default: break
            }
            guard let a = addr, bases.count < maxBases,
                  !bases.contains(where: { (a &- $0) < 1 << 20 || ($0 &- a) < 1 << 20 }) else { return }
            bases.append(a & ~((1 << 21) - 1))
        }
        ops.forEach(visit)
        return bases
    }

    // MARK: Bytes

    struct Reader {
        let bytes: [UInt8]
        var at = 0

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        var atEnd: Bool { at >= bytes.count }

        mutating func byte() -> UInt8 {
            guard at < bytes.count else { return 0 }
            defer { at += 1 }
            return bytes[at]
        }

        mutating func int8() -> Int8 { Int8(bitPattern: byte()) }

        mutating func u64() -> UInt64 {
            (0 ..< 8).reduce(UInt64(0)) { v, i in v | UInt64(byte()) << (8 * i) }
        }

        /// LEB128, at most 10 bytes (bits past 64 are dropped).
        mutating func varint() -> UInt64 {
            var v: UInt64 = 0
            for shift in stride(from: UInt64(0), to: 70, by: 7) {
                let b = byte()
                v |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { break }
            }
            return v
        }

        mutating func address(_ bases: [UInt64]) -> UInt64 {
            let base = bases[Int(byte()) % bases.count]
            let z = varint()
            let offset = Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
            return base &+ UInt64(bitPattern: offset)
        }
    }

    struct Writer {
        var bytes: [UInt8] = []
        var bases: [UInt64] = []

        mutating func byte(_ b: UInt8) { bytes.append(b) }

        mutating func int8(_ v: Int, _ what: String) throws(ByteCaseError) {
            guard let b = Int8(exactly: v) else {
                throw ByteCaseError(reason: "\(what) \(v) is outside -128 ... 127")
            }
            byte(UInt8(bitPattern: b))
        }

        mutating func u64(_ v: UInt64) {
            for i in 0 ..< 8 { byte(UInt8(truncatingIfNeeded: v >> (8 * i))) }
        }

        mutating func varint(_ value: UInt64) {
            var v = value
            while v >= 0x80 {
                byte(UInt8(v & 0x7f) | 0x80)
                v >>= 7
            }
            byte(UInt8(v))
        }

        /// From the base that makes the shortest offset.
        mutating func address(_ a: UInt64) {
            func zigzag(_ base: UInt64) -> UInt64 {
                let d = Int64(bitPattern: a &- base)
                return UInt64(bitPattern: (d << 1) ^ (d >> 63))
            }
            let best = bases.indices.min { zigzag(bases[$0]) < zigzag(bases[$1]) }!
            byte(UInt8(best))
            varint(zigzag(bases[best]))
        }
    }
}

/// Why a case has no byte form.
public struct ByteCaseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

extension ByteCase {
    /// The case an input file holds (a libFuzzer crash or corpus file).
    public static func load(path: String) throws(ReproducerError) -> FuzzCase {
        decode(try Reproducer.contents(of: path))
    }

    /// Every file of a libFuzzer corpus directory, by name, as reproducers
    /// without a recorded failure (hidden files skipped).
    public static func entries(directory: String) throws(ReproducerError)
        -> [(name: String, reproducer: Reproducer)] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw ReproducerError(reason: "cannot list \(directory): \((error as NSError).localizedDescription)")
        }
        var out: [(String, Reproducer)] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(name)
            out.append((name, Reproducer(fuzzCase: try load(path: path), failure: nil)))
        }
        return out
    }
}
