import Testing
@testable import MMModel

/// munmap, mprotect and madvise(MADV_DONTNEED).
@Suite struct RangeCallTests {
    // MARK: munmap

    @Test func munmapChecksItsArgumentsInOrder() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000)
        let cases: [(UInt64, UInt64, Outcome)] = [
            (0x10008, page, EINVAL),                  // unaligned
            (taskSize + page, page, EINVAL),          // beyond TASK_SIZE
            (taskSize - page, 2 * page, EINVAL),      // ends beyond TASK_SIZE
            (0x10000, UInt64.max, EINVAL),            // wraps
            (0x10000, 0, EINVAL),                     // empty
            (taskSize, 0, EINVAL),
            (taskSize - page, page, .ok),             // nothing there: fine
            (0, taskSize, .ok),                       // everything
        ]
        for (addr, length, errno) in cases {
            let call = Call.munmap(cpu: 0, mm: a, addr: addr, length: length)
            for w in [EINVAL, ENOMEM, .ok, ESRCH] where w != errno {
                d.diverges(call, w)
                if errno != .ok { d.diverges(call, w, mayFail: true) }
            }
        }
        try d.run(.munmap(cpu: 0, mm: a, addr: 0x10000, length: 1), .ok)   // rounded up
        #expect(d.state(a).mappings.isEmpty)
        #expect(d.state(a).totalVM == 0)
    }

    @Test func munmapRemovesTheRangeAndItsPrivateData() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 5)
        for i: UInt64 in 0 ..< 5 { try d.store(a, 0x10000 + i * page, 1 + i) }
        try d.run(.munmap(cpu: 0, mm: a, addr: 0x11000, length: 2 * page), .ok)
        #expect(d.state(a).mappings == [mapping(0x10000, 0x11000, RW), mapping(0x13000, 0x15000, RW)])
        #expect(d.state(a).anonRSS == 3)
        #expect(d.state(a).totalVM == 3)
        #expect(d.model.userPages == 3)
        try d.load(a, 0x10000, 1)
        try d.load(a, 0x13000, 4)
        try d.only(.load(cpu: 0, mm: a, addr: 0x12000), .segv, not: [.value(3)])
        // a fork's copy-on-write frames survive the parent's unmap
        let b = try d.fork(a)
        try d.run(.munmap(cpu: 0, mm: a, addr: 0, length: taskSize), .ok)
        #expect(d.state(a).mappings.isEmpty)
        try d.load(b, 0x14000, 5)
        #expect(d.model.userPages == 3)
    }

    @Test func munmapMayFailOnlyWhereItMustCutAMapping() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 4)
        try d.map(a, 0x20000, pages: 1)
        try d.store(a, 0x11000, 1)
        // inside the mapping: a split, which may fail, changing nothing
        let inner = Call.munmap(cpu: 0, mm: a, addr: 0x11000, length: page)
        d.diverges(inner, ENOMEM)
        let before = d.model
        try d.run(inner, ENOMEM, mayFail: true)
        #expect(d.model == before)
        try d.run(.munmap(cpu: 0, mm: a, addr: 0x13000, length: 0x10000), ENOMEM, mayFail: true)
        try d.run(.munmap(cpu: 0, mm: a, addr: 0x8000, length: 0x9000), ENOMEM, mayFail: true)
        // whole mappings, or nothing: no split, no failure
        d.diverges(.munmap(cpu: 0, mm: a, addr: 0x10000, length: 4 * page), ENOMEM, mayFail: true)
        d.diverges(.munmap(cpu: 0, mm: a, addr: 0x8000, length: 0x20000), ENOMEM, mayFail: true)
        d.diverges(.munmap(cpu: 0, mm: a, addr: 0x30000, length: page), ENOMEM, mayFail: true)
        try d.run(inner, .ok, mayFail: true)
        try d.only(.load(cpu: 0, mm: a, addr: 0x11000), .segv, not: [.value(1)])
    }

    // MARK: mprotect

    @Test func mprotectChecksItsArgumentsInOrder() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        let cases: [(UInt64, UInt64, Int32, Outcome)] = [
            (0x10008, page, RW, EINVAL),              // unaligned
            (0x10008, 0, RW, EINVAL),                 // unaligned before empty
            (0x10000, 0, 0x40, .ok),                  // empty before bad prot
            (0x30000, 0, RW, .ok),                    // empty, unmapped
            (0x10000, UInt64.max, 0x40, ENOMEM),      // wraps (to zero length) before bad prot
            (0xffff_ffff_ffff_f000, page, 0x40, ENOMEM),   // end wraps
            (0x10000, page, 0x40, EINVAL),            // bad prot
            (0x10000, page, -1, EINVAL),
            (0x30000, page, 0x40, EINVAL),            // bad prot before unmapped
            (0x30000, page, RW, ENOMEM),              // unmapped
            (taskSize, page, RW, ENOMEM),             // beyond user space: unmapped
        ]
        for (addr, length, prot, errno) in cases {
            let call = Call.mprotect(cpu: 0, mm: a, addr: addr, length: length, prot: prot)
            for w in [EINVAL, ENOMEM, .ok, ESRCH] where w != errno {
                d.diverges(call, w)
            }
            try d.run(call, errno)
            #expect(d.state(a).mappings == [mapping(0x10000, 0x12000, RW)])
        }
    }

    @Test func mprotectChangesTheRangeAndPROTReadIsImplied() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 4)
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x11000, length: page + 1, prot: PROT_WRITE), .ok)
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x10000, length: page, prot: PROT_EXEC), .ok)
        #expect(d.state(a).mappings == [
            mapping(0x10000, 0x11000, PROT_READ | PROT_EXEC), mapping(0x11000, 0x14000, RW),
        ])
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x10000, length: 4 * page, prot: PROT_NONE), .ok)
        #expect(d.state(a).mappings == [mapping(0x10000, 0x14000, PROT_NONE)])
        #expect(d.state(a).totalVM == 4)
    }

    @Test func mprotectStopsAtTheFirstHole() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.map(a, 0x12000, pages: 1, shared: true)
        try d.map(a, 0x14000, pages: 2)
        let call = Call.mprotect(cpu: 0, mm: a, addr: 0x11000, length: 0x4000, prot: PROT_READ)
        d.diverges(call, .ok)
        try d.run(call, ENOMEM)
        #expect(d.state(a).mappings == [
            mapping(0x10000, 0x11000, RW), mapping(0x11000, 0x12000, PROT_READ),
            mapping(0x12000, 0x13000, PROT_READ, shared: true), mapping(0x14000, 0x16000, RW),
        ])
        try d.only(.store(cpu: 0, mm: a, addr: 0x11000, value: 1), .segv, not: [.value(1)])
        try d.store(a, 0x14000, 1)
        // nothing changes when the start is unmapped
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x13000, length: 0x3000, prot: PROT_NONE), ENOMEM)
        try d.store(a, 0x15000, 2)
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x14000, length: 0x3000, prot: PROT_NONE), ENOMEM)
        try d.only(.load(cpu: 0, mm: a, addr: 0x15000), .segv, not: [.value(2)])
    }

    @Test func mprotectMayFailOnlyWhenItChangesSomething() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 4)
        // nothing to change: no failure
        d.diverges(.mprotect(cpu: 0, mm: a, addr: 0x10000, length: 4 * page, prot: RW), ENOMEM, mayFail: true)
        d.diverges(.mprotect(cpu: 0, mm: a, addr: 0x10000, length: 4 * page, prot: PROT_WRITE), ENOMEM,
                   mayFail: true)
        // a change may fail; what changed is left to adoptProtection
        let call = Call.mprotect(cpu: 0, mm: a, addr: 0x11000, length: 2 * page, prot: PROT_READ)
        d.diverges(call, ENOMEM)
        #expect(d.model.undecidedProtection == nil)
        try d.run(call, ENOMEM, mayFail: true)
        let u = try #require(d.model.undecidedProtection)
        #expect(u.mm == a && u.start == 0x11000 && u.end == 0x13000)
        // the next call forgets it
        try d.run(.switchMM(cpu: 0, mm: nil), .ok)
        #expect(d.model.undecidedProtection == nil)
    }

    @Test func adoptProtectionTakesAPrefixOfOldOrNewProtections() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2, prot: PROT_READ)
        try d.map(a, 0x12000, pages: 2)
        try d.map(a, 0x14000, pages: 2, prot: PROT_NONE, shared: true)
        try d.store(a, 0x12000, 1)
        let call = Call.mprotect(cpu: 0, mm: a, addr: 0x11000, length: 4 * page, prot: PROT_EXEC)
        try d.run(call, ENOMEM, mayFail: true)
        let failed = d.model
        let rx = PROT_READ | PROT_EXEC
        let before = [mapping(0x10000, 0x12000, PROT_READ), mapping(0x12000, 0x14000, RW),
                      mapping(0x14000, 0x16000, PROT_NONE, shared: true)]

        func adopt(_ mappings: [Mapping]) -> Divergence? {
            var m = failed
            do { try m.adoptProtection(mm: a, mappings: mappings) } catch { return error }
            return nil
        }
        // nothing changed; all changed; a prefix changed, cut anywhere
        #expect(adopt(before) == nil)
        #expect(adopt([mapping(0x10000, 0x11000, PROT_READ), mapping(0x11000, 0x14000, rx),
                       mapping(0x14000, 0x15000, rx, shared: true),
                       mapping(0x15000, 0x16000, PROT_NONE, shared: true)]) == nil)
        #expect(adopt([mapping(0x10000, 0x11000, PROT_READ), mapping(0x11000, 0x13000, rx),
                       mapping(0x13000, 0x14000, RW),
                       mapping(0x14000, 0x16000, PROT_NONE, shared: true)]) == nil)
        // mappings outside the range do not matter
        #expect(adopt([mapping(0x10000, 0x12000, PROT_READ), mapping(0x12000, 0x14000, RW),
                       mapping(0x14000, 0x16000, PROT_NONE, shared: true),
                       mapping(0x9000_0000, 0x9000_1000, RW)]) == nil)
        // a protection that is neither
        #expect(adopt([mapping(0x10000, 0x11000, PROT_READ), mapping(0x11000, 0x12000, RW),
                       mapping(0x12000, 0x14000, RW),
                       mapping(0x14000, 0x16000, PROT_NONE, shared: true)]) != nil)
        // a change after a page that kept its old protection
        #expect(adopt([mapping(0x10000, 0x12000, PROT_READ), mapping(0x12000, 0x14000, rx),
                       mapping(0x14000, 0x16000, PROT_NONE, shared: true)]) != nil)
        // a page unmapped, or mapped where there was a hole, or sharing changed
        #expect(adopt([mapping(0x10000, 0x12000, PROT_READ), mapping(0x12000, 0x14000, RW),
                       mapping(0x15000, 0x16000, PROT_NONE, shared: true)]) != nil)
        #expect(adopt([mapping(0x10000, 0x12000, PROT_READ), mapping(0x12000, 0x14000, RW),
                       mapping(0x14000, 0x16000, PROT_NONE, shared: false)]) != nil)
        #expect(adopt([mapping(0x10000, 0x12000, PROT_READ), mapping(0x12000, 0x14000, RW)]) != nil)
        // an mm without users
        var m = failed
        #expect(throws: Divergence.self) { try m.adoptProtection(mm: 77, mappings: []) }

        // adopted: the model now agrees with the machine
        d.model = failed
        try d.model.adoptProtection(mm: a, mappings: [
            mapping(0x10000, 0x11000, PROT_READ), mapping(0x11000, 0x13000, rx), mapping(0x13000, 0x14000, RW),
            mapping(0x14000, 0x16000, PROT_NONE, shared: true)])
        #expect(d.model.undecidedProtection == nil)
        #expect(d.state(a).mappings == [
            mapping(0x10000, 0x11000, PROT_READ), mapping(0x11000, 0x13000, rx), mapping(0x13000, 0x14000, RW),
            mapping(0x14000, 0x16000, PROT_NONE, shared: true)])
        try d.load(a, 0x12000, 1)
        try d.only(.store(cpu: 0, mm: a, addr: 0x12000, value: 2), .segv, not: [.value(2)])
        try d.store(a, 0x13000, 3)
    }

    @Test func adoptProtectionAcrossAHole() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.map(a, 0x13000, pages: 1)
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x10000, length: 4 * page, prot: PROT_READ), ENOMEM,
                  mayFail: true)
        var m = d.model
        // the part after the hole cannot have changed
        #expect(throws: Divergence.self) {
            try m.adoptProtection(mm: a, mappings: [mapping(0x10000, 0x12000, RW),
                                                    mapping(0x13000, 0x14000, PROT_READ)])
        }
        #expect(throws: Divergence.self) {
            try m.adoptProtection(mm: a, mappings: [mapping(0x10000, 0x12000, PROT_READ),
                                                    mapping(0x13000, 0x14000, PROT_READ)])
        }
        var all = d.model
        try all.adoptProtection(mm: a, mappings: [mapping(0x10000, 0x12000, PROT_READ),
                                                  mapping(0x13000, 0x14000, RW)])
        try d.model.adoptProtection(mm: a, mappings: [mapping(0x10000, 0x11000, PROT_READ),
                                                      mapping(0x11000, 0x12000, RW),
                                                      mapping(0x13000, 0x14000, RW)])
        #expect(d.state(a).mappings == [mapping(0x10000, 0x11000, PROT_READ), mapping(0x11000, 0x12000, RW),
                                        mapping(0x13000, 0x14000, RW)])
    }

    @Test func adoptProtectionWithNothingUndecidedMustAgree() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.model.adoptProtection(mm: a, mappings: [mapping(0x10000, 0x12000, RW)])
        try d.model.adoptProtection(mm: a, mappings: [mapping(0x11000, 0x12000, RW)])
        var m = d.model
        #expect(throws: Divergence.self) {
            try m.adoptProtection(mm: a, mappings: [mapping(0x10000, 0x12000, PROT_READ)])
        }
        #expect(throws: Divergence.self) {
            try m.adoptProtection(mm: a, mappings: [mapping(0x10000, 0x13000, RW)])
        }
        #expect(throws: Divergence.self) {
            try m.adoptProtection(mm: a, mappings: [mapping(0x10000, 0x12000, RW, shared: true)])
        }
    }

    // MARK: madvise

    @Test func madviseChecksItsArgumentsInOrder() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.store(a, 0x10000, 5)
        let cases: [(UInt64, UInt64, Int32, Outcome)] = [
            (0x10008, page, MADV_DONTNEED, EINVAL),            // unaligned
            (0x10008, page, 99, EINVAL),
            (0x10000, page, 3, EINVAL),                        // other advice
            (0x10000, 0, 0, EINVAL),                           // advice before empty
            (0x10000, UInt64.max, MADV_DONTNEED, EINVAL),      // rounds to zero
            (0xffff_ffff_ffff_f000, 2 * page, MADV_DONTNEED, EINVAL),   // wraps
            (0x10000, 0, MADV_DONTNEED, .ok),                  // empty
            (0x30000, 0, MADV_DONTNEED, .ok),
            (0x30000, page, MADV_DONTNEED, ENOMEM),            // nothing at or after
            (taskSize, page, MADV_DONTNEED, ENOMEM),
        ]
        for (addr, length, advice, errno) in cases {
            let call = Call.madvise(cpu: 0, mm: a, addr: addr, length: length, advice: advice)
            for w in [EINVAL, ENOMEM, .ok, ESRCH] where w != errno {
                d.diverges(call, w)
                if errno != .ok { d.diverges(call, w, mayFail: true) }
            }
            try d.run(call, errno)
        }
        try d.load(a, 0x10000, 5)
    }

    @Test func dontneedDropsPrivatePagesToZero() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 3)
        for i: UInt64 in 0 ..< 3 { try d.store(a, 0x10000 + i * page, 7 + i) }
        let b = try d.fork(a)
        try d.run(.madvise(cpu: 0, mm: a, addr: 0x11000, length: 1, advice: MADV_DONTNEED), .ok)
        #expect(Set(d.state(a).pages.keys) == [0x10000, 0x12000])
        #expect(d.state(a).anonRSS == 2)
        #expect(d.state(a).mappings == [mapping(0x10000, 0x13000, RW)])   // the mapping stays
        try d.only(.load(cpu: 0, mm: a, addr: 0x11000), .value(0), not: [.value(8)])
        try d.load(b, 0x11000, 8)                         // the fork's copy is its own
        try d.load(a, 0x12000, 9)
        #expect(d.model.userPages == 4)
    }

    @Test func dontneedDropsTheMappedPartsThenReportsAHole() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000)
        try d.map(a, 0x12000)
        try d.store(a, 0x10000, 1)
        try d.store(a, 0x12000, 2)
        let call = Call.madvise(cpu: 0, mm: a, addr: 0x10000, length: 3 * page, advice: MADV_DONTNEED)
        d.diverges(call, .ok)
        try d.run(call, ENOMEM)
        #expect(d.state(a).pages.isEmpty)
        try d.load(a, 0x10000, 0)
        try d.load(a, 0x12000, 0)
        try d.store(a, 0x12000, 3)
        // a hole before, or after the last mapping
        try d.run(.madvise(cpu: 0, mm: a, addr: 0x8000, length: 0xb000, advice: MADV_DONTNEED), ENOMEM)
        try d.load(a, 0x12000, 0)
        try d.store(a, 0x12000, 4)
        try d.run(.madvise(cpu: 0, mm: a, addr: 0x12000, length: 0x100000, advice: MADV_DONTNEED), ENOMEM)
        try d.load(a, 0x12000, 0)
    }

    @Test func dontneedMayReportENOMEMOnlyWhenAllocationsMay() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000)
        try d.store(a, 0x10000, 1)
        let call = Call.madvise(cpu: 0, mm: a, addr: 0x10000, length: page, advice: MADV_DONTNEED)
        d.diverges(call, ENOMEM)
        d.diverges(call, EINVAL, mayFail: true)
        try d.run(call, ENOMEM, mayFail: true)
        // Stopped where a shared pte table could not be copied: which of
        // the range's pages went is the machine's to say.
        #expect(d.model.undecidedPages?.mm == a && d.model.undecidedPages?.start == 0x10000)
        try d.model.adoptPages(mm: a) { _ in nil }
        #expect(d.model.undecidedPages == nil)
        try d.load(a, 0x10000, 0)
    }
}
