@_exported import MMCall

/// One call made to the machine: who (the CPU, and the mm by the machine's
/// own id) and the ``Request``, exactly as the driver passes it.  The model
/// checks the machine's ``Outcome`` of each call and adopts the machine's
/// choices.
///
/// CPUs and ids are passed through unvalidated: a CPU out of range or an
/// id that names no live mm is a bad call whose errno the model predicts.
/// A request that names no CPU (``Request/Who``) has `cpu` 0; one that
/// names no mm has `mm` nil (a switch to a kernel thread, or newMM).
public struct Call: Hashable, Sendable {
    public var cpu: Int
    public var mm: Int32?
    public var request: Request

    @inlinable
    public init(cpu: Int, mm: Int32?, _ request: Request) {
        let who = request.kind.who
        self.cpu = who.namesCPU ? cpu : 0
        self.mm = who.namesMM ? mm : nil
        self.request = request
    }

    /// The mm, for a request that must name one (-1 when it names none:
    /// the uapi's "no mm").
    @inlinable
    public var mmID: Int32 { mm ?? -1 }
}

// Construction as the calls were once spelled, one case each.
extension Call {
    public static var newMM: Call { Call(cpu: 0, mm: nil, .newMM) }
    public static func fork(cpu: Int, mm: Int32) -> Call { Call(cpu: cpu, mm: mm, .fork) }
    public static func mmGet(mm: Int32) -> Call { Call(cpu: 0, mm: mm, .mmGet) }
    public static func exit(cpu: Int, mm: Int32) -> Call { Call(cpu: cpu, mm: mm, .exit) }
    public static func exec(cpu: Int, mm: Int32) -> Call { Call(cpu: cpu, mm: mm, .exec) }
    public static func mmap(cpu: Int, mm: Int32, addr: UInt64, length: UInt64, prot: Int32,
                            flags: Int32) -> Call {
        Call(cpu: cpu, mm: mm, .mmap(addr: addr, length: length, prot: Prot(rawValue: prot),
                                     flags: MapFlags(rawValue: flags)))
    }
    public static func munmap(cpu: Int, mm: Int32, addr: UInt64, length: UInt64) -> Call {
        Call(cpu: cpu, mm: mm, .munmap(addr: addr, length: length))
    }
    public static func mprotect(cpu: Int, mm: Int32, addr: UInt64, length: UInt64,
                                prot: Int32) -> Call {
        Call(cpu: cpu, mm: mm, .mprotect(addr: addr, length: length, prot: Prot(rawValue: prot)))
    }
    public static func madvise(cpu: Int, mm: Int32, addr: UInt64, length: UInt64,
                               advice: Int32) -> Call {
        Call(cpu: cpu, mm: mm, .madvise(addr: addr, length: length, advice: Advice(rawValue: advice)))
    }
    public static func switchMM(cpu: Int, mm: Int32?) -> Call { Call(cpu: cpu, mm: mm, .switchMM) }
    public static func load(cpu: Int, mm: Int32, addr: UInt64) -> Call {
        Call(cpu: cpu, mm: mm, .load(addr: addr))
    }
    public static func store(cpu: Int, mm: Int32, addr: UInt64, value: UInt64) -> Call {
        Call(cpu: cpu, mm: mm, .store(addr: addr, value: value))
    }
    public static func reclaim(cpu: Int, pages: UInt64) -> Call { Call(cpu: cpu, mm: nil, .reclaim(pages: pages)) }
}

/// Calls as a kernel developer reads them: `munmap(cpu 0, mm 1, addr
/// 0x1000, length 0x2000)`.
extension Call: CustomStringConvertible {
    public var description: String {
        let who = request.kind.who
        var parts: [String] = []
        if who.namesCPU { parts.append("cpu \(cpu)") }
        if who.namesMM {
            parts.append(mm.map { "mm \($0)" } ?? "mm none (kernel thread)")
        }
        return request.described(who: parts)
    }
}

/// Calls are coded as flat objects, `{"op": "munmap", "cpu": 0, "mm": 1,
/// "addr": "0x1000", "length": "0x2000"}`.
extension Call: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: FlatKey.self)
        let kind = try Request.kind(in: c)
        let who = kind.who
        self.init(cpu: who.namesCPU ? try c.decode(Int.self, forKey: .cpu) : 0,
                  mm: who.mmOptional ? try c.decodeIfPresent(Int32.self, forKey: .mm)
                      : who.namesMM ? try c.decode(Int32.self, forKey: .mm) : nil,
                  try Request(kind: kind, from: c))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: FlatKey.self)
        let who = request.kind.who
        try c.encode(request.kind.rawValue, forKey: .op)
        if who.namesCPU { try c.encode(cpu, forKey: .cpu) }
        if who.namesMM { try c.encodeIfPresent(mm, forKey: .mm) }
        try request.encodeFields(to: &c)
    }
}
