import MMModel
import MMSim

/// One step of a fuzz case: a call (who, and a ``Request``), or one of the
/// engine's own steps.
///
/// Mms are named by *slot*, not by id: a slot `s >= 0` means
/// `live[s % live.count]`, where `live` is the engine's list of mms that
/// have users, in creation order; an op with such a slot is skipped (and not
/// counted) while no mm is live.  So removing ops while shrinking keeps the
/// rest meaningful.  A negative slot names an mm id that is not alive (a
/// dead one or one never handed out): a bad call the kernel must refuse.
/// Slots stay below ``aliasingSlots`` or the number of mms the case
/// creates, whichever is larger: the generator draws them so (a slot past
/// the live ones aliases another on purpose), shrinking only lowers them,
/// and a reproducer naming a larger one is refused (it names no mm of the
/// case: a typo or an edit).
///
/// CPUs are passed to the machine as they are, so a CPU out of range is a
/// bad call too.
public enum Op: Hashable, Sendable {
    /// Slots below this may alias a live mm (modulo) in any case.
    public static let aliasingSlots = 12
    /// Pages a sequential touch stores to at most (a batch's: ``Batch/touchPages``).
    public static let touchPages = 4096

    /// `request` by the task of the mm of `slot` on `cpu`.  A request that
    /// names no CPU (``Request/Who``) has `cpu` 0; `slot` is nil when it
    /// names no mm (newMM, a switch to a kernel thread).
    case call(cpu: Int, slot: Int?, Request)
    /// Stores `value + i` at the start of each of `pages` pages from
    /// `addr`: one checked store per page, to populate large ranges (a
    /// gather vector holds 506 pages).
    case touch(cpu: Int, slot: Int, addr: UInt64, pages: Int, value: UInt64)
    /// Arms `machine.failNthAllocation(n)`: the `n`th allocation from now
    /// fails, once.
    case failNthAlloc(n: UInt64)
    /// Ops on several CPUs at once (the concurrent regime).
    case parallel(Batch)

    /// A call, its CPU and slot kept only where the request names them.
    public static func call(_ request: Request, cpu: Int, slot: Int?) -> Op {
        let who = request.kind.who
        return .call(cpu: who.namesCPU ? cpu : 0, slot: who.namesMM ? slot : nil, request)
    }

    /// The op's kind.
    public var kind: OpKind {
        switch self {
        case .call(_, _, let r): .call(r.kind)
        case .touch: .touch
        case .failNthAlloc: .failNthAlloc
        case .parallel: .parallel
        }
    }

    /// The request, for a call.
    public var request: Request? {
        if case .call(_, _, let r) = self { return r }
        return nil
    }

    /// The CPU the op runs on, if it names one.
    public var cpu: Int? {
        switch self {
        case .call(let c, _, let r): r.kind.who.namesCPU ? c : nil
        case .touch(let c, _, _, _, _): c
        case .failNthAlloc, .parallel: nil
        }
    }

    /// The slot the op names, if any (nil for a kernel-thread switch).
    public var slot: Int? {
        switch self {
        case .call(_, let s, _): s
        case .touch(_, let s, _, _, _): s
        case .failNthAlloc, .parallel: nil
        }
    }

    /// The same op naming another slot (unchanged when it names none).
    public func with(slot new: Int) -> Op {
        switch self {
        case .call(let c, .some, let r): return .call(cpu: c, slot: new, r)
        case .touch(let c, _, let a, let n, let v):
            return .touch(cpu: c, slot: new, addr: a, pages: n, value: v)
        default: return self
        }
    }

    /// The same op on another CPU (unchanged when it names none).
    public func with(cpu new: Int) -> Op {
        switch self {
        case .call(_, let s, let r) where r.kind.who.namesCPU: .call(cpu: new, slot: s, r)
        case .touch(_, let s, let a, let n, let v): .touch(cpu: new, slot: s, addr: a, pages: n, value: v)
        default: self
        }
    }

    /// The same call with another request (unchanged for other ops).
    public func with(_ request: Request) -> Op {
        guard case .call(let c, let s, _) = self else { return self }
        return .call(request, cpu: c, slot: s)
    }
}

// Construction as the ops were once spelled, one case each: tests and
// tools build ops this way.
extension Op {
    public static var newMM: Op { .call(cpu: 0, slot: nil, .newMM) }
    public static func fork(cpu: Int, slot: Int) -> Op { .call(.fork, cpu: cpu, slot: slot) }
    public static func mmGet(slot: Int) -> Op { .call(.mmGet, cpu: 0, slot: slot) }
    public static func exit(cpu: Int, slot: Int) -> Op { .call(.exit, cpu: cpu, slot: slot) }
    public static func exec(cpu: Int, slot: Int) -> Op { .call(.exec, cpu: cpu, slot: slot) }
    public static func mmap(cpu: Int, slot: Int, addr: UInt64, length: UInt64, prot: Prot,
                            flags: MapFlags) -> Op {
        .call(.mmap(addr: addr, length: length, prot: prot, flags: flags), cpu: cpu, slot: slot)
    }
    public static func mmap(cpu: Int, slot: Int, addr: UInt64, length: UInt64, prot: Int32,
                            flags: Int32) -> Op {
        .mmap(cpu: cpu, slot: slot, addr: addr, length: length, prot: Prot(rawValue: prot),
              flags: MapFlags(rawValue: flags))
    }
    public static func munmap(cpu: Int, slot: Int, addr: UInt64, length: UInt64) -> Op {
        .call(.munmap(addr: addr, length: length), cpu: cpu, slot: slot)
    }
    public static func mprotect(cpu: Int, slot: Int, addr: UInt64, length: UInt64, prot: Prot) -> Op {
        .call(.mprotect(addr: addr, length: length, prot: prot), cpu: cpu, slot: slot)
    }
    public static func mprotect(cpu: Int, slot: Int, addr: UInt64, length: UInt64, prot: Int32) -> Op {
        .mprotect(cpu: cpu, slot: slot, addr: addr, length: length, prot: Prot(rawValue: prot))
    }
    public static func madvise(cpu: Int, slot: Int, addr: UInt64, length: UInt64,
                               advice: Advice) -> Op {
        .call(.madvise(addr: addr, length: length, advice: advice), cpu: cpu, slot: slot)
    }
    public static func madvise(cpu: Int, slot: Int, addr: UInt64, length: UInt64,
                               advice: Int32) -> Op {
        .madvise(cpu: cpu, slot: slot, addr: addr, length: length, advice: Advice(rawValue: advice))
    }
    public static func switchMM(cpu: Int, slot: Int?) -> Op { .call(.switchMM, cpu: cpu, slot: slot) }
    public static func load(cpu: Int, slot: Int, addr: UInt64) -> Op {
        .call(.load(addr: addr), cpu: cpu, slot: slot)
    }
    public static func store(cpu: Int, slot: Int, addr: UInt64, value: UInt64) -> Op {
        .call(.store(addr: addr, value: value), cpu: cpu, slot: slot)
    }
    /// kswapd on `cpu` reclaims up to `pages` pages (a kernel thread: no
    /// mm, no slot).
    public static func reclaim(cpu: Int, pages: UInt64) -> Op {
        .call(.reclaim(pages: pages), cpu: cpu, slot: nil)
    }
}

/// The kinds of ``Op``, for weights and swarm testing: a request's kind,
/// or one of the engine's steps.
public enum OpKind: Hashable, Sendable, CaseIterable, RawRepresentable, Codable {
    case call(Request.Kind)
    case touch, failNthAlloc, parallel

    /// Requests first, in ``Request/Kind``'s order, then the engine's.
    public static let allCases: [OpKind] =
        Request.Kind.allCases.map(OpKind.call) + [.touch, .failNthAlloc, .parallel]

    /// The JSON name: `mmap`, `touch`, ...
    public var rawValue: String {
        switch self {
        case .call(let k): k.rawValue
        case .touch: "touch"
        case .failNthAlloc: "failNthAlloc"
        case .parallel: "parallel"
        }
    }

    public init?(rawValue: String) {
        if let k = Request.Kind(rawValue: rawValue) {
            self = .call(k)
            return
        }
        switch rawValue {
        case "touch": self = .touch
        case "failNthAlloc": self = .failNthAlloc
        case "parallel": self = .parallel
        default: return nil
        }
    }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let kind = OpKind(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "unknown op kind '\(name)'"))
        }
        self = kind
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
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
    hexWord(v)
}

extension Op: CustomStringConvertible {
    /// `mmap(cpu 1, mm#2, addr 0x40000000, length 0x2000, prot 3, flags
    /// 0x32)`: the request's text, with the mm as a slot.
    public var description: String {
        func mm(_ s: Int) -> String { "mm#\(s)" }
        switch self {
        case .call(let c, let s, let r):
            let who = r.kind.who
            var parts: [String] = []
            if who.namesCPU { parts.append("cpu \(c)") }
            if who.namesMM { parts.append(s.map(mm) ?? "kernel-thread") }
            return r.described(who: parts)
        case .touch(let c, let s, let a, let n, let v):
            return "touch(cpu \(c), \(mm(s)), addr \(hex(a)), \(n) pages, value \(hex(v))+i)"
        case .failNthAlloc(let n): return "failNthAlloc(\(n))"
        case .parallel(let b):
            return "parallel \(b.schedule.summary) [" + b.ops.map(\.description).joined(separator: "; ") + "]"
        }
    }
}

// MARK: - Coding

/// Ops are coded as flat objects, `{"op": "mmap", "cpu": 0, "mm": 1,
/// "addr": "0x40000000", ...}`, with addresses, lengths and values as hex
/// strings (decimal numbers are accepted too), so that a reproducer reads
/// like a trace.  A call's members are its request's (``Request``'s
/// coding) after `cpu` and `mm`.
extension Op: Codable {
    private static let pages = FlatKey("pages")
    private static let n = FlatKey("n")
    private static let schedule = FlatKey("schedule")
    private static let ops = FlatKey("ops")
    private static let addr = FlatKey("addr")
    private static let value = FlatKey("value")

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: FlatKey.self)
        let name = try c.decode(String.self, forKey: .op)
        guard let kind = OpKind(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .op, in: c, debugDescription: "unknown op '\(name)'")
        }
        switch kind {
        case .call(let k):
            let who = k.who
            let cpu = who.namesCPU ? try c.decode(Int.self, forKey: .cpu) : 0
            let slot: Int? = who.mmOptional ? try c.decodeIfPresent(Int.self, forKey: .mm)
                : who.namesMM ? try c.decode(Int.self, forKey: .mm) : nil
            self = .call(cpu: cpu, slot: slot, try Request(kind: k, from: c))
        case .touch:
            self = .touch(cpu: try c.decode(Int.self, forKey: .cpu), slot: try c.decode(Int.self, forKey: .mm),
                          addr: try Request.decodeWord(c, Self.addr),
                          pages: try c.decode(Int.self, forKey: Self.pages),
                          value: try Request.decodeWord(c, Self.value))
        case .failNthAlloc:
            self = .failNthAlloc(n: try Request.decodeWord(c, Self.n))
        case .parallel:
            let ops = try c.decode([Op].self, forKey: Self.ops)
            if ops.contains(where: { $0.kind == .parallel }) {
                throw DecodingError.dataCorruptedError(
                    forKey: Self.ops, in: c, debugDescription: "a batch inside a batch")
            }
            self = .parallel(Batch(ops: ops,
                                   schedule: try c.decode(CodedScheduler.self, forKey: Self.schedule).scheduler))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: FlatKey.self)
        try c.encode(kind.rawValue, forKey: .op)
        switch self {
        case .call(let cpu, let s, let r):
            let who = r.kind.who
            if who.namesCPU { try c.encode(cpu, forKey: .cpu) }
            if who.namesMM { try c.encodeIfPresent(s, forKey: .mm) }
            try r.encodeFields(to: &c)
        case .touch(let cpu, let s, let a, let n, let v):
            try c.encode(cpu, forKey: .cpu)
            try c.encode(s, forKey: .mm)
            try c.encode(hex(a), forKey: Self.addr)
            try c.encode(n, forKey: Self.pages)
            try c.encode(hex(v), forKey: Self.value)
        case .failNthAlloc(let n):
            try c.encode(n, forKey: Self.n)
        case .parallel(let b):
            try c.encode(CodedScheduler(b.schedule), forKey: Self.schedule)
            try c.encode(b.ops, forKey: Self.ops)
        }
    }
}
