import MMModel
import MMSim

/// One step of a fuzz case.
///
/// Mms are named by *slot*, not by id: a slot `s >= 0` means
/// `live[s % live.count]`, where `live` is the engine's list of mms that
/// have users, in creation order; an op with such a slot is skipped (and not
/// counted) while no mm is live.  So removing ops while shrinking keeps the
/// rest meaningful.  A negative slot names an mm id that is not alive (a
/// dead one or one never handed out): a bad call the kernel must refuse.
///
/// CPUs are passed to the machine as they are, so a CPU out of range is a
/// bad call too.
public enum Op: Hashable, Sendable {
    case newMM
    case fork(cpu: Int, slot: Int)
    case mmGet(slot: Int)
    case exit(cpu: Int, slot: Int)
    case exec(cpu: Int, slot: Int)
    case mmap(cpu: Int, slot: Int, addr: UInt64, length: UInt64, prot: Int32, flags: Int32)
    case munmap(cpu: Int, slot: Int, addr: UInt64, length: UInt64)
    case mprotect(cpu: Int, slot: Int, addr: UInt64, length: UInt64, prot: Int32)
    case madvise(cpu: Int, slot: Int, addr: UInt64, length: UInt64, advice: Int32)
    /// Run the mm of `slot` on `cpu`, or a kernel thread (lazy TLB) when
    /// `slot` is nil.
    case switchMM(cpu: Int, slot: Int?)
    case load(cpu: Int, slot: Int, addr: UInt64)
    case store(cpu: Int, slot: Int, addr: UInt64, value: UInt64)
    /// Stores `value + i` at the start of each of `pages` pages from
    /// `addr`: one checked store per page, to populate large ranges (a
    /// gather vector holds 506 pages).
    case touch(cpu: Int, slot: Int, addr: UInt64, pages: Int, value: UInt64)
    /// Arms `machine.failNthAllocation(n)`: the `n`th allocation from now
    /// fails, once.
    case failNthAlloc(n: UInt64)
    /// Ops on several CPUs at once (the concurrent regime).
    case parallel(Batch)

    /// The op's kind.
    public var kind: OpKind {
        switch self {
        case .newMM: .newMM
        case .fork: .fork
        case .mmGet: .mmGet
        case .exit: .exit
        case .exec: .exec
        case .mmap: .mmap
        case .munmap: .munmap
        case .mprotect: .mprotect
        case .madvise: .madvise
        case .switchMM: .switchMM
        case .load: .load
        case .store: .store
        case .touch: .touch
        case .failNthAlloc: .failNthAlloc
        case .parallel: .parallel
        }
    }

    /// The CPU the op runs on, if it names one.
    public var cpu: Int? {
        switch self {
        case .newMM, .mmGet, .failNthAlloc, .parallel: nil
        case .fork(let c, _), .exit(let c, _), .exec(let c, _): c
        case .mmap(let c, _, _, _, _, _), .munmap(let c, _, _, _),
             .mprotect(let c, _, _, _, _), .madvise(let c, _, _, _, _): c
        case .switchMM(let c, _), .load(let c, _, _), .store(let c, _, _, _),
             .touch(let c, _, _, _, _): c
        }
    }

    /// The slot the op names, if any (nil for a kernel-thread switch).
    public var slot: Int? {
        switch self {
        case .newMM, .failNthAlloc, .parallel: nil
        case .fork(_, let s), .mmGet(let s), .exit(_, let s), .exec(_, let s): s
        case .mmap(_, let s, _, _, _, _), .munmap(_, let s, _, _),
             .mprotect(_, let s, _, _, _), .madvise(_, let s, _, _, _): s
        case .switchMM(_, let s): s
        case .load(_, let s, _), .store(_, let s, _, _), .touch(_, let s, _, _, _): s
        }
    }

    /// The same op naming another slot (unchanged when it names none).
    public func with(slot new: Int) -> Op {
        switch self {
        case .newMM, .failNthAlloc, .switchMM(_, nil), .parallel: self
        case .fork(let c, _): .fork(cpu: c, slot: new)
        case .mmGet: .mmGet(slot: new)
        case .exit(let c, _): .exit(cpu: c, slot: new)
        case .exec(let c, _): .exec(cpu: c, slot: new)
        case .mmap(let c, _, let a, let l, let p, let f):
            .mmap(cpu: c, slot: new, addr: a, length: l, prot: p, flags: f)
        case .munmap(let c, _, let a, let l): .munmap(cpu: c, slot: new, addr: a, length: l)
        case .mprotect(let c, _, let a, let l, let p):
            .mprotect(cpu: c, slot: new, addr: a, length: l, prot: p)
        case .madvise(let c, _, let a, let l, let adv):
            .madvise(cpu: c, slot: new, addr: a, length: l, advice: adv)
        case .switchMM(let c, _): .switchMM(cpu: c, slot: new)
        case .load(let c, _, let a): .load(cpu: c, slot: new, addr: a)
        case .store(let c, _, let a, let v): .store(cpu: c, slot: new, addr: a, value: v)
        case .touch(let c, _, let a, let n, let v):
            .touch(cpu: c, slot: new, addr: a, pages: n, value: v)
        }
    }

    /// The same op on another CPU (unchanged when it names none).
    public func with(cpu new: Int) -> Op {
        switch self {
        case .newMM, .mmGet, .failNthAlloc, .parallel: self
        case .fork(_, let s): .fork(cpu: new, slot: s)
        case .exit(_, let s): .exit(cpu: new, slot: s)
        case .exec(_, let s): .exec(cpu: new, slot: s)
        case .mmap(_, let s, let a, let l, let p, let f):
            .mmap(cpu: new, slot: s, addr: a, length: l, prot: p, flags: f)
        case .munmap(_, let s, let a, let l): .munmap(cpu: new, slot: s, addr: a, length: l)
        case .mprotect(_, let s, let a, let l, let p):
            .mprotect(cpu: new, slot: s, addr: a, length: l, prot: p)
        case .madvise(_, let s, let a, let l, let adv):
            .madvise(cpu: new, slot: s, addr: a, length: l, advice: adv)
        case .switchMM(_, let s): .switchMM(cpu: new, slot: s)
        case .load(_, let s, let a): .load(cpu: new, slot: s, addr: a)
        case .store(_, let s, let a, let v): .store(cpu: new, slot: s, addr: a, value: v)
        case .touch(_, let s, let a, let n, let v):
            .touch(cpu: new, slot: s, addr: a, pages: n, value: v)
        }
    }
}

/// The kinds of ``Op``, for weights and swarm testing.
public enum OpKind: String, CaseIterable, Hashable, Sendable, Codable {
    case newMM, fork, mmGet, exit, exec, mmap, munmap, mprotect, madvise
    case switchMM, load, store, touch, failNthAlloc, parallel
}

extension Op {
    /// The op with every CPU it names (a batch's included) mapped by `f`.
    public func mapCPUs(_ f: (Int) -> Int) -> Op {
        if case .parallel(var batch) = self {
            batch.ops = batch.ops.map { $0.mapCPUs(f) }
            if case .replay(let runs) = batch.schedule {
                batch.schedule = .replay(runs.map { ScheduleRun(cpu: f($0.cpu), steps: $0.steps) })
            }
            return .parallel(batch)
        }
        guard let c = cpu else { return self }
        return with(cpu: f(c))
    }

    /// The op with every non-negative slot it names (a batch's included)
    /// mapped by `f`.
    public func mapSlots(_ f: (Int) -> Int) -> Op {
        if case .parallel(var batch) = self {
            batch.ops = batch.ops.map { $0.mapSlots(f) }
            return .parallel(batch)
        }
        guard let s = slot, s >= 0 else { return self }
        return with(slot: f(s))
    }

    /// The CPUs the op names, a batch's included.
    public var cpus: [Int] {
        if case .parallel(let batch) = self { return batch.ops.flatMap(\.cpus) }
        return cpu.map { [$0] } ?? []
    }

    /// The slots the op names, a batch's included.
    public var slots: [Int] {
        if case .parallel(let batch) = self { return batch.ops.flatMap(\.slots) }
        return slot.map { [$0] } ?? []
    }

    /// Ops counted one by one: a batch counts its ops.
    public var weight: Int {
        if case .parallel(let batch) = self { return batch.ops.count }
        return 1
    }
}

// MARK: - Text

/// `0x7f0000001000`.
@inline(__always)
func hex(_ v: UInt64) -> String {
    "0x" + String(v, radix: 16)
}

extension Op: CustomStringConvertible {
    /// `mmap cpu 1 mm#2 0x40000000+0x2000 prot 3 flags 0x32`.
    public var description: String {
        func mm(_ s: Int) -> String { "mm#\(s)" }
        switch self {
        case .newMM: return "newMM"
        case .fork(let c, let s): return "fork cpu \(c) \(mm(s))"
        case .mmGet(let s): return "mmGet \(mm(s))"
        case .exit(let c, let s): return "exit cpu \(c) \(mm(s))"
        case .exec(let c, let s): return "exec cpu \(c) \(mm(s))"
        case .mmap(let c, let s, let a, let l, let p, let f):
            return "mmap cpu \(c) \(mm(s)) \(hex(a))+\(hex(l)) prot \(p) flags \(hex(UInt64(UInt32(bitPattern: f))))"
        case .munmap(let c, let s, let a, let l):
            return "munmap cpu \(c) \(mm(s)) \(hex(a))+\(hex(l))"
        case .mprotect(let c, let s, let a, let l, let p):
            return "mprotect cpu \(c) \(mm(s)) \(hex(a))+\(hex(l)) prot \(p)"
        case .madvise(let c, let s, let a, let l, let adv):
            return "madvise cpu \(c) \(mm(s)) \(hex(a))+\(hex(l)) advice \(adv)"
        case .switchMM(let c, let s):
            return "switchMM cpu \(c) " + (s.map(mm) ?? "kernel-thread")
        case .load(let c, let s, let a): return "load cpu \(c) \(mm(s)) \(hex(a))"
        case .store(let c, let s, let a, let v): return "store cpu \(c) \(mm(s)) \(hex(a)) = \(hex(v))"
        case .touch(let c, let s, let a, let n, let v):
            return "touch cpu \(c) \(mm(s)) \(hex(a)) \(n) pages = \(hex(v))+i"
        case .failNthAlloc(let n): return "failNthAlloc \(n)"
        case .parallel(let b):
            return "parallel \(b.schedule.summary) [" + b.ops.map(\.description).joined(separator: "; ") + "]"
        }
    }
}

// MARK: - Coding

/// Ops are coded as flat objects, `{"op": "mmap", "cpu": 0, "mm": 1,
/// "addr": "0x40000000", ...}`, with addresses, lengths and values as hex
/// strings (decimal numbers are accepted too), so that a reproducer reads
/// like a trace.
extension Op: Codable {
    private enum Key: String, CodingKey {
        case op, cpu, mm, addr, length, prot, flags, advice, value, pages, n
        case schedule, ops
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let name = try c.decode(String.self, forKey: .op)
        guard let kind = OpKind(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .op, in: c, debugDescription: "unknown op '\(name)'")
        }
        func cpu() throws -> Int { try c.decode(Int.self, forKey: .cpu) }
        func slot() throws -> Int { try c.decode(Int.self, forKey: .mm) }
        func word(_ key: Key) throws -> UInt64 { try Self.decodeWord(c, key) }
        switch kind {
        case .newMM: self = .newMM
        case .fork: self = .fork(cpu: try cpu(), slot: try slot())
        case .mmGet: self = .mmGet(slot: try slot())
        case .exit: self = .exit(cpu: try cpu(), slot: try slot())
        case .exec: self = .exec(cpu: try cpu(), slot: try slot())
        case .mmap:
            self = .mmap(cpu: try cpu(), slot: try slot(), addr: try word(.addr),
                         length: try word(.length), prot: try c.decode(Int32.self, forKey: .prot),
                         flags: Int32(truncatingIfNeeded: try word(.flags)))
        case .munmap:
            self = .munmap(cpu: try cpu(), slot: try slot(), addr: try word(.addr),
                           length: try word(.length))
        case .mprotect:
            self = .mprotect(cpu: try cpu(), slot: try slot(), addr: try word(.addr),
                             length: try word(.length),
                             prot: try c.decode(Int32.self, forKey: .prot))
        case .madvise:
            self = .madvise(cpu: try cpu(), slot: try slot(), addr: try word(.addr),
                            length: try word(.length),
                            advice: try c.decode(Int32.self, forKey: .advice))
        case .switchMM:
            self = .switchMM(cpu: try cpu(), slot: try c.decodeIfPresent(Int.self, forKey: .mm))
        case .load:
            self = .load(cpu: try cpu(), slot: try slot(), addr: try word(.addr))
        case .store:
            self = .store(cpu: try cpu(), slot: try slot(), addr: try word(.addr),
                          value: try word(.value))
        case .touch:
            self = .touch(cpu: try cpu(), slot: try slot(), addr: try word(.addr),
                          pages: try c.decode(Int.self, forKey: .pages), value: try word(.value))
        case .failNthAlloc:
            self = .failNthAlloc(n: try word(.n))
        case .parallel:
            let ops = try c.decode([Op].self, forKey: .ops)
            if ops.contains(where: { $0.kind == .parallel }) {
                throw DecodingError.dataCorruptedError(
                    forKey: .ops, in: c, debugDescription: "a batch inside a batch")
            }
            self = .parallel(Batch(ops: ops,
                                   schedule: try c.decode(CodedScheduler.self, forKey: .schedule).scheduler))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(kind.rawValue, forKey: .op)
        func hexWord(_ v: UInt64, _ key: Key) throws { try c.encode(hex(v), forKey: key) }
        switch self {
        case .newMM: break
        case .fork(let cpu, let s), .exit(let cpu, let s), .exec(let cpu, let s):
            try c.encode(cpu, forKey: .cpu)
            try c.encode(s, forKey: .mm)
        case .mmGet(let s):
            try c.encode(s, forKey: .mm)
        case .mmap(let cpu, let s, let a, let l, let p, let f):
            try c.encode(cpu, forKey: .cpu)
            try c.encode(s, forKey: .mm)
            try hexWord(a, .addr)
            try hexWord(l, .length)
            try c.encode(p, forKey: .prot)
            try hexWord(UInt64(UInt32(bitPattern: f)), .flags)
        case .munmap(let cpu, let s, let a, let l):
            try c.encode(cpu, forKey: .cpu)
            try c.encode(s, forKey: .mm)
            try hexWord(a, .addr)
            try hexWord(l, .length)
        case .mprotect(let cpu, let s, let a, let l, let p):
            try c.encode(cpu, forKey: .cpu)
            try c.encode(s, forKey: .mm)
            try hexWord(a, .addr)
            try hexWord(l, .length)
            try c.encode(p, forKey: .prot)
        case .madvise(let cpu, let s, let a, let l, let adv):
            try c.encode(cpu, forKey: .cpu)
            try c.encode(s, forKey: .mm)
            try hexWord(a, .addr)
            try hexWord(l, .length)
            try c.encode(adv, forKey: .advice)
        case .switchMM(let cpu, let s):
            try c.encode(cpu, forKey: .cpu)
            try c.encodeIfPresent(s, forKey: .mm)
        case .load(let cpu, let s, let a):
            try c.encode(cpu, forKey: .cpu)
            try c.encode(s, forKey: .mm)
            try hexWord(a, .addr)
        case .store(let cpu, let s, let a, let v):
            try c.encode(cpu, forKey: .cpu)
            try c.encode(s, forKey: .mm)
            try hexWord(a, .addr)
            try hexWord(v, .value)
        case .touch(let cpu, let s, let a, let n, let v):
            try c.encode(cpu, forKey: .cpu)
            try c.encode(s, forKey: .mm)
            try hexWord(a, .addr)
            try c.encode(n, forKey: .pages)
            try hexWord(v, .value)
        case .failNthAlloc(let n):
            try c.encode(n, forKey: .n)
        case .parallel(let b):
            try c.encode(CodedScheduler(b.schedule), forKey: .schedule)
            try c.encode(b.ops, forKey: .ops)
        }
    }

    /// A 64-bit word written as `"0x..."` or as a non-negative number.
    private static func decodeWord(_ c: KeyedDecodingContainer<Key>, _ key: Key) throws -> UInt64 {
        if let v = try? c.decode(UInt64.self, forKey: key) {
            return v
        }
        let text = try c.decode(String.self, forKey: key)
        var digits = Substring(text)
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            radix = 16
        }
        guard let v = UInt64(digits, radix: radix) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "'\(text)' is not a 64-bit number")
        }
        return v
    }
}
