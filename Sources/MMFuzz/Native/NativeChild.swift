import CNative

/// The thin Swift face of `Sources/CNative`: one child process that makes
/// real system calls and user accesses inside its arena (64 GiB of address
/// space), one request at a time over a socket pair.  Addresses are
/// offsets into the arena; the child refuses any range that would leave it.
/// ``fork()`` makes another child, a copy-on-write copy of this one's
/// arena; every child is stopped (and reaped) by ``stop()`` or when it is
/// released.
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
        switch UInt32(res.status) {
        case NATIVE_OK.rawValue: return .ok(kind == 6 ? res.value : res.ret)
        case NATIVE_ERRNO.rawValue: return .errno(res.err)
        case NATIVE_FAULT.rawValue: return .fault(signal: res.sig, code: res.code, offset: res.fault_off)
        default: return .refused
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

    /// Asks the child to exit and reaps it; returns its wait status.
    @discardableResult
    public func stop() -> Int32 { native_stop(&child, 1000) }
}
