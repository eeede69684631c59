import Testing
@testable import MMModel

/// mm creation, users, exit, exec, fork, and the checks on CPUs and ids.
@Suite struct LifetimeTests {
    @Test func newMMGivesAFreshEmptyMMWithOneUser() throws {
        var d = Driver()
        let a = try d.newMM()
        #expect(d.model.liveMMs == [a])
        #expect(d.model.users(of: a) == 1)
        #expect(d.state(a) == MMState(mappings: [], anonRSS: 0, fileRSS: 0, totalVM: 0, pages: [:]))
        #expect(d.model.userPages == 0)
        // ids need not be consecutive, only fresh and non-negative
        try d.run(.newMM, .mm(57))
        #expect(d.model.liveMMs == [a, 57])
    }

    @Test func aReusedOrNegativeMMIDDiverges() throws {
        var d = Driver()
        let a = try d.newMM()
        d.diverges(.newMM, .mm(a))                         // live
        d.diverges(.newMM, .mm(-1))                        // negative
        d.diverges(.newMM, .ok)
        d.diverges(.newMM, ENOMEM)                         // no allocation may fail
        try d.run(.exit(cpu: 0, mm: a), .ok)
        d.diverges(.newMM, .mm(a))                         // exited: never reused
        d.diverges(.fork(cpu: 0, mm: try d.newMM()), .mm(a))
        let b = try d.newMM()
        d.diverges(.exec(cpu: 0, mm: b), .mm(b))           // its own id
        d.diverges(.exec(cpu: 0, mm: b), .mm(a))
        d.diverges(.fork(cpu: 0, mm: b), .mm(b))
    }

    @Test func newMMMayFailOnlyWhenAllocationsMay() throws {
        var d = Driver()
        try d.run(.newMM, ENOMEM, mayFail: true)
        #expect(d.model.liveMMs.isEmpty)
        d.diverges(.newMM, EINVAL, mayFail: true)
        try d.run(.newMM, .mm(0), mayFail: true)
        #expect(d.model.liveMMs == [0])
    }

    @Test func usersCountTasksAndTheLastExitTearsDown() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.store(a, 0x10000, 7)
        try d.only(.mmGet(mm: a), .ok, not: [ESRCH, EINVAL, .mm(a)])
        #expect(d.model.users(of: a) == 2)
        try d.only(.exit(cpu: 1, mm: a), .ok, not: [ESRCH, EINVAL])
        #expect(d.model.users(of: a) == 1)
        try d.load(a, 0x10000, 7)            // still all there
        #expect(d.model.userPages == 1)
        try d.run(.exit(cpu: 0, mm: a), .ok)
        #expect(d.model.liveMMs.isEmpty)
        #expect(d.model.state(of: a) == nil)
        #expect(d.model.users(of: a) == nil)
        #expect(d.model.userPages == 0)
    }

    @Test func anMMWithoutUsersIsESRCHEverywhere() throws {
        var d = Driver()
        let gone = try d.newMM()
        try d.run(.exit(cpu: 0, mm: gone), .ok)
        for mm in [gone, 99, -5] {
            let calls: [Call] = [
                .fork(cpu: 0, mm: mm), .mmGet(mm: mm), .exit(cpu: 0, mm: mm), .exec(cpu: 0, mm: mm),
                .mmap(cpu: 0, mm: mm, addr: 0, length: page, prot: RW, flags: privateAnon),
                .munmap(cpu: 0, mm: mm, addr: 0, length: page),
                .mprotect(cpu: 0, mm: mm, addr: 0, length: page, prot: RW),
                .madvise(cpu: 0, mm: mm, addr: 0, length: page, advice: MADV_DONTNEED),
                .switchMM(cpu: 0, mm: mm),
                .load(cpu: 0, mm: mm, addr: 0), .store(cpu: 0, mm: mm, addr: 0, value: 1),
            ]
            for call in calls {
                try d.only(call, ESRCH, not: [.ok, EINVAL, .segv, .mm(50), .value(0), .value(1),
                                             .address(0x1000_0000)])
                // not even when allocations may fail
                d.diverges(call, ENOMEM, mayFail: true)
            }
        }
    }

    @Test func aBadCPUIsEINVALCheckedBeforeTheMM() throws {
        var d = Driver(cpus: 2)
        let a = try d.newMM()
        for cpu in [-1, 2, 1000, Int.max, Int.min] {
            for mm in [a, 77] {   // live and unknown: the CPU is checked first
                let calls: [Call] = [
                    .fork(cpu: cpu, mm: mm), .exit(cpu: cpu, mm: mm), .exec(cpu: cpu, mm: mm),
                    .mmap(cpu: cpu, mm: mm, addr: 0, length: page, prot: RW, flags: privateAnon),
                    .munmap(cpu: cpu, mm: mm, addr: 0, length: page),
                    .mprotect(cpu: cpu, mm: mm, addr: 0, length: page, prot: RW),
                    .madvise(cpu: cpu, mm: mm, addr: 0, length: page, advice: MADV_DONTNEED),
                    .switchMM(cpu: cpu, mm: mm), .switchMM(cpu: cpu, mm: nil),
                    .load(cpu: cpu, mm: mm, addr: 0), .store(cpu: cpu, mm: mm, addr: 0, value: 1),
                ]
                for call in calls {
                    try d.only(call, EINVAL, not: [ESRCH, .ok, .segv, .mm(40)])
                }
            }
        }
        #expect(d.model.users(of: a) == 1)
        try d.run(.fork(cpu: 1, mm: a), .mm(5))   // the last CPU is valid
    }

    @Test func switchMM() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.only(.switchMM(cpu: 3, mm: a), .ok, not: [ESRCH, EINVAL])
        try d.only(.switchMM(cpu: 3, mm: nil), .ok, not: [ESRCH, EINVAL])
        // the machine's uapi spells "no mm" as -1: a kernel thread too
        try d.only(.switchMM(cpu: 0, mm: -1), .ok, not: [ESRCH])
        try d.only(.switchMM(cpu: 0, mm: 9), ESRCH, not: [.ok])
        d.diverges(.switchMM(cpu: 0, mm: a), ENOMEM, mayFail: true)
        #expect(d.state(a).pages.isEmpty)
    }

    @Test func execGivesAFreshMMAndDropsAUserOfTheOld() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x40000)
        try d.store(a, 0x40000, 1)
        try d.run(.mmGet(mm: a), .ok)
        let b = try d.exec(a)
        #expect(d.model.users(of: a) == 1)       // the other task still has it
        #expect(d.model.users(of: b) == 1)
        #expect(d.state(b).mappings.isEmpty)
        try d.only(.load(cpu: 0, mm: b, addr: 0x40000), .segv, not: [.value(1), .value(0)])
        try d.load(a, 0x40000, 1)
        let c = try d.exec(a)                    // the last user: a is gone
        #expect(d.model.liveMMs == [b, c])
        #expect(d.model.userPages == 0)
        try d.only(.load(cpu: 0, mm: a, addr: 0x40000), ESRCH, not: [.value(1)])
    }

    @Test func execMayFailOnlyWhenAllocationsMayAndThenChangesNothing() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x40000)
        try d.store(a, 0x40000, 1)
        d.diverges(.exec(cpu: 0, mm: a), ENOMEM)
        let before = d.model
        try d.run(.exec(cpu: 0, mm: a), ENOMEM, mayFail: true)
        #expect(d.model == before)
        try d.load(a, 0x40000, 1)
        d.diverges(.exec(cpu: 0, mm: a), EINVAL, mayFail: true)
    }

    @Test func forkCopiesPrivateMemoryCopyOnWrite() throws {
        var d = Driver()
        let parent = try d.newMM()
        try d.map(parent, 0x200000, pages: 4)
        try d.store(parent, 0x200000, 11)
        try d.store(parent, 0x201008, 12)
        let child = try d.fork(parent, cpu: 2)
        #expect(d.model.users(of: child) == 1)
        #expect(d.state(child).mappings == d.state(parent).mappings)
        #expect(d.state(child).totalVM == 4)
        // present in both, in the same frames
        let p0 = d.state(parent).pages, c0 = d.state(child).pages
        #expect(c0 == p0)
        #expect(d.state(child).anonRSS == 2)
        #expect(d.model.userPages == 2)
        // the child sees the data; a store on either side stays private
        try d.load(child, 0x200000, 11)
        try d.load(child, 0x201008, 12)
        try d.store(child, 0x200000, 21)
        try d.load(parent, 0x200000, 11)        // a store visible across fork diverges
        try d.load(child, 0x200000, 21)
        try d.store(parent, 0x201008, 32)
        try d.load(child, 0x201008, 12)
        try d.load(parent, 0x201008, 32)
        #expect(d.model.userPages == 4)
        // pages the parent never touched are fresh zero pages on each side
        try d.store(parent, 0x202000, 5)
        try d.load(child, 0x202000, 0)
        // the child's data outlives the parent
        try d.run(.exit(cpu: 0, mm: parent), .ok)
        try d.load(child, 0x200000, 21)
        try d.load(child, 0x201008, 12)
    }

    @Test func forkSharesSharedMappingsButNotTheirPTEs() throws {
        var d = Driver()
        let parent = try d.newMM()
        try d.map(parent, 0x600000, pages: 2, shared: true)
        try d.store(parent, 0x600000, 0xaa)
        let child = try d.fork(parent)
        #expect(d.state(child).mappings == [mapping(0x600000, 0x602000, RW, shared: true)])
        #expect(d.state(child).pages.isEmpty)     // not present until touched
        #expect(d.state(child).fileRSS == 0)
        try d.load(child, 0x600000, 0xaa)
        #expect(d.state(child).fileRSS == 1)
        #expect(d.state(child).pages[0x600000] == d.state(parent).pages[0x600000])
        // stores are visible to both sides
        try d.store(child, 0x601010, 0xbb)
        try d.load(parent, 0x601010, 0xbb)
        try d.store(parent, 0x600000, 0xcc)
        try d.load(child, 0x600000, 0xcc)
        #expect(d.model.userPages == 2)
    }

    @Test func forkMayFailOnlyWhenAllocationsMayAndThenChangesNothing() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.store(a, 0x10000, 3)
        d.diverges(.fork(cpu: 0, mm: a), ENOMEM)
        let before = d.model
        try d.run(.fork(cpu: 0, mm: a), ENOMEM, mayFail: true)
        #expect(d.model == before)
        d.nextID += 1   // an id the machine consumed invisibly
        let child = try d.fork(a)
        try d.load(child, 0x10000, 3)
    }

    @Test func theDivergenceNamesTheCallTheExpectedAndTheObservedOutcome() throws {
        var d = Driver()
        let a = try d.newMM()
        let message = d.diverges(.mmap(cpu: 1, mm: a, addr: 0x1000, length: 0, prot: RW,
                                       flags: privateAnon), .address(0x1000))?.message ?? ""
        #expect(message.contains("mmap(cpu 1, mm \(a), addr 0x1000, length 0x0"))
        #expect(message.contains("expected errno 22"))
        #expect(message.contains("0x1000"))
        let load = d.diverges(.load(cpu: 0, mm: a, addr: 0x5000), .value(7))?.description ?? ""
        #expect(load == "load(cpu 0, mm \(a), addr 0x5000): expected SIGSEGV, machine returned value 0x7")
    }
}
