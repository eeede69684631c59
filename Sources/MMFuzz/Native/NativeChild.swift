import CNative

/// The thin Swift face of `Sources/CNative`: one child process that makes
/// real system calls and user accesses inside its arena (64 GiB of address
/// space), one request at a time over a socket pair.  Addresses are
/// offsets into the arena; the child refuses any range that would leave it.
/// ``fork()`` makes another child, a copy-on-write copy of this one's
/// arena; ``batch(_:)`` runs up to 32 requests at once on up to four
/// threads of the child; every child is stopped (and reaped) by
/// ``stop()`` or when it is released.
///
/// It lives in the engine (not a target of its own) because everything
/// that uses it (the native runner, later the shrinker and the session)
/// is the engine's, and the CLI reaches it through `MMFuzz` as it does
/// the rest.
public final class NativeChild {
    /// Bytes of the arena.
    public static let arenaSize: UInt64 = UInt64(NATIVE_ARENA_SIZE)
    /// Linux's MAP_FIXED_NOREPLACE.
    public static let mapFixedNoReplace: Int32 = 0x100000

    /// What the child did with one request.
    public enum Reply: Hashable, Sendable {
        /// The call returned 0 (mmap: the offset it mapped; a load: the
        /// value; a store: 0).
        case ok(UInt64)
        case errno(Int32)
        /// The access took `signal` (11 SIGSEGV, 7 SIGBUS) with `code`
        /// (si_code) at offset `offset`.
        case fault(signal: Int32, code: Int32, offset: UInt64)
        /// The child refused: the request would leave the arena.
        case refused
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    private var child = native_child(pid: -1, fd: -1, base: 0)
    /// The arena's base in the child (for messages only).
    public var base: UInt64 { child.base }
    public var pid: Int32 { child.pid }

    /// Forks the child; throws where the host cannot (not Linux).
    public init() throws(Failure) {
        let r = native_start(&child)
        if r != 0 { throw Failure(description: "cannot start the native child: errno \(-r)") }
    }

    private init(forked: native_child) {
        child = forked
    }

    deinit { _ = native_stop(&child, 1000) }

    /// One request: `kind` is a `Request.Kind` number (mmap 1, munmap 2,
    /// mprotect 3, madvise 4, load 6, store 7, exit 11: a real exit,
    /// after which only ``stop()`` is left to do; fork is ``fork()``).
    public func call(kind: UInt32, offset: UInt64, length: UInt64 = 0, prot: Int32 = 0,
                     flags: Int32 = 0, value: UInt64 = 0) throws(Failure) -> Reply {
        var q = native_req(kind: kind, prot: prot, flags: flags, pad: 0, off: offset, len: length,
                           value: value)
        var res = native_res()
        let r = native_call(&child, &q, &res, 10_000)
        if r != 0 {
            let status = native_stop(&child, 1000)
            throw Failure(description: "the native child stopped answering (errno \(-r), wait status \(status))")
        }
        return Self.reply(kind: kind, status: res.status, err: res.err, sig: res.sig, code: res.code, ret: res.ret,
                          value: res.value, fault: res.fault_off)
    }

    /// A result of the child's (`struct native_res`'s fields) as a reply.
    private static func reply(kind: UInt32, status: Int32, err: Int32, sig: Int32, code: Int32, ret: UInt64,
                              value: UInt64, fault: UInt64) -> Reply {
        switch UInt32(status) {
        case NATIVE_OK.rawValue: .ok(kind == 6 ? value : ret)
        case NATIVE_ERRNO.rawValue: .errno(err)
        case NATIVE_FAULT.rawValue: .fault(signal: sig, code: code, offset: fault)
        default: .refused
        }
    }

    /// What a fork did.
    public enum Forked {
        /// The new process, serving a copy of this one's arena.
        case child(NativeChild)
        /// The fork failed in the child with this errno.
        case errno(Int32)
    }

    /// fork() in the child: a new process whose arena is a copy-on-write
    /// copy of this one's, or the errno of a fork that failed.
    public func fork() throws(Failure) -> Forked {
        var forked = native_child(pid: -1, fd: -1, base: 0)
        var res = native_res()
        let r = native_fork(&child, &forked, &res, 10_000)
        if r != 0 {
            let status = native_stop(&child, 1000)
            throw Failure(description: "the native child did not fork (errno \(-r), wait status \(status))")
        }
        if UInt32(res.status) == NATIVE_OK.rawValue { return .child(NativeChild(forked: forked)) }
        return .errno(res.err)
    }

    /// Which pages of the `pages` pages at arena offset `offset` (inside
    /// one 2 MiB window) are resident, by mincore(2) in the child: bit
    /// `i % 64` of word `i / 64` for page `i` of the window; pages outside
    /// the range, or that nothing maps, read as not resident.  Throws when
    /// the child refuses (the range unaligned, across windows or outside
    /// the arena), fails, or stops answering.
    public func residency(offset: UInt64, pages: Int) throws(Failure) -> [UInt64] {
        var q = native_req(kind: UInt32(NATIVE_MINCORE.rawValue), prot: 0, flags: 0, pad: 0, off: offset,
                           len: UInt64(pages) << 12, value: 0)
        var res = native_res()
        let r = native_call(&child, &q, &res, 10_000)
        if r != 0 {
            let status = native_stop(&child, 1000)
            throw Failure(description: "the native child stopped answering (errno \(-r), wait status \(status))")
        }
        guard UInt32(res.status) == NATIVE_OK.rawValue else {
            throw Failure(description: "mincore of \(pages) pages at arena offset 0x\(String(offset, radix: 16)): "
                + "status \(res.status), errno \(res.err)")
        }
        return withUnsafeBytes(of: res.bits) { Array($0.bindMemory(to: UInt64.self)) }
    }

    /// ``residency(offset:pages:)`` of a whole window (`window` aligned).
    public func residency(window: UInt64) throws(Failure) -> [UInt64] {
        try residency(offset: window, pages: Int(NativeRelocation.window >> 12))
    }

    /// One sub-request of a ``batch(_:)``: a request as ``call(kind:offset:length:prot:flags:value:)``
    /// takes it (mmap only with MAP_FIXED or MAP_FIXED_NOREPLACE; no
    /// fork, no exit), made by thread `thread`.
    public struct BatchCall: Hashable, Sendable {
        public var kind: UInt32
        public var thread: Int
        public var offset: UInt64
        public var length: UInt64
        public var prot: Int32
        public var flags: Int32
        public var value: UInt64

        public init(kind: UInt32, thread: Int, offset: UInt64, length: UInt64 = 0, prot: Int32 = 0,
                    flags: Int32 = 0, value: UInt64 = 0) {
            self.kind = kind
            self.thread = thread
            self.offset = offset
            self.length = length
            self.prot = prot
            self.flags = flags
            self.value = value
        }
    }

    /// What one sub-request of a batch did, and when: CLOCK_MONOTONIC
    /// nanoseconds read by its thread right before and right after it.
    public struct TimedReply: Hashable, Sendable {
        public var reply: Reply
        public var start: UInt64
        public var end: UInt64
    }

    /// Sub-requests a batch holds at most, and threads it runs them on.
    public static let batchMax = Int(NATIVE_BATCH_MAX)
    public static let threadsMax = Int(NATIVE_THREADS_MAX)

    /// Runs `calls` at once on threads of the child (thread `t` makes
    /// the calls naming it, in order; the threads start together) and
    /// returns each call's reply.  Throws when the child cannot run them
    /// (more than ``batchMax`` calls, a thread past ``threadsMax``, a host
    /// that is not x86-64) or stopped answering.
    public func batch(_ calls: [BatchCall]) throws(Failure) -> [TimedReply] {
        guard calls.count <= Self.batchMax, calls.allSatisfy({ (0 ..< Self.threadsMax).contains($0.thread) }) else {
            throw Failure(description: "a batch of \(calls.count) calls on threads \(calls.map(\.thread))")
        }
        var b = native_batch()
        b.count = UInt32(calls.count)
        withUnsafeMutableBytes(of: &b.subs) { raw in
            let subs = raw.bindMemory(to: native_sub.self)
            for (i, c) in calls.enumerated() {
                subs[i] = native_sub(req: native_req(kind: c.kind, prot: c.prot, flags: c.flags, pad: 0,
                                                     off: c.offset, len: c.length, value: c.value),
                                     thread: UInt32(c.thread), pad: 0)
            }
        }
        var res = native_batch_res()
        let r = native_batch(&child, &b, &res, 10_000)
        if r != 0 {
            let status = native_stop(&child, 1000)
            throw Failure(description: "the native child stopped answering a batch (errno \(-r), wait status \(status))")
        }
        if res.status != 0 {
            throw Failure(description: "the native child could not run a batch (errno \(-res.status))")
        }
        return withUnsafeBytes(of: &res.res) { raw in
            let results = raw.bindMemory(to: native_sub_res.self)
            return calls.indices.map { i in
                let r = results[i]
                return TimedReply(reply: Self.reply(kind: calls[i].kind, status: r.status, err: r.err, sig: r.sig,
                                                    code: r.code, ret: r.ret, value: r.value, fault: r.fault_off),
                                  start: r.start_ns, end: r.end_ns)
            }
        }
    }

    /// Asks the child to exit and reaps it; returns its wait status.
    @discardableResult
    public func stop() -> Int32 { native_stop(&child, 1000) }
}
