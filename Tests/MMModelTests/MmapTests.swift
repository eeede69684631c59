import Testing
@testable import MMModel

/// mmap: argument checks in order, placement, MAP_FIXED, shared objects.
@Suite struct MmapTests {
    static let low: UInt64 = 0x1000_0000

    struct BadCase: CustomTestStringConvertible, Sendable {
        var name: String
        var addr: UInt64 = MmapTests.low
        var length: UInt64 = page
        var prot: Int32 = RW
        var flags: Int32 = privateAnon
        var errno: Outcome
        var testDescription: String { name }
    }

    /// Each case breaks two rules where it can, so that the order shows.
    static let badCases: [BadCase] = [
        BadCase(name: "unknown prot bit", prot: 8, errno: EINVAL),
        BadCase(name: "negative prot", prot: -1, errno: EINVAL),
        BadCase(name: "unknown prot before no MAP_ANONYMOUS", prot: 0x10, flags: MAP_PRIVATE,
                errno: EINVAL),
        BadCase(name: "unknown prot before zero length", length: 0, prot: 0x10, errno: EINVAL),
        BadCase(name: "unknown flag", flags: privateAnon | 0x4000_0000, errno: EINVAL),
        BadCase(name: "negative flags", flags: -1, errno: EINVAL),
        BadCase(name: "MAP_TYPE bit 0x4", flags: privateAnon | 0x4, errno: EINVAL),
        BadCase(name: "unknown flag before no MAP_ANONYMOUS", flags: MAP_PRIVATE | 0x40, errno: EINVAL),
        BadCase(name: "neither shared nor private", flags: MAP_ANONYMOUS, errno: EINVAL),
        BadCase(name: "both shared and private", flags: MAP_SHARED | privateAnon, errno: EINVAL),
        BadCase(name: "no type before no MAP_ANONYMOUS", flags: 0, errno: EINVAL),
        BadCase(name: "no MAP_ANONYMOUS", flags: MAP_PRIVATE, errno: EBADF),
        BadCase(name: "no MAP_ANONYMOUS, shared", flags: MAP_SHARED, errno: EBADF),
        BadCase(name: "no MAP_ANONYMOUS before zero length", length: 0, flags: MAP_PRIVATE, errno: EBADF),
        BadCase(name: "no MAP_ANONYMOUS before too long", length: taskSize + page, flags: MAP_PRIVATE,
                errno: EBADF),
        BadCase(name: "zero length", length: 0, errno: EINVAL),
        BadCase(name: "zero length before an unaligned MAP_FIXED", addr: 0x1003, length: 0,
                flags: privateAnon | MAP_FIXED, errno: EINVAL),
        BadCase(name: "longer than user space", length: taskSize + 1, errno: ENOMEM),
        BadCase(name: "length that wraps when page-aligned", length: UInt64.max - 100, errno: ENOMEM),
        BadCase(name: "too long before an unaligned MAP_FIXED", addr: 0x1003, length: UInt64.max,
                flags: privateAnon | MAP_FIXED, errno: ENOMEM),
        BadCase(name: "unaligned MAP_FIXED", addr: low + 8, flags: privateAnon | MAP_FIXED, errno: EINVAL),
        BadCase(name: "unaligned MAP_FIXED beyond TASK_SIZE", addr: taskSize + 8,
                flags: privateAnon | MAP_FIXED, errno: EINVAL),
        BadCase(name: "MAP_FIXED across TASK_SIZE", addr: taskSize - page, length: 2 * page,
                flags: privateAnon | MAP_FIXED, errno: ENOMEM),
        BadCase(name: "MAP_FIXED at TASK_SIZE", addr: taskSize, flags: sharedAnon | MAP_FIXED,
                errno: ENOMEM),
        BadCase(name: "MAP_FIXED far beyond", addr: 0xffff_8000_0000_0000,
                flags: privateAnon | MAP_FIXED, errno: ENOMEM),
    ]

    @Test(arguments: badCases)
    func badArgumentsGetTheirErrnoInOrder(_ c: BadCase) throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, Self.low, pages: 4)
        let call = Call.mmap(cpu: 0, mm: a, addr: c.addr, length: c.length, prot: c.prot, flags: c.flags)
        let others = [EINVAL, EBADF, ENOMEM, ESRCH, .address(Self.low), .address(0x2000_0000), .ok]
        for w in others where w != c.errno {
            d.diverges(call, w)
            d.diverges(call, w, mayFail: true)   // nothing is allocated before these checks
        }
        let before = d.model
        try d.run(call, c.errno)
        #expect(d.model == before)
        // a bad mm or CPU comes first
        try d.only(.mmap(cpu: 0, mm: 66, addr: c.addr, length: c.length, prot: c.prot, flags: c.flags),
                   ESRCH, not: [c.errno])
        try d.only(.mmap(cpu: 9, mm: 66, addr: c.addr, length: c.length, prot: c.prot, flags: c.flags),
                   EINVAL, not: [ESRCH])
    }

    @Test func ignoredFlagsAreAccepted() throws {
        var d = Driver()
        let a = try d.newMM()
        for extra: Int32 in [0x800, 0x4000, 0x20000, 0x24800] {
            try d.run(.mmap(cpu: 0, mm: a, addr: 0, length: page, prot: RW, flags: privateAnon | extra),
                      .address(0x3000_0000 + UInt64(extra) * page))
        }
        #expect(d.state(a).mappings.count == 4)
    }

    @Test func theChosenAddressMustBeAlignedInUserSpaceAndFree() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x2000_0000, pages: 4)
        let call = Call.mmap(cpu: 0, mm: a, addr: 0, length: 2 * page, prot: RW, flags: privateAnon)
        for bad: UInt64 in [
            0x3000_0800,                   // unaligned
            0x1fff_f000, 0x2000_0000, 0x2000_3000,   // overlaps the mapping
            taskSize - page, taskSize, 0xffff_ffff_ffff_f000,   // does not fit
        ] {
            d.diverges(call, .address(bad))
            d.diverges(call, .address(bad), mayFail: true)
        }
        d.diverges(call, .mm(1))
        d.diverges(call, ENOMEM)               // there is room
        d.diverges(call, EINVAL)
        // anywhere free is fine, low, touching a mapping, or at the top
        for good: UInt64 in [0, 0x1fff_e000, 0x2000_4000, taskSize - 2 * page] {
            var copy = d
            try copy.run(call, .address(good))
            #expect(copy.state(a).mappings.contains(mapping(good, good + 2 * page, RW))
                    || copy.state(a).mappings.contains { $0.start <= good && $0.end >= good + 2 * page })
        }
        try d.run(call, .address(0x2000_4000))
        #expect(d.state(a).mappings == [mapping(0x2000_0000, 0x2000_6000, RW)])
        #expect(d.state(a).totalVM == 6)
        // the length is rounded up to a page
        try d.run(.mmap(cpu: 0, mm: a, addr: 0, length: 1, prot: RW, flags: privateAnon), .address(0x5000))
        d.diverges(.mmap(cpu: 0, mm: a, addr: 0, length: 1, prot: RW, flags: privateAnon),
                   .address(0x2000_5000))
        #expect(d.state(a).totalVM == 7)
    }

    @Test func aFreeHintMustBeTaken() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x2000_0000, pages: 4)
        // free hint: exactly there (rounded up to a page)
        let hinted = Call.mmap(cpu: 0, mm: a, addr: 0x1000_0001, length: page, prot: RW,
                               flags: privateAnon)
        try d.only(hinted, .address(0x1000_1000), not: [.address(0x1000_0000), .address(0x5000_0000)])
        // with allocation failures possible: the hint or ENOMEM
        let hinted2 = Call.mmap(cpu: 0, mm: a, addr: 0x1000_8000, length: page, prot: RW,
                                flags: privateAnon)
        d.diverges(hinted2, .address(0x5000_0000), mayFail: true)
        try d.run(hinted2, ENOMEM, mayFail: true)
        #expect(d.state(a).mappings.count == 2)
        // a hint that overlaps, or does not fit, or wraps to 0 when rounded: anywhere
        for hint: UInt64 in [0x1fff_f000, 0x2000_2000, taskSize - page, taskSize, UInt64.max - 5] {
            var copy = d
            try copy.run(.mmap(cpu: 0, mm: a, addr: hint, length: 2 * page, prot: RW, flags: privateAnon),
                         .address(0x6000_0000))
        }
        // a zero hint is no hint
        try d.run(.mmap(cpu: 0, mm: a, addr: 0, length: page, prot: RW, flags: sharedAnon), .address(0x7000))
    }

    @Test func enomemOnlyWhenThereIsNoRoomAboveTheMmapBase() throws {
        var d = Driver()
        let a = try d.newMM()
        let base = Model.unmappedBase
        #expect(base == 0x2aaa_aaaa_b000)
        // too long to fit above the base: ENOMEM (or any free place)
        let long = taskSize - base + page
        let call = Call.mmap(cpu: 0, mm: a, addr: 0, length: long, prot: RW, flags: privateAnon)
        var copy = d
        try copy.run(call, ENOMEM)
        try copy.run(call, .address(0))
        // fits exactly above the base: ENOMEM is wrong
        let fits = Call.mmap(cpu: 0, mm: a, addr: 0, length: taskSize - base, prot: RW, flags: privateAnon)
        d.diverges(fits, ENOMEM)
        try d.map(a, base + 0x1000_0000)     // a mapping in the middle of it
        try d.run(fits, ENOMEM)              // no room above the base now
        try d.run(fits, ENOMEM, mayFail: true)
        d.diverges(fits, .address(base))     // overlaps
        // room above the base for a small one, so ENOMEM only when allocations may fail
        let small = Call.mmap(cpu: 0, mm: a, addr: 0, length: page, prot: RW, flags: privateAnon)
        d.diverges(small, ENOMEM)
        try d.run(small, ENOMEM, mayFail: true)
        #expect(d.state(a).mappings.count == 1)
        try d.run(small, .address(base), mayFail: true)
        #expect(d.state(a).mappings.count == 2)
    }

    @Test func mapFixedReturnsItsAddressAndReplacesWhatWasThere() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 4)
        for i: UInt64 in 0 ..< 4 { try d.store(a, 0x10000 + i * page, 100 + i) }
        let call = Call.mmap(cpu: 0, mm: a, addr: 0x11000, length: 2 * page, prot: PROT_READ,
                             flags: privateAnon | MAP_FIXED)
        d.diverges(call, .address(0x20000))
        d.diverges(call, .address(0x11000 + page))
        d.diverges(call, ENOMEM)
        try d.run(call, .address(0x11000))
        try d.load(a, 0x10000, 100)
        try d.load(a, 0x11000, 0)             // replaced: fresh zero memory
        try d.load(a, 0x12000, 0)
        try d.load(a, 0x13000, 103)
        #expect(d.state(a).mappings == [
            mapping(0x10000, 0x11000, RW), mapping(0x11000, 0x13000, PROT_READ), mapping(0x13000, 0x14000, RW),
        ])
        #expect(d.state(a).totalVM == 4)
        #expect(d.model.userPages == 4)       // two old pages freed, two read faults
        // at address 0, and up to the very top
        try d.map(a, 0)
        try d.map(a, taskSize - 3 * page, pages: 3)
        #expect(d.state(a).totalVM == 8)
    }

    @Test func mmapMayFailOnlyWhenAllocationsMayAndThenChangesNothing() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.store(a, 0x10000, 1)
        let fixed = Call.mmap(cpu: 0, mm: a, addr: 0x10000, length: page, prot: RW,
                              flags: sharedAnon | MAP_FIXED)
        d.diverges(fixed, ENOMEM)
        let before = d.model
        try d.run(fixed, ENOMEM, mayFail: true)
        #expect(d.model == before)
        try d.load(a, 0x10000, 1)
        try d.run(.mmap(cpu: 0, mm: a, addr: 0, length: page, prot: RW, flags: privateAnon), ENOMEM,
                  mayFail: true)
        #expect(d.model == before)
    }

    @Test func sharedObjectsLiveAsLongAsAnyMappingOfThem() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x100000, pages: 4, shared: true)
        for i: UInt64 in 0 ..< 4 { try d.store(a, 0x100000 + i * page + 8, 10 + i) }
        #expect(d.state(a).fileRSS == 4)
        #expect(d.state(a).anonRSS == 0)
        #expect(d.model.userPages == 4)
        let b = try d.fork(a)
        // DONTNEED unmaps from this mm only: the object keeps the data
        try d.run(.madvise(cpu: 0, mm: a, addr: 0x100000, length: 4 * page, advice: MADV_DONTNEED), .ok)
        #expect(d.state(a).pages.isEmpty)
        #expect(d.state(a).fileRSS == 0)
        #expect(d.model.userPages == 4)
        try d.load(a, 0x101008, 11)
        // a partial unmap in a; b still maps the whole object
        try d.run(.munmap(cpu: 0, mm: a, addr: 0x101000, length: 2 * page), .ok)
        try d.only(.load(cpu: 0, mm: a, addr: 0x101008), .segv, not: [.value(11)])
        try d.load(b, 0x102008, 12)
        try d.load(a, 0x103008, 13)
        // b goes: a's remaining pieces keep the whole object alive,
        // including pages no one maps any more
        try d.run(.exit(cpu: 0, mm: b), .ok)
        #expect(d.model.userPages == 4)
        // a fork of the pieces still shares with a
        let c = try d.fork(a)
        try d.store(c, 0x103010, 99)
        try d.load(a, 0x103010, 99)
        try d.run(.exit(cpu: 0, mm: c), .ok)
        // MAP_FIXED over one piece, munmap of the other: the object dies
        try d.map(a, 0x100000)
        #expect(d.model.userPages == 4)
        try d.run(.munmap(cpu: 0, mm: a, addr: 0x103000, length: page), .ok)
        #expect(d.model.userPages == 0)
        try d.load(a, 0x100008, 0)
        #expect(d.state(a).mappings == [mapping(0x100000, 0x101000, RW)])
    }

    @Test func eachSharedMmapIsANewObject() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x100000, shared: true)
        try d.map(a, 0x101000, shared: true)
        try d.store(a, 0x100000, 1)
        try d.load(a, 0x101000, 0)
        // two objects side by side: one mapping from outside
        #expect(d.state(a).mappings == [mapping(0x100000, 0x102000, RW, shared: true)])
        #expect(d.state(a).pages[0x100000]!.frame != d.state(a).pages[0x101000]!.frame)
        // a new object over an old one starts empty
        try d.map(a, 0x100000, shared: true)
        try d.load(a, 0x100000, 0)
    }
}
