#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MMModel

/// What this machine's kernel says about a process, read from `/proc` by
/// the parent (the child only makes the calls it is asked to): the
/// mappings of `/proc/PID/maps`, the resident set of `/proc/PID/smaps`,
/// the page table entries of `/proc/PID/pagemap`, the page flags of
/// `/proc/kpageflags`, and the event counters of `/proc/vmstat`.  Every
/// read returns nil where the file cannot be read (not Linux, the process
/// gone, not privileged).
enum NativeHost {
    /// One vma (a line of `/proc/PID/maps`), in the process's addresses.
    struct Vma: Hashable, Sendable {
        var start: UInt64
        var end: UInt64
        /// PROT_* bits of its `rwx` letters, as the kernel's vm_flags
        /// have them (PROT_WRITE alone reads `-w-`).
        var prot: Int32
        /// `s`: MAP_SHARED.
        var shared: Bool
    }

    /// Reads `count` bytes at `offset` of `path` (a pagemap or the page
    /// flags: files of fixed-size records indexed by page).
    static func bytes(of path: String, at offset: UInt64, count: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return bytes(fd: fd, at: offset, count: count)
    }

    static func bytes(fd: Int32, at offset: UInt64, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, count - done, off_t(offset + UInt64(done)))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { return nil }
            done += n
        }
        return out
    }

    /// Whether the line at `line` of `text` starts with `key`.
    private static func starts(_ text: [UInt8], _ line: Range<Int>, with key: [UInt8]) -> Bool {
        guard line.count >= key.count else { return false }
        var k = 0
        while k < key.count {
            if text[line.lowerBound + k] != key[k] { return false }
            k += 1
        }
        return true
    }

    /// The value of a hex digit, or nil.
    private static func hexDigit(_ c: UInt8) -> UInt64? {
        switch c {
        case UInt8(ascii: "0") ... UInt8(ascii: "9"): UInt64(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a") ... UInt8(ascii: "f"): UInt64(c - UInt8(ascii: "a") + 10)
        default: nil
        }
    }

    /// The vma of a maps (or smaps header) line, or nil when the line is
    /// not one: `start-end rwxp ...`.
    private static func vma(_ text: [UInt8], _ line: Range<Int>) -> Vma? {
        var i = line.lowerBound
        func hex() -> UInt64? {
            var v: UInt64 = 0, digits = 0
            while i < line.upperBound, let d = hexDigit(text[i]) {
                v = v << 4 | d
                digits += 1
                i += 1
            }
            return digits == 0 ? nil : v
        }
        guard let start = hex(), i < line.upperBound, text[i] == UInt8(ascii: "-") else { return nil }
        i += 1
        guard let end = hex(), i + 4 < line.upperBound, text[i] == UInt8(ascii: " ") else { return nil }
        var prot: Int32 = 0
        if text[i + 1] == UInt8(ascii: "r") { prot |= Prot.read.rawValue }
        if text[i + 2] == UInt8(ascii: "w") { prot |= Prot.write.rawValue }
        if text[i + 3] == UInt8(ascii: "x") { prot |= Prot.exec.rawValue }
        return Vma(start: start, end: end, prot: prot, shared: text[i + 4] == UInt8(ascii: "s"))
    }

    /// The vmas of process `pid` that meet [from, to), in address order.
    static func vmas(pid: Int32, from: UInt64, to: UInt64) -> [Vma]? {
        var out: [Vma] = []
        let read = scan("/proc/\(pid)/maps") { text, line in
            guard let v = vma(text, line) else { return true }
            if v.start >= to { return false }
            if v.end > from { out.append(v) }
            return true
        }
        return read ? out : nil
    }

    /// Calls `body` with each line of `path` (the text, the line's range)
    /// as it is read, until `body` answers false or the file ends; false
    /// when the file cannot be read.  procfs makes files such as smaps as
    /// they are read (each vma's page tables walked for its figures), so
    /// stopping early saves the making of the rest.
    static func scan(_ path: String, _ body: ([UInt8], Range<Int>) -> Bool) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var eof = false
        while !eof {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            eof = n == 0
            text.append(contentsOf: chunk[0 ..< n])
            // The complete lines read so far (and the last one at the end).
            var lineStart = 0
            var i = 0
            while i < text.count {
                let newline = text[i] == 10
                guard newline || (eof && i == text.count - 1) else {
                    i += 1
                    continue
                }
                let line = lineStart ..< (newline ? i : i + 1)
                i += 1
                lineStart = i
                if !line.isEmpty, !body(text, line) { return true }
            }
            text.removeFirst(lineStart)
        }
        return true
    }

    /// The sum of the `Rss:` of the vmas of `pid` that meet [from, to), in
    /// kB (the vmas must lie inside: a vma straddling the range would
    /// bring pages from outside it).  Read no further than the first vma
    /// past `to`: the arena is mapped after the fork, below every mapping
    /// the child inherited but the executable's and the brk heap, so what
    /// lies above it is never made.
    static func rss(pid: Int32, from: UInt64, to: UInt64) -> Int? {
        let key = Array("Rss:".utf8)
        var inside = false
        var total = 0
        var bad = false
        let read = scan("/proc/\(pid)/smaps") { text, line in
            if hexDigit(text[line.lowerBound]) != nil {
                guard let v = vma(text, line) else {
                    bad = true
                    return false
                }
                if v.start >= to { return false }
                inside = v.start < to && v.end > from
                return true
            }
            guard inside, starts(text, line, with: key) else { return true }
            var kb = 0
            var k = line.lowerBound + key.count
            while k < line.upperBound {
                let c = text[k]
                if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") { kb = kb * 10 + Int(c - UInt8(ascii: "0")) }
                k += 1
            }
            total += kb
            return true
        }
        return read && !bad ? total : nil
    }

    /// The first 64-bit word of each page at `addresses` of `pid`, read
    /// through `/proc/PID/mem`, one pread of each run of consecutive
    /// pages (up to 2 MiB).  `/proc/PID/mem` reads by get_user_pages with
    /// FOLL_FORCE: it would fault a missing page in, so give it present
    /// pages only.  Not process_vm_readv(2): it pins the pages
    /// (FOLL_PIN), and pinning a page shared copy-on-write unshares it,
    /// which would change the frames the checkpoint is comparing.
    static func firstWords(pid: Int32, _ addresses: [UInt64]) -> [UInt64: UInt64]? {
        let fd = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let sorted = addresses.sorted()
        var out: [UInt64: UInt64] = [:]
        var i = 0
        while i < sorted.count {
            var j = i + 1
            while j < sorted.count, sorted[j] == sorted[j - 1] + 4096, j - i < 512 { j += 1 }
            guard let b = bytes(fd: fd, at: sorted[i], count: (j - i) * 4096) else { return nil }
            b.withUnsafeBytes { raw in
                for k in 0 ..< j - i {
                    out[sorted[i + k]] = raw.load(fromByteOffset: k * 4096, as: UInt64.self)
                }
            }
            i = j
        }
        return out
    }

    /// Bits of a pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
    enum Pagemap {
        static let present: UInt64 = 1 << 63
        static let swapped: UInt64 = 1 << 62
        /// A file page or shared anonymous (shmem) page; also set for
        /// the huge zero page.
        static let file: UInt64 = 1 << 61
        /// The page is mapped once (page mapcount 1).
        static let exclusive: UInt64 = 1 << 56
        /// Bits 0-54: the page frame number, when present (zero unless
        /// the reader has CAP_SYS_ADMIN).
        static let pfnMask: UInt64 = (1 << 55) - 1
    }

    /// The pagemap entries of `pages` pages of `pid` from `address`.
    static func pagemap(pid: Int32, address: UInt64, pages: Int) -> [UInt64]? {
        guard let bytes = bytes(of: "/proc/\(pid)/pagemap", at: (address >> 12) * 8, count: pages * 8) else {
            return nil
        }
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
    }

    /// Bits of `/proc/kpageflags` (include/uapi/linux/kernel-page-flags.h).
    enum PageFlags {
        static let compoundHead: UInt64 = 1 << 15
        static let compoundTail: UInt64 = 1 << 16
        /// A page of a transparent huge page (or of the huge zero page).
        static let thp: UInt64 = 1 << 22
        /// The zero page or a page of the huge zero page.
        static let zeroPage: UInt64 = 1 << 24
    }

    /// `/proc/kpageflags`, open for the life of the process (root only),
    /// or -1.
    static let pageFlagsFD: Int32 = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC)

    /// The page flags of `pfns`, by pfn; nil when `/proc/kpageflags`
    /// cannot be read.  Runs of consecutive frames are read at once.
    static func pageFlags(_ pfns: Set<UInt64>) -> [UInt64: UInt64]? {
        guard pageFlagsFD >= 0 else { return nil }
        var out: [UInt64: UInt64] = [:]
        let sorted = pfns.sorted()
        var i = 0
        while i < sorted.count {
            var j = i + 1
            while j < sorted.count, sorted[j] == sorted[j - 1] + 1, j - i < 4096 { j += 1 }
            guard let bytes = bytes(fd: pageFlagsFD, at: sorted[i] * 8, count: (j - i) * 8) else { return nil }
            bytes.withUnsafeBytes { raw in
                for (k, flags) in raw.bindMemory(to: UInt64.self).enumerated() { out[sorted[i + k]] = flags }
            }
            i = j
        }
        return out
    }

    /// The counter `name` of `/proc/vmstat`.
    static func vmstat(_ name: String) -> UInt64? {
        let key = Array((name + " ").utf8)
        var value: UInt64?
        _ = scan("/proc/vmstat") { text, line in
            guard starts(text, line, with: key) else { return true }
            value = UInt64(String(decoding: text[line.lowerBound + key.count ..< line.upperBound], as: UTF8.self))
            return false
        }
        return value
    }
}
