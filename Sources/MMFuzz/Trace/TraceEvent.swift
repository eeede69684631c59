#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One line of a `perf script -F comm,pid,tid,time,event,trace` trace, in
/// the format of `shared/traces/README.md`:
///
/// ```
/// make 23492/23492 1028.282366:  syscalls:sys_enter_mprotect: start: 0x7f2209a44000, len: 0x00004000, prot: 0x00000001
/// ```
public struct TraceEvent: Hashable, Sendable {
    /// The line it came from (1-based).
    public var line: Int
    /// The thread group (process) of the task the event happened in.
    public var pid: Int32
    /// The task (thread).
    public var tid: Int32
    /// The timestamp in microseconds.
    public var time: UInt64
    public var kind: Kind
    /// The CPU the event happened on, when the trace has perf's `[CPU]`
    /// column (its default output); nil without it.
    public var cpu: Int?

    public init(line: Int, pid: Int32, tid: Int32, time: UInt64, kind: Kind, cpu: Int? = nil) {
        self.line = line
        self.pid = pid
        self.tid = tid
        self.time = time
        self.kind = kind
        self.cpu = cpu
    }

    /// The system calls the trace records.
    public enum Syscall: String, Hashable, Sendable, CaseIterable {
        case mmap, munmap, mprotect, mremap, madvise, brk
    }

    public enum Kind: Hashable, Sendable {
        /// `exceptions:page_fault_user` (`user`) or `page_fault_kernel`.
        case fault(user: Bool, address: UInt64, errorCode: UInt64)
        case enterMmap(addr: UInt64, length: UInt64, prot: UInt64, flags: UInt64, fd: UInt64)
        case enterMunmap(addr: UInt64, length: UInt64)
        case enterMprotect(addr: UInt64, length: UInt64, prot: UInt64)
        case enterMremap(addr: UInt64, oldLength: UInt64, newLength: UInt64, flags: UInt64)
        case enterMadvise(addr: UInt64, length: UInt64, advice: UInt64)
        case enterBrk(brk: UInt64)
        /// `syscalls:sys_exit_*`: the return value (a negative errno as a
        /// two's-complement word).
        case exit(Syscall, ret: UInt64)
        /// `task:task_newtask`: the current task created task `pid`.
        case newTask(pid: Int32, cloneFlags: UInt64)
        /// `sched:sched_process_fork`.
        case fork(parent: Int32, child: Int32)
        /// `sched:sched_process_exec`.
        case exec(pid: Int32)
        /// `sched:sched_process_exit`.
        case processExit(pid: Int32)
    }
}

extension TraceEvent.Kind {
    /// The perf event name, for messages.
    public var eventName: String {
        switch self {
        case .fault(let user, _, _): user ? "exceptions:page_fault_user" : "exceptions:page_fault_kernel"
        case .enterMmap: "syscalls:sys_enter_mmap"
        case .enterMunmap: "syscalls:sys_enter_munmap"
        case .enterMprotect: "syscalls:sys_enter_mprotect"
        case .enterMremap: "syscalls:sys_enter_mremap"
        case .enterMadvise: "syscalls:sys_enter_madvise"
        case .enterBrk: "syscalls:sys_enter_brk"
        case .exit(let s, _): "syscalls:sys_exit_\(s.rawValue)"
        case .newTask: "task:task_newtask"
        case .fork: "sched:sched_process_fork"
        case .exec: "sched:sched_process_exec"
        case .processExit: "sched:sched_process_exit"
        }
    }
}

/// Parses trace lines into ``TraceEvent``s; every error names the line.
public enum TraceParser {
    /// Parses one line; nil for a line to ignore (empty, or a `#` comment
    /// such as the header of a reproducer excerpt).
    ///
    /// Accepts the format of `shared/traces/README.md` (`COMM PID/TID
    /// TIME: EVENT: FIELDS`) and `perf script`'s default output, which has
    /// a `[CPU]` column after the task and may name the task by its TID
    /// alone (`COMM TID [CPU] TIME: ...`; the TID then stands for the
    /// PID too).  A CR before the line end (CRLF files) is ignored.
    public static func parse(_ line: UnsafeBufferPointer<UInt8>, number: Int) throws(TraceError) -> TraceEvent? {
        var line = line
        if line.last == 0x0D { line = UnsafeBufferPointer(rebasing: line.dropLast()) }
        var c = Cursor(bytes: line, line: number)
        c.skipSpaces()
        if c.atEnd || c.peek == UInt8(ascii: "#") { return nil }

        // COMM may contain spaces: the task is the first token after at
        // least one that is shaped PID/TID, or that is a TID followed by
        // a [CPU] token.
        var pid: Int32 = 0, tid: Int32 = 0
        var cpu: Int?
        var sawComm = false
        while true {
            guard let token = c.token() else {
                throw TraceError(line: number, "malformed line: no PID/TID field")
            }
            if sawComm {
                var after = c
                let column = after.token().flatMap(Self.cpuColumn)
                if let (p, t) = Self.pidTid(token) {
                    pid = p
                    tid = t
                    if let column {
                        cpu = column
                        c = after
                    }
                    break
                }
                if let column, let n = Self.number(token, radix: 10), let t = Int32(exactly: n) {
                    pid = t
                    tid = t
                    cpu = column
                    c = after
                    break
                }
            }
            sawComm = true
        }
        guard let timeToken = c.token(), timeToken.count >= 2, timeToken.last == UInt8(ascii: ":"),
              let time = Self.micros(UnsafeBufferPointer(rebasing: timeToken.dropLast())) else {
            throw TraceError(line: number, "malformed field: timestamp (expected SECONDS.MICROS:)")
        }
        guard let eventToken = c.token(), eventToken.count >= 2, eventToken.last == UInt8(ascii: ":") else {
            throw TraceError(line: number, "malformed line: no EVENT: field")
        }
        let event = UnsafeBufferPointer(rebasing: eventToken.dropLast())
        let fields = Fields(c.rest, line: number)
        let kind = try Self.kind(event, fields, number)
        return TraceEvent(line: number, pid: pid, tid: tid, time: time, kind: kind, cpu: cpu)
    }

    /// perf's `[003]` CPU column, or nil.
    private static func cpuColumn(_ t: UnsafeBufferPointer<UInt8>) -> Int? {
        guard t.count >= 3, t.first == UInt8(ascii: "["), t.last == UInt8(ascii: "]"),
              let n = number(UnsafeBufferPointer(rebasing: t.dropFirst().dropLast()), radix: 10),
              n < 1 << 16 else { return nil }
        return Int(n)
    }

    /// Parses a whole text (tests).
    public static func parse(text: String) throws(TraceError) -> [TraceEvent] {
        var out: [TraceEvent] = []
        var n = 0
        // By bytes: "\r\n" is one Character, which a split on "\n" misses.
        for line in text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false) {
            n += 1
            let bytes = Array(line)
            var failure: TraceError?
            let event = bytes.withUnsafeBufferPointer { b -> TraceEvent? in
                do throws(TraceError) {
                    return try parse(b, number: n)
                } catch {
                    failure = error
                    return nil
                }
            }
            if let failure { throw failure }
            if let event { out.append(event) }
        }
        return out
    }

    private static func kind(_ event: UnsafeBufferPointer<UInt8>, _ f: Fields,
                             _ number: Int) throws(TraceError) -> TraceEvent.Kind {
        func name() -> String { String(decoding: event, as: UTF8.self) }
        if let suffix = event.suffix(after: "exceptions:page_fault_") {
            let user: Bool
            switch suffix {
            case "user": user = true
            case "kernel": user = false
            default: throw TraceError(line: number, "unknown event '\(name())'")
            }
            return .fault(user: user, address: try f.hex("address", name()),
                          errorCode: try f.hex("error_code", name()))
        }
        if let suffix = event.suffix(after: "syscalls:sys_enter_") {
            switch suffix {
            case "mmap":
                return .enterMmap(addr: try f.hex("addr", name()), length: try f.hex("len", name()),
                                  prot: try f.hex("prot", name()), flags: try f.hex("flags", name()),
                                  fd: try f.hex("fd", name()))
            case "munmap":
                return .enterMunmap(addr: try f.hex("addr", name()), length: try f.hex("len", name()))
            case "mprotect":
                return .enterMprotect(addr: try f.hex("start", name()), length: try f.hex("len", name()),
                                      prot: try f.hex("prot", name()))
            case "mremap":
                return .enterMremap(addr: try f.hex("addr", name()), oldLength: try f.hex("old_len", name()),
                                    newLength: try f.hex("new_len", name()),
                                    flags: try f.hex("flags", name()))
            case "madvise":
                return .enterMadvise(addr: try f.hex("start", name()), length: try f.hex("len_in", name()),
                                     advice: try f.hex("behavior", name()))
            case "brk":
                return .enterBrk(brk: try f.hex("brk", name()))
            default:
                throw TraceError(line: number, "unknown event '\(name())'")
            }
        }
        if let suffix = event.suffix(after: "syscalls:sys_exit_") {
            guard let call = TraceEvent.Syscall(rawValue: suffix) else {
                throw TraceError(line: number, "unknown event '\(name())'")
            }
            return .exit(call, ret: try f.returnValue(name()))
        }
        if let suffix = event.suffix(after: "sched:sched_process_") {
            switch suffix {
            case "fork":
                return .fork(parent: try f.pid("pid", name()), child: try f.pid("child_pid", name()))
            case "exec":
                return .exec(pid: try f.pid("pid", name()))
            case "exit":
                return .processExit(pid: try f.pid("pid", name()))
            default:
                throw TraceError(line: number, "unknown event '\(name())'")
            }
        }
        if event.elementsEqual("task:task_newtask".utf8) {
            // clone_flags is hexadecimal without a prefix.
            return .newTask(pid: try f.pid("pid", name()), cloneFlags: try f.hex("clone_flags", name(), bare: true))
        }
        throw TraceError(line: number, "unknown event '\(name())'")
    }

    /// `23492/23492`.
    private static func pidTid(_ t: UnsafeBufferPointer<UInt8>) -> (Int32, Int32)? {
        guard let slash = t.firstIndex(of: UInt8(ascii: "/")) else { return nil }
        guard let p = number(UnsafeBufferPointer(rebasing: t[..<slash]), radix: 10),
              let q = number(UnsafeBufferPointer(rebasing: t[(slash + 1)...]), radix: 10),
              let pid = Int32(exactly: p), let tid = Int32(exactly: q) else { return nil }
        return (pid, tid)
    }

    /// `1028.282366` as microseconds.
    private static func micros(_ t: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard let dot = t.firstIndex(of: UInt8(ascii: ".")),
              let s = number(UnsafeBufferPointer(rebasing: t[..<dot]), radix: 10) else { return nil }
        let frac = UnsafeBufferPointer(rebasing: t[(dot + 1)...])
        guard frac.count >= 1, frac.count <= 9, var f = number(frac, radix: 10) else { return nil }
        var digits = frac.count
        while digits < 6 { f *= 10; digits += 1 }
        while digits > 6 { f /= 10; digits -= 1 }
        let (m, o1) = s.multipliedReportingOverflow(by: 1_000_000)
        let (r, o2) = m.addingReportingOverflow(f)
        return o1 || o2 ? nil : r
    }

    /// Digits in `radix`, no sign, no prefix, nil on anything else or
    /// overflow.
    static func number(_ t: UnsafeBufferPointer<UInt8>, radix: UInt64) -> UInt64? {
        guard !t.isEmpty, t.count <= 32 else { return nil }
        var v: UInt64 = 0
        for b in t {
            let d: UInt64
            switch b {
            case 0x30 ... 0x39: d = UInt64(b - 0x30)
            case 0x61 ... 0x66 where radix == 16: d = UInt64(b - 0x61 + 10)
            case 0x41 ... 0x46 where radix == 16: d = UInt64(b - 0x41 + 10)
            default: return nil
            }
            let (m, o1) = v.multipliedReportingOverflow(by: radix)
            let (a, o2) = m.addingReportingOverflow(d)
            if o1 || o2 { return nil }
            v = a
        }
        return v
    }
}

/// A position in a line.
private struct Cursor {
    let bytes: UnsafeBufferPointer<UInt8>
    let line: Int
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>, line: Int) {
        self.bytes = bytes
        self.line = line
    }

    var atEnd: Bool { i >= bytes.count }
    var peek: UInt8 { bytes[i] }

    mutating func skipSpaces() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
    }

    /// The next whitespace-separated token.
    mutating func token() -> UnsafeBufferPointer<UInt8>? {
        skipSpaces()
        guard i < bytes.count else { return nil }
        let start = i
        while i < bytes.count, bytes[i] != 0x20, bytes[i] != 0x09 { i += 1 }
        return UnsafeBufferPointer(rebasing: bytes[start ..< i])
    }

    var rest: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[min(i, bytes.count)...])
    }
}

/// An event's fields, in either of perf's spellings: `key: value, key:
/// value` (system calls) or `key=value key=value` (tracepoints); or a bare
/// value (a system call's return).
private struct Fields {
    let text: UnsafeBufferPointer<UInt8>
    let line: Int

    init(_ text: UnsafeBufferPointer<UInt8>, line: Int) {
        self.text = text
        self.line = line
    }

    /// The value of `key`, or nil when the line has no such field.
    func value(_ key: StaticString) -> UnsafeBufferPointer<UInt8>? {
        let k = UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        var i = 0
        let n = text.count
        while i < n {
            // At the start of a token?
            if i == 0 || text[i - 1] == 0x20 || text[i - 1] == 0x2C {
                if i + k.count < n, memcmp(text.baseAddress! + i, k.baseAddress!, k.count) == 0 {
                    var j = i + k.count
                    let sep = text[j]
                    if sep == UInt8(ascii: "=") || sep == UInt8(ascii: ":") {
                        j += 1
                        while j < n, text[j] == 0x20 { j += 1 }
                        let start = j
                        while j < n, text[j] != 0x20, text[j] != 0x2C { j += 1 }
                        return UnsafeBufferPointer(rebasing: text[start ..< j])
                    }
                }
            }
            i += 1
        }
        return nil
    }

    private func bad(_ key: StaticString, _ event: String, _ v: UnsafeBufferPointer<UInt8>?) -> TraceError {
        guard let v else {
            return TraceError(line: line, "malformed field: \(event) has no '\(key)' field")
        }
        return TraceError(line: line, "malformed field '\(key)' in \(event): '\(String(decoding: v, as: UTF8.self))'")
    }

    /// A number written `0x...` (or decimal); with `bare`, hexadecimal
    /// without a prefix.
    func hex(_ key: StaticString, _ event: String, bare: Bool = false) throws(TraceError) -> UInt64 {
        guard let v = value(key) else { throw bad(key, event, nil) }
        if let n = Self.word(v, bare: bare) { return n }
        throw bad(key, event, v)
    }

    func pid(_ key: StaticString, _ event: String) throws(TraceError) -> Int32 {
        guard let v = value(key) else { throw bad(key, event, nil) }
        if let n = TraceParser.number(v, radix: 10), let p = Int32(exactly: n) { return p }
        throw bad(key, event, v)
    }

    /// A system call's return: the only field, `0x...` or a signed
    /// decimal.
    func returnValue(_ event: String) throws(TraceError) -> UInt64 {
        var start = 0
        while start < text.count, text[start] == 0x20 { start += 1 }
        var end = text.count
        while end > start, text[end - 1] == 0x20 { end -= 1 }
        let v = UnsafeBufferPointer(rebasing: text[start ..< end])
        if v.first == UInt8(ascii: "-"),
           let n = TraceParser.number(UnsafeBufferPointer(rebasing: v.dropFirst()), radix: 10),
           n <= UInt64(Int64.max) {
            return UInt64(bitPattern: -Int64(n))
        }
        if let n = Self.word(v, bare: false) { return n }
        throw TraceError(line: line, "malformed field: the return value of \(event) is '\(String(decoding: v, as: UTF8.self))'")
    }

    static func word(_ v: UnsafeBufferPointer<UInt8>, bare: Bool) -> UInt64? {
        if bare { return TraceParser.number(v, radix: 16) }
        if v.count > 2, v[0] == UInt8(ascii: "0"), v[1] == UInt8(ascii: "x") || v[1] == UInt8(ascii: "X") {
            return TraceParser.number(UnsafeBufferPointer(rebasing: v[2...]), radix: 16)
        }
        return TraceParser.number(v, radix: 10)
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// What follows `prefix` as a small string, when the bytes start with it.
    fileprivate func suffix(after prefix: StaticString) -> String? {
        let n = prefix.utf8CodeUnitCount
        guard count >= n, memcmp(baseAddress!, prefix.utf8Start, n) == 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: self[n...]), as: UTF8.self)
    }
}
