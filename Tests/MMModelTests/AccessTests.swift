import Testing
@testable import MMModel

/// User loads and stores: values, faults, protections, copy-on-write and
/// running out of memory.
@Suite struct AccessTests {
    @Test func anUnalignedAddressIsEINVALBeforeTheCPUAndTheMM() throws {
        var d = Driver(cpus: 2)
        let a = try d.newMM()
        try d.map(a, 0x1000)
        for addr: UInt64 in [0x1001, 0x1004, 0x1007, taskSize + 3] {
            for (cpu, mm) in [(0, a), (5, a), (0, Int32(42)), (-1, Int32(42))] {
                try d.only(.load(cpu: cpu, mm: mm, addr: addr), EINVAL,
                           not: [.value(0), .segv, ESRCH])
                try d.only(.store(cpu: cpu, mm: mm, addr: addr, value: 1), EINVAL,
                           not: [.value(1), .segv, ESRCH])
            }
        }
    }

    @Test func beyondTaskSizeIsSIGSEGV() throws {
        var d = Driver()
        let a = try d.newMM()
        for addr: UInt64 in [taskSize, taskSize + page, 0xffff_8000_0000_0000, UInt64.max - 7] {
            try d.only(.load(cpu: 0, mm: a, addr: addr), .segv, not: [.value(0), EINVAL, .oom])
            try d.only(.store(cpu: 0, mm: a, addr: addr, value: 2), .segv, not: [.value(2)])
            d.diverges(.load(cpu: 0, mm: a, addr: addr), .oom, mayFail: true)
        }
        // the last page below TASK_SIZE is ordinary memory
        try d.map(a, taskSize - page)
        try d.store(a, taskSize - 8, 9)
        try d.load(a, taskSize - 8, 9)
    }

    @Test func anUnmappedAddressIsSIGSEGV() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        for addr: UInt64 in [0, 0xfff8, 0x12000, 0x7000_0000] {
            try d.only(.load(cpu: 0, mm: a, addr: addr), .segv, not: [.value(0), .oom])
            try d.only(.store(cpu: 0, mm: a, addr: addr, value: 1), .segv, not: [.value(1)])
        }
        #expect(d.state(a).pages.isEmpty)
    }

    @Test func loadsSeeZeroThenWhatWasStored() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.load(a, 0x10000, 0)
        try d.load(a, 0x11ff8, 0)
        // a store's outcome carries the value stored
        d.diverges(.store(cpu: 0, mm: a, addr: 0x10008, value: 5), .value(6))
        d.diverges(.store(cpu: 0, mm: a, addr: 0x10008, value: 5), .ok)
        try d.store(a, 0x10008, 5)
        try d.load(a, 0x10008, 5)
        try d.load(a, 0x10000, 0)                // other words of the page
        try d.load(a, 0x10010, 0)
        try d.store(a, 0x10008, 0)
        try d.load(a, 0x10008, 0)
        try d.store(a, 0x11ff8, .max, cpu: 3)   // any CPU, the same memory
        try d.load(a, 0x11ff8, .max, cpu: 1)
        #expect(d.state(a).pages[0x11000]?.word0 == 0)
        try d.store(a, 0x11000, 44)
        #expect(d.state(a).pages[0x11000]?.word0 == 44)
    }

    @Test func aReadFaultMakesThePagePresentWithAFrameOfItsOwn() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 3)
        try d.load(a, 0x10000, 0)
        try d.load(a, 0x12000, 0)
        let s = d.state(a)
        #expect(s.anonRSS == 2)
        #expect(Set(s.pages.keys) == [0x10000, 0x12000])
        #expect(s.pages[0x10000]!.frame != s.pages[0x12000]!.frame)   // no shared zero page
        #expect(d.model.userPages == 2)
    }

    @Test func protectionsDecideWhatFaults() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, prot: PROT_READ)
        try d.map(a, 0x20000, prot: PROT_WRITE)       // write implies read
        try d.map(a, 0x30000, prot: PROT_EXEC)        // exec implies read
        try d.map(a, 0x40000, prot: PROT_NONE)
        try d.load(a, 0x10000, 0)
        try d.only(.store(cpu: 0, mm: a, addr: 0x10000, value: 1), .segv, not: [.value(1), .oom])
        try d.store(a, 0x20000, 2)
        try d.load(a, 0x20000, 2)
        try d.load(a, 0x30000, 0)
        try d.only(.store(cpu: 0, mm: a, addr: 0x30000, value: 1), .segv, not: [.value(1)])
        try d.only(.load(cpu: 0, mm: a, addr: 0x40000), .segv, not: [.value(0), .oom])
        try d.only(.store(cpu: 0, mm: a, addr: 0x40000, value: 1), .segv, not: [.value(1)])
        // not even an allocation failure: the access never gets that far
        d.diverges(.store(cpu: 0, mm: a, addr: 0x10000, value: 1), .oom, mayFail: true)
        d.diverges(.load(cpu: 0, mm: a, addr: 0x40000), .oom, mayFail: true)
        #expect(d.state(a).mappings == [
            mapping(0x10000, 0x11000, PROT_READ), mapping(0x20000, 0x21000, RW),
            mapping(0x30000, 0x31000, PROT_READ | PROT_EXEC), mapping(0x40000, 0x41000, PROT_NONE),
        ])
    }

    @Test func protNoneKeepsTheDataAndThePage() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000)
        try d.store(a, 0x10000, 8)
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x10000, length: page, prot: PROT_NONE), .ok)
        try d.only(.load(cpu: 0, mm: a, addr: 0x10000), .segv, not: [.value(8)])
        #expect(d.state(a).pages[0x10000]?.word0 == 8)
        #expect(d.state(a).anonRSS == 1)
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x10000, length: page, prot: PROT_READ), .ok)
        try d.load(a, 0x10000, 8)
        try d.only(.store(cpu: 0, mm: a, addr: 0x10000, value: 1), .segv, not: [.value(1)])
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x10000, length: page, prot: RW), .ok)
        try d.store(a, 0x10000, 9)
        try d.load(a, 0x10000, 9)
    }

    @Test func copyOnWriteGivesTheWriterANewFrameOnlyWhileTheFrameIsShared() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.store(a, 0x10000, 1)
        try d.store(a, 0x11000, 2)
        let mine = d.state(a).pages[0x10000]!.frame
        try d.store(a, 0x10008, 3)                         // not shared: same frame
        #expect(d.state(a).pages[0x10000]!.frame == mine)
        let b = try d.fork(a)
        let c = try d.fork(a)
        #expect(d.state(b).pages[0x10000]!.frame == mine)
        #expect(d.state(c).pages[0x10000]!.frame == mine)
        #expect(d.model.userPages == 2)
        try d.store(b, 0x10000, 10)                        // shared by 3: b copies
        let bs = d.state(b).pages[0x10000]!
        #expect(bs.frame != mine)
        #expect(bs.word0 == 10)
        #expect(d.model.userPages == 3)
        try d.load(b, 0x10008, 3)                          // the copy has the rest of the page
        try d.store(c, 0x10000, 20)                        // shared by 2: c copies
        #expect(d.state(c).pages[0x10000]!.frame != mine)
        #expect(d.state(c).pages[0x10000]!.frame != bs.frame)
        #expect(d.model.userPages == 4)
        try d.store(a, 0x10000, 30)                        // a alone again: kept
        #expect(d.state(a).pages[0x10000]!.frame == mine)
        #expect(d.model.userPages == 4)
        try d.load(a, 0x10000, 30)
        try d.load(b, 0x10000, 10)
        try d.load(c, 0x10000, 20)
        // a read of a copy-on-write page shares it still
        try d.load(b, 0x11000, 2)
        #expect(d.state(b).pages[0x11000]!.frame == d.state(a).pages[0x11000]!.frame)
        // exit releases a user: the survivor writes in place
        let shared = d.state(a).pages[0x11000]!.frame
        try d.run(.exit(cpu: 0, mm: b), .ok)
        try d.run(.exit(cpu: 0, mm: c), .ok)
        try d.store(a, 0x11000, 5)
        #expect(d.state(a).pages[0x11000]!.frame == shared)
    }

    @Test func oomNeedsMayFailAndAFaultThatAllocates() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 3)
        try d.map(a, 0x90000, shared: true)
        // without mayFail: never
        d.diverges(.load(cpu: 0, mm: a, addr: 0x10000), .oom)
        d.diverges(.store(cpu: 0, mm: a, addr: 0x10000, value: 1), .oom)
        // a page not present yet: a load or store may run out, changing nothing
        let before = d.model
        try d.run(.load(cpu: 0, mm: a, addr: 0x10000), .oom, mayFail: true)
        try d.run(.store(cpu: 0, mm: a, addr: 0x11000, value: 4), .oom, mayFail: true)
        try d.run(.load(cpu: 0, mm: a, addr: 0x90000), .oom, mayFail: true)
        #expect(d.model == before)
        // a wrong value is still wrong
        d.diverges(.load(cpu: 0, mm: a, addr: 0x10000), .value(1), mayFail: true)
        d.diverges(.load(cpu: 0, mm: a, addr: 0x10000), ENOMEM, mayFail: true)
        try d.run(.store(cpu: 0, mm: a, addr: 0x11000, value: 4), .value(4), mayFail: true)
        try d.load(a, 0x10000, 0)
        // present and private to this mm: nothing to allocate
        d.diverges(.load(cpu: 0, mm: a, addr: 0x11000), .oom, mayFail: true)
        d.diverges(.store(cpu: 0, mm: a, addr: 0x11000, value: 5), .oom, mayFail: true)
        d.diverges(.store(cpu: 0, mm: a, addr: 0x10000, value: 5), .oom, mayFail: true)
        // present shared page: written in place
        try d.store(a, 0x90000, 6)
        d.diverges(.store(cpu: 0, mm: a, addr: 0x90000, value: 5), .oom, mayFail: true)
        // shared copy-on-write: the copy may fail, and nothing changes
        let b = try d.fork(a)
        let forked = d.model
        try d.run(.store(cpu: 0, mm: b, addr: 0x11000, value: 7), .oom, mayFail: true)
        try d.run(.store(cpu: 0, mm: a, addr: 0x11000, value: 7), .oom, mayFail: true)
        #expect(d.model == forked)
        d.diverges(.load(cpu: 0, mm: b, addr: 0x11000), .oom, mayFail: true)  // a read shares
        try d.load(b, 0x11000, 4)
    }

    @Test func aStaleValueAfterUnmapDiverges() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.store(a, 0x10000, 0xdead)
        try d.store(a, 0x11000, 0xbeef)
        try d.run(.munmap(cpu: 0, mm: a, addr: 0x10000, length: 2 * page), .ok)
        try d.only(.load(cpu: 0, mm: a, addr: 0x10000), .segv, not: [.value(0xdead), .value(0)])
        try d.map(a, 0x10000, pages: 2)
        try d.only(.load(cpu: 0, mm: a, addr: 0x10000), .value(0), not: [.value(0xdead)])
        try d.only(.load(cpu: 0, mm: a, addr: 0x11000), .value(0), not: [.value(0xbeef)])
        #expect(d.model.userPages == 2)
    }
}
