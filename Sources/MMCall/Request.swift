/// What a task asks of the kernel: the operation and its typed arguments.
///
/// The one vocabulary for an operation.  Who asks (the CPU, and the mm
/// named by the machine's id or by the engine's slot) is not part of it:
/// the model's `Call`, the engine's `Op` and the wrapper's `ConcurrentOp`
/// are each "who + request".  This file holds everything about a request
/// that is not the kernel's or the model's business: its cases, who it
/// names (``Kind/who``), what it returns (``Kind/reply``), what it does to
/// the mms' lives (``Kind/lifetime``), its text, its JSON and its ABI form
/// (``ABI``, `struct mmsim_op`), from which the wrapper makes any request
/// without knowing which one it is.
///
/// Adding an operation: a case here (and in ``Kind`` with its facts), its
/// kind number in `mmsim.h` and its line in the C dispatch table
/// (`arch/x86/sim/syscall.c`), its prediction in the model
/// (`Model+Calls.swift`) and its weight in the generator.
public enum Request: Hashable, Sendable {
    /// A new, empty mm with one user.
    case newMM
    /// fork() by the task: a copy-on-write copy of its mm.
    case fork
    /// clone(CLONE_VM): one more user of the mm.
    case mmGet
    /// exit() of the task; the mm's last user tears it down.
    case exit
    /// execve(): the task drops its mm and gets a fresh, empty one.
    case exec
    case mmap(addr: UInt64, length: UInt64, prot: Prot, flags: MapFlags)
    case munmap(addr: UInt64, length: UInt64)
    case mprotect(addr: UInt64, length: UInt64, prot: Prot)
    case madvise(addr: UInt64, length: UInt64, advice: Advice)
    /// Run the mm's task on the CPU, or a kernel thread (lazy TLB) when
    /// the call names no mm.
    case switchMM
    /// A user load of the 64-bit word at `addr` (8-byte aligned), through
    /// the TLB, taking faults as needed.
    case load(addr: UInt64)
    /// A user store of `value` to the 64-bit word at `addr`.
    case store(addr: UInt64, value: UInt64)
    /// kswapd on the CPU (a kernel thread: no mm) reclaims up to `pages`
    /// anonymous pages to swap, from any mm.  Nothing a program can see
    /// changes (values stay; only where pages live does); the reply is
    /// the number of pages reclaimed.
    case reclaim(pages: UInt64)

    /// The kinds of request, named as in JSON (`"op": "mmap"`), in a fixed
    /// order (the generator's swarm draws them in it).
    public enum Kind: String, CaseIterable, Hashable, Sendable, Codable {
        case newMM, fork, mmGet, exit, exec, mmap, munmap, mprotect, madvise
        case switchMM, load, store, reclaim

        /// The kind's number in `mmsim.h` (`enum mmsim_op_kind`).
        @inlinable
        public var number: UInt32 {
            switch self {
            case .mmap: 1
            case .munmap: 2
            case .mprotect: 3
            case .madvise: 4
            case .fork: 5
            case .load: 6
            case .store: 7
            case .switchMM: 8
            case .newMM: 9
            case .mmGet: 10
            case .exit: 11
            case .exec: 12
            case .reclaim: 13
            }
        }

        /// Whom a request of this kind names.
        @inlinable
        public var who: Who {
            switch self {
            case .newMM: .nobody
            case .mmGet: .mm
            case .switchMM: .taskOrKernelThread
            case .reclaim: .kernelThread
            default: .task
            }
        }

        /// What a request of this kind returns when it succeeds.
        @inlinable
        public var reply: Reply {
            switch self {
            case .newMM, .fork, .exec: .mm
            case .mmap: .address
            case .load, .store: .access
            case .reclaim: .count
            default: .ok
            }
        }

        /// What a successful request does to the mms' lives.
        @inlinable
        public var lifetime: Lifetime {
            switch self {
            case .newMM, .fork: .creates
            case .mmGet: .addsUser
            case .exit: .dropsUser
            case .exec: .replaces
            default: .none
            }
        }

        /// The arguments a request of this kind carries, in JSON's order.
        public var fields: [Field] {
            switch self {
            case .newMM, .fork, .mmGet, .exit, .exec, .switchMM: []
            case .mmap: [.addr, .length, .prot, .flags]
            case .munmap: [.addr, .length]
            case .mprotect: [.addr, .length, .prot]
            case .madvise: [.addr, .length, .advice]
            case .load: [.addr]
            case .store: [.addr, .value]
            case .reclaim: [.pages]
            }
        }

        /// Whether the machine runs requests of this kind in concurrent
        /// batches (the C dispatch table's `batch`): what a task does
        /// beside other threads of its process.
        public var batchable: Bool {
            switch self {
            case .newMM, .mmGet, .exit, .exec: false
            default: true
            }
        }

        /// Whether a request of this kind may free pages of its mm in its
        /// range (`addr ..< addr + length`): munmap, MADV_DONTNEED, an mmap
        /// over them.
        public var mayFreeRange: Bool {
            switch self {
            case .mmap, .munmap, .madvise: true
            default: false
            }
        }

        /// Whether a request of this kind may take mappings, pages or
        /// write permission of its mm away (fork write-protects private
        /// pages).
        public var mayReduceMappings: Bool {
            switch self {
            case .mmap, .munmap, .mprotect, .madvise, .fork: true
            default: false
            }
        }

        init?(number: UInt32) {
            guard let k = Kind.allCases.first(where: { $0.number == number }) else { return nil }
            self = k
        }
    }

    /// Whom a request names, besides itself.
    public enum Who: Hashable, Sendable {
        /// Neither a CPU nor an mm (newMM).
        case nobody
        /// An mm and no CPU (mmGet).
        case mm
        /// The task of an mm on a CPU.
        case task
        /// A CPU, and an mm or none (a kernel thread).
        case taskOrKernelThread
        /// A kernel thread on a CPU: a CPU and no mm (reclaim, kswapd).
        case kernelThread

        @inlinable
        public var namesCPU: Bool { self != .nobody && self != .mm }
        @inlinable
        public var namesMM: Bool { self != .nobody && self != .kernelThread }
        /// Whether the mm may be left out.
        @inlinable
        public var mmOptional: Bool { self == .taskOrKernelThread }
    }

    /// The shape of a successful request's result.
    public enum Reply: Hashable, Sendable {
        case ok
        /// A new mm's id.
        case mm
        /// The address mapped.
        case address
        /// A user access: a value, SIGSEGV or OOM.
        case access
        /// A number of pages (reclaim's pages reclaimed).
        case count
    }

    /// What a request does to the mms' lives when it succeeds.
    public enum Lifetime: Hashable, Sendable {
        case none
        /// A new mm with one user (its id is the reply).
        case creates
        /// One more user of the named mm.
        case addsUser
        /// One user fewer of the named mm.
        case dropsUser
        /// One user fewer of the named mm, and a new mm (the reply).
        case replaces
    }

    /// An argument of a request, by its JSON key.
    public enum Field: String, Hashable, Sendable, CaseIterable {
        case addr, length, prot, flags, advice, value
        /// A count of pages (reclaim's), in `struct mmsim_op`'s `len`;
        /// decimal in text and JSON.
        case pages
    }

    @inlinable
    public var kind: Kind {
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
        case .reclaim: .reclaim
        }
    }
}

// MARK: - ABI form

extension Request {
    /// The request as `struct mmsim_op` carries it: a kind number and the
    /// same fields for every kind (unused ones 0; the advice travels in
    /// `flags`).
    public struct ABI: Hashable, Sendable {
        public var kind: UInt32
        public var addr: UInt64 = 0
        public var len: UInt64 = 0
        public var value: UInt64 = 0
        public var prot: Int32 = 0
        public var flags: Int32 = 0

        @inlinable
        public init(kind: UInt32, addr: UInt64 = 0, len: UInt64 = 0, value: UInt64 = 0,
                    prot: Int32 = 0, flags: Int32 = 0) {
            self.kind = kind
            self.addr = addr
            self.len = len
            self.value = value
            self.prot = prot
            self.flags = flags
        }
    }

    @inlinable
    public var abi: ABI {
        var a = ABI(kind: kind.number)
        switch self {
        case .newMM, .fork, .mmGet, .exit, .exec, .switchMM: break
        case .mmap(let addr, let length, let prot, let flags):
            (a.addr, a.len, a.prot, a.flags) = (addr, length, prot.rawValue, flags.rawValue)
        case .munmap(let addr, let length):
            (a.addr, a.len) = (addr, length)
        case .mprotect(let addr, let length, let prot):
            (a.addr, a.len, a.prot) = (addr, length, prot.rawValue)
        case .madvise(let addr, let length, let advice):
            (a.addr, a.len, a.flags) = (addr, length, advice.rawValue)
        case .load(let addr):
            a.addr = addr
        case .store(let addr, let value):
            (a.addr, a.value) = (addr, value)
        case .reclaim(let pages):
            a.len = pages
        }
        return a
    }

    /// The request of an ABI form, or nil for an unknown kind number.
    /// Fields the kind does not use are ignored.
    public init?(abi a: ABI) {
        guard let kind = Kind(number: a.kind) else { return nil }
        switch kind {
        case .newMM: self = .newMM
        case .fork: self = .fork
        case .mmGet: self = .mmGet
        case .exit: self = .exit
        case .exec: self = .exec
        case .switchMM: self = .switchMM
        case .mmap:
            self = .mmap(addr: a.addr, length: a.len, prot: Prot(rawValue: a.prot),
                         flags: MapFlags(rawValue: a.flags))
        case .munmap: self = .munmap(addr: a.addr, length: a.len)
        case .mprotect: self = .mprotect(addr: a.addr, length: a.len, prot: Prot(rawValue: a.prot))
        case .madvise: self = .madvise(addr: a.addr, length: a.len, advice: Advice(rawValue: a.flags))
        case .load: self = .load(addr: a.addr)
        case .store: self = .store(addr: a.addr, value: a.value)
        case .reclaim: self = .reclaim(pages: a.len)
        }
    }

    /// The value of one of the kind's fields, as a 64-bit word (prot,
    /// flags and advice as their 32-bit patterns, sign-extended).
    public subscript(field: Field) -> UInt64 {
        let a = abi
        switch field {
        case .addr: return a.addr
        case .length, .pages: return a.len
        case .value: return a.value
        case .prot: return UInt64(bitPattern: Int64(a.prot))
        case .flags, .advice: return UInt64(bitPattern: Int64(a.flags))
        }
    }

    /// The same request with one field changed (a field the kind does not
    /// carry changes nothing).
    public func with(_ field: Field, _ v: UInt64) -> Request {
        var a = abi
        switch field {
        case .addr: a.addr = v
        case .length, .pages: a.len = v
        case .value: a.value = v
        case .prot: a.prot = Int32(truncatingIfNeeded: v)
        case .flags, .advice: a.flags = Int32(truncatingIfNeeded: v)
        }
        return Request(abi: a)!
    }

    /// The range `addr ..< addr + length` a range call names.
    public var range: (addr: UInt64, length: UInt64)? {
        kind.fields.contains(.length) ? (abi.addr, abi.len) : nil
    }
}

// MARK: - Result

/// What a call returned, as the driver saw it.
public enum Outcome: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Success without a value (munmap, mprotect, madvise, exit, mmGet,
    /// switchMM).
    case ok
    /// A number of pages (reclaim: the pages it reclaimed).
    case count(UInt64)
    /// A new mm's id (newMM, fork, exec).
    case mm(Int32)
    /// The address an mmap chose.
    case address(UInt64)
    /// A load's value, or a store that completed.
    case value(UInt64)
    /// The task would get SIGSEGV.
    case segv
    /// The fault handler ran out of memory (VM_FAULT_OOM).
    case oom
    /// A negative errno, as a positive number (`EINVAL` is 22).
    case errno(Int32)

    /// The outcome of a request of `kind` from the machine's return `ret`
    /// (0 or -errno) and `out` (`struct mmsim_op`'s).
    @inlinable
    public init(_ kind: Request.Kind, ret: Int64, out: UInt64) {
        let reply = kind.reply
        if ret < 0 {
            if reply == .access {
                if ret == -Int64(Errno.EFAULT.rawValue) { self = .segv; return }
                if ret == -Int64(Errno.ENOMEM.rawValue) { self = .oom; return }
            }
            self = .errno(Int32(truncatingIfNeeded: -ret))
            return
        }
        switch reply {
        case .ok: self = .ok
        case .mm: self = .mm(Int32(truncatingIfNeeded: out))
        case .address: self = .address(out)
        case .access: self = .value(out)
        case .count: self = .count(out)
        }
    }

    public var description: String {
        switch self {
        case .ok: "ok"
        case .mm(let id): "mm \(id)"
        case .address(let a): "0x" + String(a, radix: 16)
        case .value(let v): "value 0x" + String(v, radix: 16)
        case .count(let n): "\(n) pages"
        case .segv: "SIGSEGV"
        case .oom: "OOM"
        case .errno(let e): "errno \(e)"
        }
    }
}

// MARK: - Text

extension Request: CustomStringConvertible {
    /// `munmap(addr 0x1000, length 0x2000)`.
    public var description: String { described(who: []) }

    /// The request as a kernel developer reads it, with `who` (such as
    /// `["cpu 1", "mm 2"]`) first: `mmap(cpu 1, mm 2, addr 0x1000,
    /// length 0x2000, prot 3, flags 0x22)`.
    public func described(who: [String]) -> String {
        kind.rawValue + "(" + (who + arguments).joined(separator: ", ") + ")"
    }

    /// `["addr 0x1000", "length 0x2000"]`.
    public var arguments: [String] {
        kind.fields.map { field in
            let v = self[field]
            switch field {
            case .prot, .advice: return "\(field.rawValue) \(Int32(truncatingIfNeeded: v))"
            case .pages: return "pages \(v)"
            case .flags: return "flags " + hexWord(UInt64(UInt32(truncatingIfNeeded: v)))
            default: return "\(field.rawValue) " + hexWord(v)
            }
        }
    }
}

/// `0x7f0000001000`.
@inline(__always)
public func hexWord(_ v: UInt64) -> String {
    "0x" + String(v, radix: 16)
}

// MARK: - JSON

/// A key of the flat JSON objects calls and ops are coded as.
public struct FlatKey: CodingKey, Hashable, Sendable {
    public var stringValue: String
    public var intValue: Int? { nil }

    public init(_ s: String) { stringValue = s }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }

    public static let op = FlatKey("op")
    public static let cpu = FlatKey("cpu")
    public static let mm = FlatKey("mm")
}

extension Request {
    /// The request's fields as JSON members, in order: addresses, lengths,
    /// flags and values as hex strings, prot and advice as numbers.
    public var jsonFields: [(key: String, value: String)] {
        kind.fields.map { field in
            let v = self[field]
            switch field {
            case .prot, .advice: return (field.rawValue, "\(Int32(truncatingIfNeeded: v))")
            case .pages: return (field.rawValue, "\(v)")
            case .flags: return (field.rawValue, "\"" + hexWord(UInt64(UInt32(truncatingIfNeeded: v))) + "\"")
            default: return (field.rawValue, "\"" + hexWord(v) + "\"")
            }
        }
    }

    /// Writes the request's fields (not its name) into a flat object.
    public func encodeFields(to c: inout KeyedEncodingContainer<FlatKey>) throws {
        for field in kind.fields {
            let v = self[field]
            let key = FlatKey(field.rawValue)
            switch field {
            case .prot, .advice: try c.encode(Int32(truncatingIfNeeded: v), forKey: key)
            case .pages: try c.encode(v, forKey: key)
            case .flags: try c.encode(hexWord(UInt64(UInt32(truncatingIfNeeded: v))), forKey: key)
            default: try c.encode(hexWord(v), forKey: key)
            }
        }
    }

    /// Reads a request of `kind` from the fields of a flat object.  Words
    /// are hex strings or numbers; prot and advice 32-bit numbers; flags a
    /// 32-bit pattern.
    public init(kind: Kind, from c: KeyedDecodingContainer<FlatKey>) throws {
        var a = ABI(kind: kind.number)
        for field in kind.fields {
            let key = FlatKey(field.rawValue)
            switch field {
            case .addr: a.addr = try Self.decodeWord(c, key)
            case .length, .pages: a.len = try Self.decodeWord(c, key)
            case .value: a.value = try Self.decodeWord(c, key)
            case .prot: a.prot = try c.decode(Int32.self, forKey: key)
            case .advice: a.flags = try c.decode(Int32.self, forKey: key)
            case .flags:
                let w = try Self.decodeWord(c, key)
                guard w <= UInt64(UInt32.max) || Int64(bitPattern: w) >= Int64(Int32.min) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: c, debugDescription: "'\(hexWord(w))' is not a 32-bit flags word")
                }
                a.flags = Int32(truncatingIfNeeded: w)
            }
        }
        self.init(abi: a)!
    }

    /// A 64-bit word coded as a hex string (`"0x1000"`), a decimal string
    /// or a number.
    public static func decodeWord(_ c: KeyedDecodingContainer<FlatKey>, _ key: FlatKey) throws -> UInt64 {
        if let v = try? c.decode(UInt64.self, forKey: key) { return v }
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

    /// The kind named by the `op` member, or an error naming it.
    public static func kind(in c: KeyedDecodingContainer<FlatKey>) throws -> Kind {
        let name = try c.decode(String.self, forKey: .op)
        guard let kind = Kind(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .op, in: c, debugDescription: "unknown op '\(name)'")
        }
        return kind
    }
}
