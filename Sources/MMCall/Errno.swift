/// A Linux errno returned by the simulated kernel (the C side returns it
/// negated).
///
/// Modelled on swift-system's `Errno`: a wrapper over the raw value with a
/// static member for each code the machine returns, so callers write
/// `#expect(throws: Errno.EINVAL) { ... }` or `catch Errno.ENOMEM`.  The
/// values are Linux's, as `mmsim.h` states them (`MMSIM_E*`), whatever the
/// host: the model predicts them and the machine returns them (MMSimTests
/// checks the two lists are one).
public struct Errno: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The positive errno value.
    public let rawValue: Int32

    @inlinable
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// No such file or directory (the simulator: nothing there).
    @inlinable public static var ENOENT: Errno { Errno(rawValue: 2) }
    /// No such process (the simulator: unknown mm id).
    @inlinable public static var ESRCH: Errno { Errno(rawValue: 3) }
    /// Bad file descriptor (mmap without MAP_ANONYMOUS: there is no file).
    @inlinable public static var EBADF: Errno { Errno(rawValue: 9) }
    /// Out of memory.
    @inlinable public static var ENOMEM: Errno { Errno(rawValue: 12) }
    /// Bad address (a user access: the task would get SIGSEGV).
    @inlinable public static var EFAULT: Errno { Errno(rawValue: 14) }
    /// Device or resource busy.
    @inlinable public static var EBUSY: Errno { Errno(rawValue: 16) }
    /// Invalid argument.
    @inlinable public static var EINVAL: Errno { Errno(rawValue: 22) }
    /// Resource deadlock would occur (a concurrent batch deadlocked).
    @inlinable public static var EDEADLK: Errno { Errno(rawValue: 35) }

    /// Every code the machine returns.
    public static let all: [Errno] = [.ENOENT, .ESRCH, .EBADF, .ENOMEM, .EFAULT, .EBUSY, .EINVAL, .EDEADLK]

    private static let texts: [Int32: (String, String)] = [
        2: ("ENOENT", "No such file or directory"), 3: ("ESRCH", "No such process"),
        9: ("EBADF", "Bad file descriptor"), 12: ("ENOMEM", "Cannot allocate memory"),
        14: ("EFAULT", "Bad address"), 16: ("EBUSY", "Device or resource busy"),
        22: ("EINVAL", "Invalid argument"), 35: ("EDEADLK", "Resource deadlock avoided"),
    ]

    /// The symbolic name, such as `EINVAL`, or `errno N` for a code this
    /// type has no member for.
    public var name: String {
        Self.texts[rawValue]?.0 ?? "errno \(rawValue)"
    }

    /// `EINVAL (Invalid argument)`.
    public var description: String {
        guard let (name, text) = Self.texts[rawValue] else { return name }
        return "\(name) (\(text))"
    }
}

extension Errno {
    /// Maps a C return value: 0 and positive values pass through, a
    /// negative one becomes the matching errno.
    @inlinable
    public static func check(_ ret: Int32) throws(Errno) -> Int32 {
        if ret < 0 {
            throw Errno(rawValue: -ret)
        }
        return ret
    }
}
