import Testing
@testable import MMModel

let MADV_HUGEPAGE: Int32 = 14, MADV_NOHUGEPAGE: Int32 = 15
let huge: UInt64 = 1 << 21

/// MADV_HUGEPAGE and MADV_NOHUGEPAGE, and adopting the 2 MiB pages the
/// machine maps (transparent huge pages).
@Suite struct HugePageTests {
    /// A 2 MiB-aligned base, at a pud boundary.
    let base: UInt64 = 0x4000_0000

    @Test(arguments: [MADV_HUGEPAGE, MADV_NOHUGEPAGE])
    func hugeAdviceChecksItsArgumentsAsDontneedDoes(advice: Int32) throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.store(a, 0x10000, 5)
        let cases: [(UInt64, UInt64, Int32, Outcome)] = [
            (0x10008, page, advice, EINVAL),                   // unaligned
            (0x10000, page, 13, EINVAL),                       // advice next to them
            (0x10000, page, 16, EINVAL),
            (0x10000, UInt64.max, advice, EINVAL),             // rounds to zero
            (0xffff_ffff_ffff_f000, 2 * page, advice, EINVAL), // wraps
            (0x10000, 0, advice, .ok),                         // empty
            (0x10000, 2 * page, advice, .ok),
            (0x30000, page, advice, ENOMEM),                   // nothing there
            (0xf000, 3 * page, advice, ENOMEM),                // a hole first
            (taskSize, page, advice, ENOMEM),
        ]
        for (addr, length, adv, errno) in cases {
            let call = Call.madvise(cpu: 0, mm: a, addr: addr, length: length, advice: adv)
            for w in [EINVAL, ENOMEM, .ok, ESRCH] where w != errno {
                d.diverges(call, w)
                if errno != .ok { d.diverges(call, w, mayFail: true) }
            }
            try d.run(call, errno)
        }
        d.diverges(.madvise(cpu: 0, mm: 99, addr: 0x10000, length: page, advice: advice), .ok)
        d.diverges(.madvise(cpu: 9, mm: a, addr: 0x10000, length: page, advice: advice), .ok)
        try d.load(a, 0x10000, 5)
    }

    @Test(arguments: [MADV_HUGEPAGE, MADV_NOHUGEPAGE])
    func hugeAdviceChangesNoData(advice: Int32) throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 4)
        try d.map(a, 0x20000, pages: 2, shared: true)
        try d.store(a, 0x11000, 1)
        try d.store(a, 0x20000, 2)
        let before = (d.state(a), d.model.userPages)
        try d.run(.madvise(cpu: 0, mm: a, addr: 0x10000, length: 0x12000, advice: advice), ENOMEM)
        try d.run(.madvise(cpu: 0, mm: a, addr: 0x11000, length: page, advice: advice), .ok)
        #expect(d.state(a) == before.0)
        #expect(d.model.userPages == before.1)
        try d.load(a, 0x11000, 1)
        try d.load(a, 0x20000, 2)
        try d.load(a, 0x12000, 0)
    }

    /// Marking vmas splits them, which may run out of memory: ENOMEM only
    /// when an allocation may fail, and then nothing a program sees
    /// changes; a hole is ENOMEM whatever happens.
    @Test(arguments: [MADV_HUGEPAGE, MADV_NOHUGEPAGE])
    func hugeAdviceMayFailOnlyWhenAllocationsMay(advice: Int32) throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 4)
        try d.store(a, 0x10000, 7)
        let call = Call.madvise(cpu: 0, mm: a, addr: 0x11000, length: page, advice: advice)
        d.diverges(call, ENOMEM)
        let before = d.state(a)
        try d.run(call, ENOMEM, mayFail: true)
        #expect(d.state(a) == before)
        try d.run(call, .ok, mayFail: true)
        let holed = Call.madvise(cpu: 0, mm: a, addr: 0x11000, length: 0x10000, advice: advice)
        d.diverges(holed, .ok, mayFail: true)
        try d.run(holed, ENOMEM, mayFail: true)
        try d.load(a, 0x10000, 7)
    }

    /// A 4 MiB private mapping given MADV_HUGEPAGE; a store faults its
    /// first 2 MiB in as one huge page: the model adopts the other 511.
    @Test func adoptHugePageMakesTheAbsentPagesPresentZeroAndDistinct() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, base, pages: 1024)
        try d.run(.madvise(cpu: 0, mm: a, addr: base, length: 2 * huge, advice: MADV_HUGEPAGE), .ok)
        try d.store(a, base + 0x3008, 0x77)
        #expect(try d.model.adoptHugePage(mm: a, start: base) == 511)
        let state = d.state(a)
        #expect(state.anonRSS == 512)
        #expect(d.model.userPages == 512)
        #expect(state.pages.count == 512)
        #expect(Set(state.pages.values.map(\.frame)).count == 512)
        #expect(state.pages.keys.allSatisfy { $0 >= base && $0 < base + huge })
        #expect(state.pages[base + 0x3000]?.word0 == 0)
        // Every page is present now: loads read zero, the store's word stays.
        try d.load(a, base + 0x3008, 0x77)
        try d.load(a, base + huge - page, 0)
        // A second adoption finds nothing absent.
        #expect(try d.model.adoptHugePage(mm: a, start: base) == 0)
        // Nothing adopted in the other 2 MiB.
        #expect(d.state(a).pages[base + huge] == nil)
    }

    /// After the adoption the pages are ordinary: fork shares them, a
    /// write copies the one page, DONTNEED drops what it covers.
    @Test func adoptedPagesForkAndCopyOnWriteAsAnyOther() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, base, pages: 512)
        try d.run(.madvise(cpu: 0, mm: a, addr: base, length: huge, advice: MADV_HUGEPAGE), .ok)
        try d.load(a, base, 0)
        try d.model.adoptHugePage(mm: a, start: base)
        let b = try d.fork(a)
        #expect(d.model.userPages == 512)
        #expect(d.state(b).pages[base + 5 * page]?.frame == d.state(a).pages[base + 5 * page]?.frame)
        try d.store(b, base + 5 * page, 9)
        #expect(d.model.userPages == 513)
        #expect(d.state(b).pages[base + 5 * page]?.frame != d.state(a).pages[base + 5 * page]?.frame)
        try d.load(a, base + 5 * page, 0)
        try d.run(.madvise(cpu: 0, mm: a, addr: base + page, length: 10 * page, advice: MADV_DONTNEED), .ok)
        #expect(d.state(a).anonRSS == 502)
        // The child's mapping was given MADV_HUGEPAGE too (fork copies it).
        try d.run(.madvise(cpu: 0, mm: b, addr: base, length: huge, advice: MADV_DONTNEED), .ok)
        try d.store(b, base, 3)
        #expect(try d.model.adoptHugePage(mm: b, start: base) == 511)
    }

    /// Only a whole 2 MiB of one accessible private anonymous mapping
    /// that MADV_HUGEPAGE may have marked can be a huge page.
    @Test func adoptHugePageRefusesWhereNoHugePageCanBe() throws {
        var d = Driver()
        let a = try d.newMM()
        func refused(_ start: UInt64, _ why: Comment) {
            var copy = d.model
            #expect(throws: Divergence.self, why) { try copy.adoptHugePage(mm: a, start: start) }
        }
        func advise(_ addr: UInt64, _ length: UInt64, _ advice: Int32 = MADV_HUGEPAGE,
                    _ outcome: Outcome = .ok, mayFail: Bool = false) throws {
            try d.run(.madvise(cpu: 0, mm: a, addr: addr, length: length, advice: advice), outcome,
                      mayFail: mayFail)
        }
        // Never advised.
        try d.map(a, base, pages: 1024)
        refused(base, "not given MADV_HUGEPAGE")
        // Advised, but not aligned, or only half of it.
        try advise(base, huge / 2)
        refused(base, "half of the 2 MiB given MADV_HUGEPAGE")
        refused(base + page, "not a 2 MiB boundary")
        try advise(base, 2 * huge)
        try d.model.adoptHugePage(mm: a, start: base + huge)
        // Taken back; a failed MADV_NOHUGEPAGE may not have taken it back.
        try advise(base, huge, MADV_NOHUGEPAGE, ENOMEM, mayFail: true)
        var copy = d.model
        #expect(throws: Never.self) { try copy.adoptHugePage(mm: a, start: base) }
        try advise(base, huge, MADV_NOHUGEPAGE)
        refused(base, "MADV_NOHUGEPAGE")
        // A failed MADV_HUGEPAGE may have marked it.
        try advise(base, huge, MADV_HUGEPAGE, ENOMEM, mayFail: true)
        copy = d.model
        #expect(throws: Never.self) { try copy.adoptHugePage(mm: a, start: base) }
        // Part of it unmapped, mapped over, shared, of another protection,
        // inaccessible.
        try d.run(.munmap(cpu: 0, mm: a, addr: base + 7 * page, length: page), .ok)
        refused(base, "a hole")
        try d.map(a, base + 7 * page)
        refused(base, "a new mapping, not advised, in it")
        try advise(base, huge)
        copy = d.model
        #expect(throws: Never.self) { try copy.adoptHugePage(mm: a, start: base) }
        try d.map(a, base + 7 * page, shared: true)
        try advise(base, huge)
        refused(base, "a shared page in it")
        try d.map(a, base, pages: 512)
        try advise(base, huge)
        try d.run(.mprotect(cpu: 0, mm: a, addr: base, length: page, prot: PROT_READ), .ok)
        refused(base, "two protections")
        try d.run(.mprotect(cpu: 0, mm: a, addr: base, length: huge, prot: PROT_READ), .ok)
        copy = d.model
        #expect(throws: Never.self) { try copy.adoptHugePage(mm: a, start: base) }
        try d.run(.mprotect(cpu: 0, mm: a, addr: base, length: huge, prot: PROT_NONE), .ok)
        refused(base, "PROT_NONE")
        // Beyond user space, or no such mm.
        refused(taskSize & ~(huge - 1), "past TASK_SIZE")
        copy = d.model
        #expect(throws: Divergence.self) { try copy.adoptHugePage(mm: 99, start: base) }
    }

    /// Where MADV_HUGEPAGE was given is part of the state: two models that
    /// differ only there are different states.
    @Test func theAdviceIsPartOfTheState() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, base, pages: 512)
        let plain = d.model
        try d.run(.madvise(cpu: 0, mm: a, addr: base, length: huge, advice: MADV_HUGEPAGE), .ok)
        #expect(d.model != plain)
        #expect(d.model.canonicalHash != plain.canonicalHash)
        // The mappings the outside world sees are the same.
        #expect(d.model.state(of: a) == plain.state(of: a))
        try d.run(.madvise(cpu: 0, mm: a, addr: base, length: huge, advice: MADV_NOHUGEPAGE), .ok)
        #expect(d.model == plain)
    }
}
