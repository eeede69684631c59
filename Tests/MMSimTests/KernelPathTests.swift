import MMSim
import Testing

/// Each kernel path on a 4-CPU machine, on every variant the simulator
/// supports.  Every test ends with a clean audit.
@Suite struct KernelPathTests {
    @Test func baselineVariantsBoot() throws {
        for variant in baselineVariants {
            let m = try makeMachine(variant: variant)
            #expect(m.config.variant == variant)
            #expect(m.config.cpus == 4)
        }
        #expect(supportedVariants.contains(.baseline))
    }

    @Test(arguments: supportedVariants)
    func anonymousPrivateFault(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 4)
        #expect(try m.vmas(of: mm) == [VMAInfo(start: base, end: base + 4 * page, prot: rw, shared: false)])
        #expect(try m.lookup(mm: mm, addr: base) == nil)

        for cpu in 0 ..< 4 {
            try put(m, cpu: cpu, mm: mm, base + UInt64(cpu) * page, tag(1, UInt64(cpu)))
        }
        for cpu in 0 ..< 4 {
            for p in 0 ..< UInt64(4) {
                #expect(try m.load(cpu: cpu, mm: mm, addr: base + p * page) == .ok(tag(1, p)))
            }
        }
        // Another word of the same page is still zero.
        #expect(try m.load(cpu: 1, mm: mm, addr: base + 8) == .ok(0))

        let pte = try #require(try m.lookup(mm: mm, addr: base + page))
        #expect(pte.present && pte.writable)
        #expect(pte.word0 == tag(1, 1))
        let info = try m.info(of: mm)
        #expect(info.anonRSS == 4)
        #expect(info.totalVM == 4)
        #expect(info.mapCount == 1)
        #expect(info.users == 1)
        #expect(info.nrPtes >= 1)
        #expect(m.stats.faults >= 4)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: supportedVariants)
    func sharedMappingVisibleAcrossFork(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let parent = try m.newMM()
        let base = try mapAnon(m, mm: parent, pages: 4, shared: true)
        try put(m, cpu: 0, mm: parent, base, tag(1, 0))
        let child = try m.fork(cpu: 0, mm: parent)
        #expect(try m.vmas(of: child) == m.vmas(of: parent))

        #expect(try m.load(cpu: 1, mm: child, addr: base) == .ok(tag(1, 0)))
        try put(m, cpu: 1, mm: child, base, tag(2, 0))
        #expect(try m.load(cpu: 2, mm: parent, addr: base) == .ok(tag(2, 0)))
        // A page first touched after fork is shared too.
        try put(m, cpu: 2, mm: parent, base + 3 * page, tag(3, 3))
        #expect(try m.load(cpu: 3, mm: child, addr: base + 3 * page) == .ok(tag(3, 3)))
        #expect(try m.lookup(mm: parent, addr: base)?.pfn == m.lookup(mm: child, addr: base)?.pfn)
        #expect(m.stats.cowCopies == 0)
        expectClean(m)
        try expectNoLeaks(m, exiting: [parent, child])
    }

    @Test(arguments: supportedVariants)
    func forkCopyOnWrite(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let parent = try m.newMM()
        let base = try mapAnon(m, mm: parent, pages: 8)
        for p in 0 ..< UInt64(8) {
            try put(m, cpu: Int(p % 4), mm: parent, base + p * page, tag(1, p))
        }
        let child = try m.fork(cpu: 0, mm: parent)
        #expect(m.stats.forks == 1)
        // After fork both see the old values, through read-only ptes.
        for p in 0 ..< UInt64(8) {
            #expect(try m.load(cpu: 3, mm: child, addr: base + p * page) == .ok(tag(1, p)))
        }
        #expect(try m.lookup(mm: parent, addr: base)?.writable == false)

        // The parent writes pages 0-3 on CPU 1, the child pages 2-5 on CPU 2.
        for p in 0 ..< UInt64(4) {
            try put(m, cpu: 1, mm: parent, base + p * page, tag(2, p))
        }
        for p in 2 ..< UInt64(6) {
            try put(m, cpu: 2, mm: child, base + p * page, tag(3, p))
        }
        for p in 0 ..< UInt64(8) {
            let inParent = p < 4 ? tag(2, p) : tag(1, p)
            let inChild = (2 ..< 6).contains(p) ? tag(3, p) : tag(1, p)
            for cpu in 0 ..< 4 {
                #expect(try m.load(cpu: cpu, mm: parent, addr: base + p * page) == .ok(inParent))
                #expect(try m.load(cpu: cpu, mm: child, addr: base + p * page) == .ok(inChild))
            }
        }
        let stats = m.stats
        #expect(stats.cowCopies + stats.cowReuses == 8)
        #expect(stats.cowCopies >= 4)
        expectClean(m)
        try expectNoLeaks(m, exiting: [child, parent])
    }

    @Test(arguments: supportedVariants)
    func mprotectRemovesWrite(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 4)
        // Every CPU caches a writable entry for page 0.
        for cpu in 0 ..< 4 {
            try put(m, cpu: cpu, mm: mm, base, tag(1, UInt64(cpu)))
        }
        try m.mprotect(cpu: 0, mm: mm, addr: base, length: 2 * page, prot: .read)
        #expect(try m.vmas(of: mm).map(\.prot) == [.read, rw])
        for cpu in 0 ..< 4 {
            #expect(try m.store(cpu: cpu, mm: mm, addr: base, value: 1) == .segv)
            #expect(try m.store(cpu: cpu, mm: mm, addr: base + page, value: 1) == .segv)
            #expect(try m.load(cpu: cpu, mm: mm, addr: base) == .ok(tag(1, 3)))
        }
        try put(m, cpu: 1, mm: mm, base + 2 * page, 7)

        try m.mprotect(cpu: 2, mm: mm, addr: base, length: 2 * page, prot: .none)
        #expect(try m.load(cpu: 3, mm: mm, addr: base) == .segv)
        try m.mprotect(cpu: 2, mm: mm, addr: base, length: 4 * page, prot: rw)
        #expect(try m.vmas(of: mm).count == 1)
        try put(m, cpu: 3, mm: mm, base, 9)
        #expect(try m.load(cpu: 0, mm: mm, addr: base) == .ok(9))
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: supportedVariants)
    func madviseDontneed(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let priv = try mapAnon(m, mm: mm, pages: 4)
        let shared = try mapAnon(m, mm: mm, pages: 4, shared: true)
        for p in 0 ..< UInt64(4) {
            for cpu in 0 ..< 4 {
                try put(m, cpu: cpu, mm: mm, priv + p * page, tag(1, p))
                try put(m, cpu: cpu, mm: mm, shared + p * page, tag(2, p))
            }
        }
        try m.madvise(cpu: 1, mm: mm, addr: priv, length: 4 * page, advice: .dontneed)
        try m.madvise(cpu: 1, mm: mm, addr: shared, length: 4 * page, advice: .dontneed)
        #expect(try m.lookup(mm: mm, addr: priv) == nil)
        #expect(try m.info(of: mm).anonRSS == 0)
        #expect(try m.vmas(of: mm).count == 2)
        for p in 0 ..< UInt64(4) {
            for cpu in 0 ..< 4 {
                #expect(try m.load(cpu: cpu, mm: mm, addr: priv + p * page) == .ok(0))
                #expect(try m.load(cpu: cpu, mm: mm, addr: shared + p * page) == .ok(tag(2, p)))
            }
        }
        // The vma stays: stores fault in fresh pages.
        try put(m, cpu: 2, mm: mm, priv, 5)
        #expect(try m.load(cpu: 0, mm: mm, addr: priv) == .ok(5))
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: supportedVariants)
    func munmapThenAccessFaults(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 8)
        for p in 0 ..< UInt64(8) {
            for cpu in 0 ..< 4 {
                #expect(try m.load(cpu: cpu, mm: mm, addr: base + p * page) == .ok(0))
            }
            try put(m, cpu: Int(p % 4), mm: mm, base + p * page, tag(1, p))
        }
        // A hole in the middle splits the vma.
        try m.munmap(cpu: 0, mm: mm, addr: base + 2 * page, length: 2 * page)
        #expect(try m.vmas(of: mm).map(\.length) == [2 * page, 4 * page])
        for cpu in 0 ..< 4 {
            #expect(try m.load(cpu: cpu, mm: mm, addr: base + 2 * page) == .segv)
            #expect(try m.store(cpu: cpu, mm: mm, addr: base + 3 * page, value: 1) == .segv)
            #expect(try m.load(cpu: cpu, mm: mm, addr: base + 4 * page) == .ok(tag(1, 4)))
        }
        try m.munmap(cpu: 1, mm: mm, addr: base, length: 8 * page)
        #expect(try m.vmas(of: mm).isEmpty)
        #expect(try m.lookup(mm: mm, addr: base) == nil)
        #expect(try m.info(of: mm).anonRSS == 0)
        for cpu in 0 ..< 4 {
            #expect(try m.load(cpu: cpu, mm: mm, addr: base + 5 * page) == .segv)
        }
        // Unmapping nothing is not an error.
        try m.munmap(cpu: 1, mm: mm, addr: base, length: 8 * page)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: supportedVariants)
    func execGivesAnEmptyMM(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let old = try m.newMM()
        let base = try mapAnon(m, mm: old, pages: 4)
        try put(m, cpu: 1, mm: old, base, 1)
        let new = try m.exec(cpu: 1, mm: old)
        #expect(new != old)
        #expect(try m.vmas(of: new).isEmpty)
        let info = try m.info(of: new)
        #expect(info.mapCount == 0 && info.anonRSS == 0 && info.totalVM == 0 && info.users == 1)
        #expect(try m.load(cpu: 1, mm: new, addr: base) == .segv)
        // The old mm had no other user: it is gone.
        #expect(throws: Errno.ESRCH) { try m.info(of: old) }
        let again = try mapAnon(m, cpu: 2, mm: new, pages: 1)
        try put(m, cpu: 2, mm: new, again, 2)
        expectClean(m)
        try expectNoLeaks(m, exiting: [new], cpu: 2)
    }

    @Test(arguments: supportedVariants)
    func execKeepsTheOldMMForItsOtherUsers(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let old = try m.newMM()
        let base = try mapAnon(m, mm: old, pages: 1)
        try put(m, cpu: 0, mm: old, base, 1)
        try m.mmGet(old)
        #expect(try m.info(of: old).users == 2)
        let new = try m.exec(cpu: 1, mm: old)
        #expect(try m.info(of: old).users == 1)
        #expect(try m.load(cpu: 0, mm: old, addr: base) == .ok(1))
        expectClean(m)
        try expectNoLeaks(m, exiting: [old, new])
    }

    @Test(arguments: supportedVariants)
    func exitFreesEverything(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let start = m.stats
        let parent = try m.newMM()
        #expect(throws: Errno.EBUSY) { try m.checkLeaks() }
        let priv = try mapAnon(m, mm: parent, pages: 600)
        let shared = try mapAnon(m, mm: parent, pages: 8, shared: true)
        for p in 0 ..< UInt64(600) {
            try put(m, cpu: Int(p % 4), mm: parent, priv + p * page, p)
        }
        for p in 0 ..< UInt64(8) {
            try put(m, cpu: 1, mm: parent, shared + p * page, p)
        }
        let child = try m.fork(cpu: 2, mm: parent)
        for p in stride(from: UInt64(0), to: 600, by: 7) {
            try put(m, cpu: 3, mm: child, priv + p * page, ~p)
        }
        #expect(m.stats.framesUsedNow > start.framesUsedNow + 600)
        // Threads: two more users of the child.
        try m.mmGet(child)
        try m.exit(cpu: 1, mm: child)
        try m.exit(cpu: 0, mm: parent)
        #expect(throws: Errno.EBUSY) { try m.checkLeaks() }
        try m.exit(cpu: 3, mm: child)
        #expect(throws: Errno.ESRCH) { try m.exit(cpu: 3, mm: child) }

        #expect(try m.checkLeaks() == 0)
        let end = m.stats
        #expect(end.framesUsedNow == start.framesUsedNow)
        #expect(end.slabObjectsNow == start.slabObjectsNow)
        #expect(end.exits >= 2)
        expectClean(m)
    }
}

/// TLB shootdown: stale entries, lazy CPUs.
@Suite struct ShootdownTests {
    @Test(arguments: supportedVariants)
    func lazyCPUGetsTheIPI(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 4)
        try put(m, cpu: 0, mm: mm, base, 1)
        #expect(try m.load(cpu: 1, mm: mm, addr: base) == .ok(1))
        // CPU 1 runs a kernel thread but keeps mm loaded (lazy TLB).
        try m.switchMM(cpu: 1, to: nil)
        let before = m.stats
        try m.munmap(cpu: 0, mm: mm, addr: base, length: 4 * page)
        let after = m.stats
        #expect(after.ipisLazy > before.ipisLazy)
        #expect(after.ipis > before.ipis)
        #expect(try m.load(cpu: 1, mm: mm, addr: base) == .segv)
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: supportedVariants)
    func munmapFlushesStaleEntriesEverywhere(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 16)
        for p in 0 ..< UInt64(16) {
            try put(m, cpu: 0, mm: mm, base + p * page, tag(1, p))
            for cpu in 1 ..< 4 {
                #expect(try m.load(cpu: cpu, mm: mm, addr: base + p * page) == .ok(tag(1, p)))
            }
        }
        let before = m.stats
        try m.munmap(cpu: 2, mm: mm, addr: base, length: 16 * page)
        let after = m.stats
        #expect(after.ipis > before.ipis)
        #expect(after.entriesInvalidated > before.entriesInvalidated)
        #expect(after.pagesFreed >= before.pagesFreed + 16)
        expectClean(m)
        // Nothing stale is used: every CPU faults.
        for cpu in 0 ..< 4 {
            for p in 0 ..< UInt64(16) {
                #expect(try m.load(cpu: cpu, mm: mm, addr: base + p * page) == .segv)
            }
        }
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    @Test(arguments: supportedVariants)
    func twoMMsOnDifferentCPUs(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let a = try m.newMM()
        let b = try m.newMM()
        let pa = try mapAnon(m, mm: a, pages: 2)
        let pb = try mapAnon(m, mm: b, pages: 2)
        try put(m, cpu: 0, mm: a, pa, 1)
        try put(m, cpu: 1, mm: b, pb, 2)
        try put(m, cpu: 0, mm: b, pb + page, 3)
        try m.switchMM(cpu: 0, to: a)
        try m.munmap(cpu: 1, mm: b, addr: pb, length: 2 * page)
        #expect(try m.load(cpu: 0, mm: b, addr: pb + page) == .segv)
        #expect(try m.load(cpu: 1, mm: a, addr: pa) == .ok(1))
        expectClean(m)
        try expectNoLeaks(m, exiting: [a, b])
    }
}
