#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLzma

/// Bad trace input: what is wrong and, when it is about a line, which one.
/// `mmfuzz trace` prints it and exits with status 2.
public struct TraceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The 1-based line number, or nil for a problem with the file itself.
    public var line: Int?
    public var message: String

    public init(line: Int?, _ message: String) {
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "line \(line): \(message)" }
        return message
    }
}

/// Where a trace's bytes come from: a file, or bytes in memory (tests, and
/// checking that a reproducer still fails).
public enum TraceSource: Sendable, Hashable {
    case file(String)
    case bytes([UInt8])

    /// The path that means standard input.
    public static let standardInput = "-"

    /// A name for messages.
    public var name: String {
        switch self {
        case .file(let path): path == Self.standardInput ? "standard input" : path
        case .bytes(let b): "<\(b.count) bytes in memory>"
        }
    }
}

/// Reads a trace one line at a time in constant memory, from a plain text
/// file or an xz-compressed one (told apart by the xz magic bytes, not by
/// the file name), decompressing with liblzma's stream decoder as it goes.
///
/// Used from one task at a time.  A line handed out is valid until the next
/// call to ``nextLine()``.
public final class TraceLineReader {
    /// The longest line accepted, in bytes.
    public static let maxLineLength = 1 << 16

    private static let xzMagic: [UInt8] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]
    private static let chunk = 1 << 16

    private let source: TraceSource
    private var fd: Int32 = -1
    private var memoryOffset = 0
    private var rawEOF = false

    /// Decompressed (or plain) text: lines are cut from `[head, tail)`.
    private let buf: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var head = 0
    private var tail = 0
    private var textEOF = false

    /// Compressed input waiting for the decoder.
    private let inBuf: UnsafeMutablePointer<UInt8>
    private var stream: UnsafeMutablePointer<lzma_stream>?

    /// The number of the line last returned (1-based); 0 before the first.
    public private(set) var lineNumber = 0

    /// Opens `source`.  Throws when the file cannot be opened or read, or
    /// when an xz stream cannot be set up.
    public init(_ source: TraceSource) throws(TraceError) {
        self.source = source
        capacity = Self.maxLineLength + Self.chunk
        buf = .allocate(capacity: capacity)
        inBuf = .allocate(capacity: Self.chunk)
        if case .file(let path) = source, path == TraceSource.standardInput {
            fd = dup(STDIN_FILENO)
            if fd < 0 {
                throw TraceError(line: nil, "cannot read standard input: \(String(cString: strerror(errno)))")
            }
        } else if case .file(let path) = source {
            fd = open(path, O_RDONLY)
            if fd < 0 {
                let reason = String(cString: strerror(errno))
                throw TraceError(line: nil, "cannot open \(path): \(reason)")
            }
        }
        // Sniff the magic: the first raw bytes go to the decoder's input
        // when the file is xz, to the text buffer otherwise.
        let n = try readRaw(into: inBuf, max: Self.chunk)
        if n >= Self.xzMagic.count,
           (0 ..< Self.xzMagic.count).allSatisfy({ inBuf[$0] == Self.xzMagic[$0] }) {
            let s = UnsafeMutablePointer<lzma_stream>.allocate(capacity: 1)
            s.initialize(to: lzma_stream())
            let ret = lzma_stream_decoder(s, UInt64.max, 0x08 /* LZMA_CONCATENATED, a macro Swift cannot import */)
            guard ret == LZMA_OK else {
                s.deallocate()
                throw TraceError(line: nil, "\(source.name): cannot start the xz decoder (liblzma error \(ret.rawValue))")
            }
            s.pointee.next_in = UnsafePointer(inBuf)
            s.pointee.avail_in = n
            stream = s
        } else {
            buf.update(from: inBuf, count: n)
            tail = n
            if n == 0 { textEOF = true }
        }
    }

    deinit {
        if let stream {
            lzma_end(stream)
            stream.deallocate()
        }
        if fd >= 0 { close(fd) }
        buf.deallocate()
        inBuf.deallocate()
    }

    /// Whether the input is xz-compressed.
    public var isCompressed: Bool { stream != nil }

    /// The next line without its newline, or nil at the end of the input.
    ///
    /// Throws for a read error, a corrupt or truncated xz stream, a file
    /// that ends in the middle of a line (no final newline: a truncated
    /// file), and a line longer than ``maxLineLength``.
    public func nextLine() throws(TraceError) -> UnsafeBufferPointer<UInt8>? {
        while true {
            let count = tail - head
            if count > 0, let nl = memchr(buf + head, 0x0A, count) {
                let end = nl.assumingMemoryBound(to: UInt8.self) - buf
                let line = UnsafeBufferPointer(start: buf + head, count: end - head)
                head = end + 1
                lineNumber += 1
                return line
            }
            if textEOF {
                if count == 0 { return nil }
                throw TraceError(line: lineNumber + 1,
                                 "truncated: the trace ends in the middle of a line (no final newline)")
            }
            if count >= Self.maxLineLength {
                throw TraceError(line: lineNumber + 1, "longer than \(Self.maxLineLength) bytes")
            }
            try refill()
        }
    }

    /// Moves the partial line to the front and appends more text.
    private func refill() throws(TraceError) {
        if head > 0 {
            let count = tail - head
            if count > 0 { memmove(buf, buf + head, count) }
            head = 0
            tail = count
        }
        let room = capacity - tail
        guard let s = stream else {
            let n = try readRaw(into: buf + tail, max: room)
            if n == 0 { textEOF = true }
            tail += n
            return
        }
        while true {
            if s.pointee.avail_in == 0, !rawEOF {
                let n = try readRaw(into: inBuf, max: Self.chunk)
                s.pointee.next_in = UnsafePointer(inBuf)
                s.pointee.avail_in = n
            }
            s.pointee.next_out = buf + tail
            s.pointee.avail_out = room
            let ret = lzma_code(s, rawEOF && s.pointee.avail_in == 0 ? LZMA_FINISH : LZMA_RUN)
            let produced = room - s.pointee.avail_out
            tail += produced
            switch ret {
            case LZMA_OK:
                if produced > 0 { return }
            case LZMA_STREAM_END:
                textEOF = true
                return
            case LZMA_BUF_ERROR:
                // No progress possible: the input ended inside the stream.
                throw TraceError(line: lineNumber + 1, "truncated xz stream: the compressed file ends before its end marker")
            case LZMA_DATA_ERROR:
                throw TraceError(line: lineNumber + 1, "corrupt xz stream (liblzma: data error)")
            case LZMA_FORMAT_ERROR:
                throw TraceError(line: lineNumber + 1, "corrupt xz stream (liblzma: not in the .xz format)")
            case LZMA_OPTIONS_ERROR:
                throw TraceError(line: lineNumber + 1, "corrupt xz stream (liblzma: unsupported options)")
            case LZMA_MEM_ERROR, LZMA_MEMLIMIT_ERROR:
                throw TraceError(line: lineNumber + 1, "xz decoder out of memory")
            default:
                throw TraceError(line: lineNumber + 1, "corrupt xz stream (liblzma error \(ret.rawValue))")
            }
        }
    }

    /// Reads up to `max` raw (possibly compressed) bytes; 0 at the end.
    private func readRaw(into p: UnsafeMutablePointer<UInt8>, max: Int) throws(TraceError) -> Int {
        if rawEOF { return 0 }
        switch source {
        case .bytes(let bytes):
            let n = min(max, bytes.count - memoryOffset)
            if n > 0 {
                bytes.withUnsafeBufferPointer { b in
                    p.update(from: b.baseAddress! + memoryOffset, count: n)
                }
            }
            memoryOffset += n
            if n == 0 { rawEOF = true }
            return n
        case .file(let path):
            while true {
                let n = read(fd, p, max)
                if n > 0 { return n }
                if n == 0 {
                    rawEOF = true
                    return 0
                }
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                throw TraceError(line: lineNumber + 1, "reading \(path): \(reason)")
            }
        }
    }
}
