#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The C library's values, under names that do not clash with the static
// members below.
private let c_EACCES = EACCES
private let c_EAGAIN = EAGAIN
private let c_EBADF = EBADF
private let c_EBUSY = EBUSY
private let c_EDEADLK = EDEADLK
private let c_EEXIST = EEXIST
private let c_EFAULT = EFAULT
private let c_EINTR = EINTR
private let c_EINVAL = EINVAL
private let c_ENODEV = ENODEV
private let c_ENOENT = ENOENT
private let c_ENOMEM = ENOMEM
private let c_ENOSYS = ENOSYS
private let c_EOPNOTSUPP = EOPNOTSUPP
private let c_EPERM = EPERM
private let c_ERANGE = ERANGE
private let c_ESRCH = ESRCH

/// A Linux errno returned by the simulated kernel (the C side returns it
/// negated).
///
/// Modelled on swift-system's `Errno`: a wrapper over the raw C value with a
/// static member for each code the machine uses, so callers write
/// `#expect(throws: Errno.EINVAL) { ... }` or `catch Errno.ENOMEM`.
public struct Errno: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The positive errno value.
    public let rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// Operation not permitted.
    public static let EPERM = Errno(rawValue: c_EPERM)
    /// No such file or directory (the simulator: nothing there).
    public static let ENOENT = Errno(rawValue: c_ENOENT)
    /// No such process (the simulator: unknown mm id).
    public static let ESRCH = Errno(rawValue: c_ESRCH)
    /// Interrupted system call.
    public static let EINTR = Errno(rawValue: c_EINTR)
    /// Bad file descriptor (mmap without MAP_ANONYMOUS: there is no file).
    public static let EBADF = Errno(rawValue: c_EBADF)
    /// Try again.
    public static let EAGAIN = Errno(rawValue: c_EAGAIN)
    /// Out of memory.
    public static let ENOMEM = Errno(rawValue: c_ENOMEM)
    /// Permission denied.
    public static let EACCES = Errno(rawValue: c_EACCES)
    /// Bad address.
    public static let EFAULT = Errno(rawValue: c_EFAULT)
    /// Device or resource busy.
    public static let EBUSY = Errno(rawValue: c_EBUSY)
    /// Resource deadlock would occur (a concurrent batch deadlocked).
    public static let EDEADLK = Errno(rawValue: c_EDEADLK)
    /// File exists.
    public static let EEXIST = Errno(rawValue: c_EEXIST)
    /// No such device.
    public static let ENODEV = Errno(rawValue: c_ENODEV)
    /// Invalid argument.
    public static let EINVAL = Errno(rawValue: c_EINVAL)
    /// Result too large.
    public static let ERANGE = Errno(rawValue: c_ERANGE)
    /// Function not implemented.
    public static let ENOSYS = Errno(rawValue: c_ENOSYS)
    /// Operation not supported.
    public static let EOPNOTSUPP = Errno(rawValue: c_EOPNOTSUPP)

    /// The symbolic name, such as `EINVAL`, or `errno N` for a code this
    /// type has no member for.
    public var name: String {
        Self.names[rawValue] ?? "errno \(rawValue)"
    }

    /// `EINVAL (Invalid argument)`.
    public var description: String {
        guard let text = strerror(rawValue) else { return name }
        return "\(name) (\(String(cString: text)))"
    }

    private static let names: [Int32: String] = [
        c_EPERM: "EPERM", c_ENOENT: "ENOENT", c_ESRCH: "ESRCH",
        c_EINTR: "EINTR", c_EBADF: "EBADF", c_EAGAIN: "EAGAIN",
        c_ENOMEM: "ENOMEM", c_EACCES: "EACCES", c_EFAULT: "EFAULT",
        c_EBUSY: "EBUSY", c_EDEADLK: "EDEADLK", c_EEXIST: "EEXIST", c_ENODEV: "ENODEV",
        c_EINVAL: "EINVAL", c_ERANGE: "ERANGE", c_ENOSYS: "ENOSYS",
        c_EOPNOTSUPP: "EOPNOTSUPP",
    ]
}

extension Errno {
    /// Maps a C return value: 0 and positive values pass through, a
    /// negative one becomes the matching errno.
    @inline(__always)
    static func check(_ ret: Int32) throws(Errno) -> Int32 {
        if ret < 0 {
            throw Errno(rawValue: -ret)
        }
        return ret
    }
}
