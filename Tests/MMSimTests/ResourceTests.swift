import Foundation
import CMMSimTestHooks
import MMSim
import Testing

/// Running out of memory, for real or by injection: Linux's errno or
/// VM_FAULT_OOM, and nothing leaks.
@Suite struct ResourceTests {
    @Test(arguments: supportedVariants)
    func framesExhausted(variant: Variant) throws {
        let m = try makeMachine(cpus: 4, frames: 64, variant: variant)
        let start = m.stats.framesUsedNow
        let mm = try m.newMM()
        // mmap only reserves address space: it succeeds.
        let base = try mapAnon(m, mm: mm, pages: 256)
        var stored = 0
        var ooms = 0
        for p in 0 ..< UInt64(256) {
            switch try m.store(cpu: Int(p % 4), mm: mm, addr: base + p * page, value: p) {
            case .ok: stored += 1
            case .oom: ooms += 1
            case .segv: Issue.record("SIGSEGV on a mapped page \(p)")
            }
        }
        #expect(ooms > 0)
        #expect(stored > 0 && stored < 64)
        #expect(m.stats.allocFailures > 0)
        expectClean(m)

        // Whatever was stored is still there; giving memory back lets new
        // faults succeed.
        for p in stride(from: UInt64(0), to: 256, by: 16) {
            let got = try m.load(cpu: 1, mm: mm, addr: base + p * page)
            #expect(got == .ok(p) || got == .ok(0) || got == .oom)
        }
        try m.munmap(cpu: 0, mm: mm, addr: base, length: 256 * page)
        let again = try mapAnon(m, mm: mm, pages: 4)
        try put(m, cpu: 2, mm: mm, again, 42)
        #expect(throws: Errno.ENOMEM) {
            while true {
                // Filling memory again runs out again, the same way.
                let pages = try mapAnon(m, mm: mm, pages: 16)
                for p in 0 ..< UInt64(16) {
                    guard try m.store(cpu: 0, mm: mm, addr: pages + p * page, value: 1) == .ok(1) else {
                        throw Errno.ENOMEM
                    }
                }
            }
        }
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
        #expect(m.stats.framesUsedNow == start)
    }

    @Test(arguments: supportedVariants)
    func forkWhenFramesRunOut(variant: Variant) throws {
        let m = try makeMachine(cpus: 4, frames: 64, variant: variant)
        let parent = try m.newMM()
        let base = try mapAnon(m, mm: parent, pages: 40)
        for p in 0 ..< UInt64(40) {
            _ = try m.store(cpu: 0, mm: parent, addr: base + p * page, value: p)
        }
        var children: [MMID] = []
        do {
            for _ in 0 ..< 64 {
                children.append(try m.fork(cpu: 1, mm: parent))
            }
            Issue.record("64 forks fit in 64 frames")
        } catch {
            #expect(error == .ENOMEM)
        }
        // COW in the children until memory runs out: OOM, not a crash.
        for child in children {
            for p in 0 ..< UInt64(40) {
                let r = try m.store(cpu: 2, mm: child, addr: base + p * page, value: ~p)
                #expect(r == .ok(~p) || r == .oom)
            }
        }
        expectClean(m)
        try expectNoLeaks(m, exiting: children + [parent])
    }

    /// One pass over every call that allocates, each allowed to fail with
    /// ENOMEM (or OOM for an access), as it must when allocation `n` fails.
    /// Returns the mms still alive.
    static func allocatingWorkload(_ m: Machine) throws -> [MMID] {
        func tolerate<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T? {
            do {
                return try body()
            } catch .ENOMEM {
                return nil
            }
        }
        func access(_ r: AccessResult, _ value: UInt64) {
            #expect(r == .ok(value) || r == .oom, "got \(r)")
        }

        guard let parent = try tolerate({ () throws(Errno) in try m.newMM() }) else { return [] }
        var alive = [parent]
        let priv = try tolerate { () throws(Errno) in
            try m.mmap(cpu: 0, mm: parent, length: 8 * page, prot: rw, flags: .anonymousPrivate)
        }
        let shared = try tolerate { () throws(Errno) in
            try m.mmap(cpu: 1, mm: parent, length: 2 * page, prot: rw, flags: .anonymousShared)
        }
        if let priv {
            for p in 0 ..< UInt64(8) {
                access(try m.store(cpu: Int(p % 4), mm: parent, addr: priv + p * page, value: p), p)
            }
        }
        if let shared {
            access(try m.store(cpu: 2, mm: parent, addr: shared, value: 7), 7)
        }
        if let child = try tolerate({ () throws(Errno) in try m.fork(cpu: 0, mm: parent) }) {
            alive.append(child)
            if let priv {
                access(try m.store(cpu: 3, mm: child, addr: priv, value: 9), 9)
                access(try m.store(cpu: 2, mm: parent, addr: priv + page, value: 10), 10)
                // Splitting a vma allocates one.
                _ = try tolerate { () throws(Errno) in
                    try m.mprotect(cpu: 1, mm: child, addr: priv + 2 * page, length: page, prot: .read)
                }
                _ = try tolerate { () throws(Errno) in
                    try m.munmap(cpu: 1, mm: child, addr: priv + 4 * page, length: page)
                }
                try m.madvise(cpu: 2, mm: child, addr: priv, length: page, advice: .dontneed)
            }
            if let execed = try tolerate({ () throws(Errno) in try m.exec(cpu: 3, mm: child) }) {
                alive[1] = execed
                if let fresh = try tolerate({ () throws(Errno) in
                    try m.mmap(cpu: 3, mm: execed, length: page, prot: rw, flags: .anonymousPrivate)
                }) {
                    access(try m.store(cpu: 3, mm: execed, addr: fresh, value: 11), 11)
                }
            }
        }
        return alive
    }

    @Test(arguments: supportedVariants)
    func injectedAllocationFailureAtEveryPoint(variant: Variant) throws {
        var points = 0
        for n in UInt64(1) ... 1000 {
            let m = try makeMachine(variant: variant)
            m.failNthAllocation(n)
            let alive = try Self.allocatingWorkload(m)
            let fired = m.stats.allocFailures > 0
            #expect(m.check() == 0, "allocation \(n)")
            #expect(m.violations.isEmpty, "allocation \(n): \(m.violations)")
            m.failNthAllocation(0)
            for mm in alive {
                try m.exit(cpu: 0, mm: mm)
            }
            #expect(try m.checkLeaks() == 0, "allocation \(n)")
            #expect(m.violations.isEmpty, "allocation \(n): \(m.violations)")
            if !fired {
                break  // past the workload's last allocation: every point is done
            }
            points += 1
        }
        #expect(points > 10, "the workload allocates")
        #expect(points < 1000, "the failure stopped firing")
    }

    @Test func disarmedInjectionDoesNothing() throws {
        let m = try makeMachine()
        m.failNthAllocation(1)
        m.failNthAllocation(0)
        let alive = try Self.allocatingWorkload(m)
        #expect(m.stats.allocFailures == 0)
        #expect(alive.count == 2)
        expectClean(m)
        try expectNoLeaks(m, exiting: alive)
    }

    @Test func injectedFailureFiresOnce() throws {
        let m = try makeMachine()
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 1)
        m.failNthAllocation(1)
        // The first fault needs page tables and a page: one of them fails.
        #expect(try m.store(cpu: 0, mm: mm, addr: base, value: 1) == .oom)
        #expect(m.stats.allocFailures == 1)
        #expect(try m.store(cpu: 0, mm: mm, addr: base, value: 1) == .ok(1))
        expectClean(m)
        try expectNoLeaks(m, exiting: [mm])
    }

    /// A powered-off machine's memory is kept for the next machine with
    /// as many frames: that one must find every frame zero (those the last
    /// one still used, those it freed and its page tables alike) and all
    /// free, handed out in the same order as on a fresh machine.
    @Test func reusedMemoryIsAsAtBoot() throws {
        let frames = 333 // a size no other test boots, so that it is reused here
        let fresh = try Self.dirtyMachine(frames: frames)
        #expect(fresh.nonzero > 300)
        // The spare is one per process, and the other suites boot and power
        // off machines of other sizes at the same time: while they run it
        // may stay taken.  Keep trying until it comes back (it does once
        // they are done); a reset that is wrong fails the checks below on
        // the first reuse, and a spare never reused fails after 60 s.
        var reused = false
        let deadline = ContinuousClock.now + .seconds(60)
        while !reused && ContinuousClock.now < deadline {
            let next = try makeMachine(cpus: 2, frames: frames)
            reused = next.withCMachine { mmsim_test_frames_base($0) } == fresh.base
            #expect(next.withCMachine { mmsim_test_frames_nonzero($0) } == 0)
            #expect(next.stats.framesUsedNow == 0)
            let again = try Self.dirtyMachine(frames: frames, on: next)
            #expect(again.pfns == fresh.pfns)
            #expect(again.nonzero == fresh.nonzero)
            if !reused { Thread.sleep(forTimeInterval: 0.01) }
        }
        #expect(reused, "no machine was booted on the memory of one powered off before")
    }

    /// Stores to 300 pages of a new machine (or `m`), unmaps the upper
    /// half and powers it off with the rest still mapped; returns where
    /// its frame memory was, how many words of it were not zero, and the
    /// frames of the pages.
    private static func dirtyMachine(frames: Int, on m: Machine? = nil) throws
        -> (base: UInt64, nonzero: Int32, pfns: [UInt64]) {
        let m = try m ?? makeMachine(cpus: 2, frames: frames)
        let mm = try m.newMM()
        let base = try mapAnon(m, mm: mm, pages: 300)
        var pfns: [UInt64] = []
        for p in 0 ..< UInt64(300) {
            #expect(try m.store(cpu: Int(p % 2), mm: mm, addr: base + p * page, value: ~p) == .ok(~p))
            pfns.append(try m.lookup(mm: mm, addr: base + p * page)?.pfn ?? UInt64.max)
        }
        try m.munmap(cpu: 0, mm: mm, addr: base + 150 * page, length: 150 * page)
        return m.withCMachine { (mmsim_test_frames_base($0), mmsim_test_frames_nonzero($0), pfns) }
    }
}
