import MMSim
import Testing

/// Bad input gets Linux 2.6.16's errno, never a crash, and leaves the
/// machine clean.
@Suite struct BadInputTests {
    static let top = Machine.taskSize
    /// A page-aligned address well inside user space, free in a new mm.
    static let low: UInt64 = 0x1000_0000

    struct MmapCase: CustomTestStringConvertible, Sendable {
        var name: String
        var addr: UInt64 = 0
        var length: UInt64 = page
        var prot: Prot = .readWrite
        var flags: MapFlags = .anonymousPrivate
        var error: Errno
        var testDescription: String { name }
    }

    static let mmapCases: [MmapCase] = [
        MmapCase(name: "zero length", length: 0, error: .EINVAL),
        MmapCase(name: "MAP_FIXED at an unaligned address", addr: low + 8,
                 flags: [.anonymousPrivate, .fixed], error: .EINVAL),
        MmapCase(name: "MAP_FIXED across TASK_SIZE", addr: top - page, length: 2 * page,
                 flags: [.anonymousPrivate, .fixed], error: .ENOMEM),
        MmapCase(name: "MAP_FIXED at TASK_SIZE", addr: top,
                 flags: [.anonymousPrivate, .fixed], error: .ENOMEM),
        MmapCase(name: "MAP_FIXED past TASK_SIZE", addr: 0xffff_8000_0000_0000,
                 flags: [.anonymousPrivate, .fixed], error: .ENOMEM),
        MmapCase(name: "longer than user space", length: top + page, error: .ENOMEM),
        MmapCase(name: "length that wraps when page-aligned", length: UInt64.max - 100, error: .ENOMEM),
        MmapCase(name: "neither MAP_SHARED nor MAP_PRIVATE", flags: .anonymous, error: .EINVAL),
        MmapCase(name: "both MAP_SHARED and MAP_PRIVATE",
                 flags: [.shared, .private, .anonymous], error: .EINVAL),
        MmapCase(name: "no MAP_ANONYMOUS", flags: .private, error: .EBADF),
        MmapCase(name: "unknown flag bit", flags: [.anonymousPrivate, MapFlags(rawValue: 0x4000_0000)],
                 error: .EINVAL),
        MmapCase(name: "negative flags", flags: MapFlags(rawValue: -1), error: .EINVAL),
        MmapCase(name: "unknown prot bit", prot: Prot(rawValue: 0x10), error: .EINVAL),
        MmapCase(name: "negative prot", prot: Prot(rawValue: Int32.min), error: .EINVAL),
    ]

    @Test(arguments: mmapCases)
    func mmapRejects(c: MmapCase) throws {
        let m = try makeMachine()
        let mm = try m.newMM()
        #expect(throws: c.error) {
            try m.mmap(cpu: 1, mm: mm, addr: c.addr, length: c.length, prot: c.prot, flags: c.flags)
        }
        #expect(try m.vmas(of: mm).isEmpty)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test func mmapAcceptsWhatLinuxAccepts() throws {
        let m = try makeMachine()
        let mm = try m.newMM()
        // An unaligned length is rounded up to a page.
        let a = try m.mmap(cpu: 0, mm: mm, length: 100, prot: rw, flags: .anonymousPrivate)
        #expect(a % page == 0)
        #expect(try m.vmas(of: mm).first { $0.start == a }?.length == page)
        // MAP_FIXED right below TASK_SIZE, and over an existing mapping.
        let high = try m.mmap(cpu: 0, mm: mm, addr: Self.top - page, length: page, prot: .read,
                              flags: [.anonymousPrivate, .fixed])
        #expect(high == Self.top - page)
        let fixed = try m.mmap(cpu: 0, mm: mm, addr: Self.low, length: 4 * page, prot: rw,
                               flags: [.anonymousShared, .fixed])
        #expect(fixed == Self.low)
        try put(m, cpu: 2, mm: mm, fixed + page, 1)
        let over = try m.mmap(cpu: 1, mm: mm, addr: Self.low + page, length: page, prot: rw,
                              flags: [.anonymousPrivate, .fixed])
        #expect(over == Self.low + page)
        #expect(try m.load(cpu: 2, mm: mm, addr: fixed + page) == .ok(0))
        #expect(try m.vmas(of: mm).filter { $0.start >= Self.low && $0.end <= Self.low + 4 * page }.count == 3)
        // Tolerated flags and PROT_NONE.
        _ = try m.mmap(cpu: 0, mm: mm, length: page, prot: .none,
                       flags: [.anonymousPrivate, .noReserve, .denyWrite, .stack])
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    struct RangeCase: CustomTestStringConvertible, Sendable {
        var name: String
        var addr: UInt64
        var length: UInt64
        /// nil: the call succeeds.
        var error: Errno?
        var testDescription: String { name }
    }

    /// Ranges relative to a 5-page mapping at `low` with a hole at page 2
    /// (pages 0-1 and 3-4 mapped).
    static let munmapCases: [RangeCase] = [
        RangeCase(name: "unaligned address", addr: low + 1, length: page, error: .EINVAL),
        RangeCase(name: "zero length", addr: low, length: 0, error: .EINVAL),
        RangeCase(name: "wrapping range", addr: low, length: UInt64.max - low, error: .EINVAL),
        RangeCase(name: "length that wraps when page-aligned", addr: low, length: UInt64.max, error: .EINVAL),
        RangeCase(name: "across TASK_SIZE", addr: top - page, length: 2 * page, error: .EINVAL),
        RangeCase(name: "past TASK_SIZE", addr: top + page, length: page, error: .EINVAL),
        RangeCase(name: "over the hole", addr: low, length: 5 * page, error: nil),
        RangeCase(name: "unmapped range", addr: low + 64 * page, length: page, error: nil),
        RangeCase(name: "unaligned length", addr: low, length: 1, error: nil),
    ]

    static let mprotectCases: [RangeCase] = [
        RangeCase(name: "unaligned address", addr: low + 1, length: page, error: .EINVAL),
        RangeCase(name: "zero length", addr: low, length: 0, error: nil),
        RangeCase(name: "zero length, unmapped", addr: low + 2 * page, length: 0, error: nil),
        RangeCase(name: "wrapping range", addr: low, length: UInt64.max - low, error: .ENOMEM),
        RangeCase(name: "over the hole", addr: low, length: 5 * page, error: .ENOMEM),
        RangeCase(name: "unmapped range", addr: low + 64 * page, length: page, error: .ENOMEM),
        RangeCase(name: "across TASK_SIZE", addr: top - page, length: 2 * page, error: .ENOMEM),
        RangeCase(name: "inside a mapping", addr: low, length: 2 * page, error: nil),
        RangeCase(name: "unaligned length", addr: low + 3 * page, length: 5, error: nil),
    ]

    static let madviseCases: [RangeCase] = [
        RangeCase(name: "unaligned address", addr: low + 1, length: page, error: .EINVAL),
        RangeCase(name: "zero length", addr: low, length: 0, error: nil),
        RangeCase(name: "wrapping range", addr: low, length: UInt64.max - low, error: .EINVAL),
        RangeCase(name: "over the hole", addr: low, length: 5 * page, error: .ENOMEM),
        RangeCase(name: "unmapped range", addr: low + 64 * page, length: page, error: .ENOMEM),
        RangeCase(name: "inside a mapping", addr: low, length: 2 * page, error: nil),
    ]

    /// The mapping with a hole that the range cases refer to, each page
    /// stored to.
    static func mappingWithHole(_ m: Machine) throws -> MMID {
        let mm = try m.newMM()
        _ = try m.mmap(cpu: 0, mm: mm, addr: low, length: 5 * page, prot: rw,
                       flags: [.anonymousPrivate, .fixed])
        for p in 0 ..< UInt64(5) {
            try put(m, cpu: Int(p % 4), mm: mm, low + p * page, p + 1)
        }
        try m.munmap(cpu: 0, mm: mm, addr: low + 2 * page, length: page)
        return mm
    }

    /// `body` succeeds when `expected` is nil, and throws `expected`
    /// otherwise.
    static func expect(_ expected: Errno?, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () throws -> Void) {
        do {
            try body()
            #expect(expected == nil, "expected \(expected!), got success", sourceLocation: sourceLocation)
        } catch {
            #expect(error as? Errno == expected, sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: munmapCases)
    func munmap(c: RangeCase) throws {
        let m = try makeMachine()
        let mm = try Self.mappingWithHole(m)
        Self.expect(c.error) {
            try m.munmap(cpu: 1, mm: mm, addr: c.addr, length: c.length)
        }
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: mprotectCases)
    func mprotect(c: RangeCase) throws {
        let m = try makeMachine()
        let mm = try Self.mappingWithHole(m)
        let before = try m.vmas(of: mm)
        Self.expect(c.error) {
            try m.mprotect(cpu: 1, mm: mm, addr: c.addr, length: c.length, prot: .read)
        }
        if c.error == .EINVAL {
            // Rejected before any vma is looked at.  (ENOMEM for a hole
            // comes after the vmas before it changed, as in Linux.)
            #expect(try m.vmas(of: mm) == before)
        }
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: madviseCases)
    func madvise(c: RangeCase) throws {
        let m = try makeMachine()
        let mm = try Self.mappingWithHole(m)
        Self.expect(c.error) {
            try m.madvise(cpu: 1, mm: mm, addr: c.addr, length: c.length, advice: .dontneed)
        }
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: [Int32(0), 1, 2, 3, 5, 9, 100, -1, Int32.min])
    func unknownAdvice(advice: Int32) throws {
        let m = try makeMachine()
        let mm = try Self.mappingWithHole(m)
        // MADV_NORMAL..MADV_WILLNEED (0-3) are valid in Linux, but this
        // simulator implements only MADV_DONTNEED: anything else is EINVAL
        // unless it does what Linux does.
        do {
            try m.madvise(cpu: 0, mm: mm, addr: Self.low, length: page, advice: Advice(rawValue: advice))
            #expect((0 ... 3).contains(advice), "advice \(advice) accepted")
        } catch {
            #expect(error == .EINVAL)
        }
        #expect(try m.load(cpu: 0, mm: mm, addr: Self.low) == .ok(1))
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test func mprotectRejectsUnknownProt() throws {
        let m = try makeMachine()
        let mm = try Self.mappingWithHole(m)
        // (0x8 is PROT_SEM, which 2.6.16 accepted; these are unknown.)
        for prot in [Prot(rawValue: 0x10), Prot(rawValue: 0x40 | 0x1), Prot(rawValue: -1)] {
            #expect(throws: Errno.EINVAL) {
                try m.mprotect(cpu: 0, mm: mm, addr: Self.low, length: page, prot: prot)
            }
        }
        #expect(try m.vmas(of: mm).allSatisfy { $0.prot == rw })
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    /// Every call that names an mm, on an mm that does not exist.
    @Test(arguments: [Int32(4242), -1, -7, Int32.max])
    func unknownMM(raw: Int32) throws {
        let m = try makeMachine()
        let live = try m.newMM()
        let mm = MMID(rawValue: raw)
        #expect(throws: Errno.ESRCH) { try m.fork(cpu: 0, mm: mm) }
        #expect(throws: Errno.ESRCH) { try m.mmGet(mm) }
        #expect(throws: Errno.ESRCH) { try m.exit(cpu: 0, mm: mm) }
        #expect(throws: Errno.ESRCH) { try m.exec(cpu: 0, mm: mm) }
        #expect(throws: Errno.ESRCH) {
            try m.mmap(cpu: 0, mm: mm, length: page, prot: rw, flags: .anonymousPrivate)
        }
        #expect(throws: Errno.ESRCH) { try m.munmap(cpu: 0, mm: mm, addr: Self.low, length: page) }
        #expect(throws: Errno.ESRCH) {
            try m.mprotect(cpu: 0, mm: mm, addr: Self.low, length: page, prot: .read)
        }
        #expect(throws: Errno.ESRCH) {
            try m.madvise(cpu: 0, mm: mm, addr: Self.low, length: page, advice: .dontneed)
        }
        #expect(throws: Errno.ESRCH) { try m.load(cpu: 0, mm: mm, addr: Self.low) }
        #expect(throws: Errno.ESRCH) { try m.store(cpu: 0, mm: mm, addr: Self.low, value: 1) }
        #expect(throws: Errno.ESRCH) { try m.vmas(of: mm) }
        #expect(throws: Errno.ESRCH) { try m.lookup(mm: mm, addr: Self.low) }
        #expect(throws: Errno.ESRCH) { try m.info(of: mm) }
        if raw != -1 {  // -1 is MMSIM_NO_MM: a kernel thread
            #expect(throws: Errno.ESRCH) { try m.switchMM(cpu: 0, to: mm) }
        }
        expectClean(m)
        try expectNoLeaks(m, exiting: [live])
    }

    @Test func exitedMMIsUnknown() throws {
        let m = try makeMachine()
        let mm = try m.newMM()
        try m.exit(cpu: 0, mm: mm)
        #expect(throws: Errno.ESRCH) { try m.info(of: mm) }
        #expect(throws: Errno.ESRCH) { try m.exit(cpu: 0, mm: mm) }
        #expect(try m.checkLeaks() == 0)
        expectClean(m)
    }

    /// Every call that takes a CPU, on a CPU the 4-CPU machine lacks.
    @Test(arguments: [-1, 4, 8, 1000, Int(Int32.max) + 1, Int.min])
    func cpuOutOfRange(cpu: Int) throws {
        let m = try makeMachine(cpus: 4)
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 1)
        #expect(throws: Errno.EINVAL) { try m.fork(cpu: cpu, mm: mm) }
        #expect(throws: Errno.EINVAL) { try m.exec(cpu: cpu, mm: mm) }
        #expect(throws: Errno.EINVAL) { try m.exit(cpu: cpu, mm: mm) }
        #expect(throws: Errno.EINVAL) {
            try m.mmap(cpu: cpu, mm: mm, length: page, prot: rw, flags: .anonymousPrivate)
        }
        #expect(throws: Errno.EINVAL) { try m.munmap(cpu: cpu, mm: mm, addr: base, length: page) }
        #expect(throws: Errno.EINVAL) {
            try m.mprotect(cpu: cpu, mm: mm, addr: base, length: page, prot: .read)
        }
        #expect(throws: Errno.EINVAL) {
            try m.madvise(cpu: cpu, mm: mm, addr: base, length: page, advice: .dontneed)
        }
        #expect(throws: Errno.EINVAL) { try m.load(cpu: cpu, mm: mm, addr: base) }
        #expect(throws: Errno.EINVAL) { try m.store(cpu: cpu, mm: mm, addr: base, value: 1) }
        #expect(throws: Errno.EINVAL) { try m.switchMM(cpu: cpu, to: mm) }
        #expect(throws: Errno.EINVAL) { try m.switchMM(cpu: cpu, to: nil) }
        // Nothing happened to the mm.
        #expect(try m.vmas(of: mm).count == 1)
        #expect(try m.info(of: mm).users == 1)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: [
        UInt64(0), 8, 0x7fff_ffff_eff8, 0x7fff_ffff_f000, 0xffff_ffff_ffff_fff8,
    ])
    func accessOutsideAnyMapping(addr: UInt64) throws {
        let m = try makeMachine()
        let mm = try m.newMM()
        _ = try mapAnon(m, mm: mm, pages: 1)
        #expect(try m.load(cpu: 0, mm: mm, addr: addr) == .segv)
        #expect(try m.store(cpu: 3, mm: mm, addr: addr, value: 1) == .segv)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test func unalignedAccessIsRefused() throws {
        let m = try makeMachine()
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 1)
        // The API takes 8-byte aligned words.
        for addr in [base + 1, base + 4, base + page - 1] {
            #expect(throws: Errno.EINVAL) { try m.load(cpu: 0, mm: mm, addr: addr) }
            #expect(throws: Errno.EINVAL) { try m.store(cpu: 0, mm: mm, addr: addr, value: 1) }
        }
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: [
        (0, 4096, 64), (Machine.maxCPUs + 1, 4096, 64), (-1, 4096, 64),
        (4, 4096, 0), (4, 4096, 62), (4, 0, 64), (4, -5, 64),
    ])
    func badConfig(cpus: Int, frames: Int, tlb: Int) {
        var config = MachineConfig.default
        config.cpus = cpus
        config.frames = frames
        config.tlbEntries = tlb
        #expect(throws: Errno.EINVAL) { _ = try Machine(config) }
    }
}
