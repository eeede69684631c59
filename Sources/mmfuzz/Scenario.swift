import MMSim

/// The built-in scenario: one pass over every kernel path the foundation
/// covers, on several CPUs, checking each result the way a user program
/// would see it.
///
/// Mismatches are collected as failures, not thrown, so that one wrong
/// result does not hide the rest; an unexpected errno ends the run (it is
/// reported as a failure too).
struct Scenario {
    let machine: Machine
    let cpus: Int
    private(set) var failures: [String] = []

    private static let page = Machine.pageSize

    /// Pages of the private and shared mappings.
    static let privatePages: UInt64 = 64
    static let sharedPages: UInt64 = 16
    /// A mapping larger than 2.6.16's `FREE_PTE_NR` (506), so that the
    /// vector gather fills up when it is unmapped.
    static let bigPages: UInt64 = 600

    init(machine: Machine) {
        self.machine = machine
        self.cpus = machine.config.cpus
    }

    /// The CPU for the `i`th actor, whatever the number of CPUs.
    private func cpu(_ i: Int) -> Int {
        i % cpus
    }

    /// A recognizable value: which step wrote it, and where.
    private static func tag(_ step: UInt64, _ page: UInt64) -> UInt64 {
        0x5eed_0000_0000_0000 | step << 32 | page
    }

    private mutating func fail(_ what: String) {
        failures.append(what)
    }

    private mutating func expectLoad(_ cpu: Int, _ mm: MMID, _ addr: UInt64,
                                     _ expected: AccessResult, _ what: String) throws(Errno) {
        let got = try machine.load(cpu: cpu, mm: mm, addr: addr)
        if got != expected {
            fail("\(what): load cpu \(cpu) \(mm) 0x\(String(addr, radix: 16)): expected \(expected), got \(got)")
        }
    }

    private mutating func expectStore(_ cpu: Int, _ mm: MMID, _ addr: UInt64, _ value: UInt64,
                                      _ expected: AccessResult, _ what: String) throws(Errno) {
        let got = try machine.store(cpu: cpu, mm: mm, addr: addr, value: value)
        if got != expected {
            fail("\(what): store cpu \(cpu) \(mm) 0x\(String(addr, radix: 16)): expected \(expected), got \(got)")
        }
    }

    private mutating func store(_ cpu: Int, _ mm: MMID, _ addr: UInt64, _ value: UInt64,
                                _ what: String) throws(Errno) {
        try expectStore(cpu, mm, addr, value, .ok(value), what)
    }

    /// Runs the whole-machine audit between phases; what it finds is
    /// recorded as violations.
    private func checkpoint() {
        machine.check()
    }

    /// Runs the scenario; returns normally even when a step fails.
    mutating func run() {
        do {
            try steps()
        } catch {
            fail("unexpected \(error)")
        }
    }

    private mutating func steps() throws(Errno) {
        let page = Self.page
        let rw = Prot.readWrite

        // An mm with a private and a shared anonymous mapping.
        let parent = try machine.newMM()
        let priv = try machine.mmap(cpu: cpu(0), mm: parent, length: Self.privatePages * page,
                                    prot: rw, flags: .anonymousPrivate)
        let shared = try machine.mmap(cpu: cpu(0), mm: parent, length: Self.sharedPages * page,
                                      prot: rw, flags: .anonymousShared)

        // Anonymous faults from every CPU, then reads from every CPU so that
        // each TLB holds entries for the mm.
        for p in 0 ..< Self.privatePages {
            try store(cpu(Int(p)), parent, priv + p * page, Self.tag(1, p), "anonymous fault")
        }
        for p in 0 ..< Self.sharedPages {
            try store(cpu(Int(p) + 1), parent, shared + p * page, Self.tag(2, p), "shared fault")
        }
        for c in 0 ..< cpus {
            for p in 0 ..< Self.privatePages {
                try expectLoad(c, parent, priv + p * page, .ok(Self.tag(1, p)), "read back")
            }
        }

        checkpoint()

        // fork, then copy-on-write from both sides on different CPUs.
        let child = try machine.fork(cpu: cpu(0), mm: parent)
        let half = Self.privatePages / 2
        for p in 0 ..< half {
            try store(cpu(1), parent, priv + p * page, Self.tag(3, p), "COW in parent")
        }
        for p in half ..< Self.privatePages {
            try store(cpu(2), child, priv + p * page, Self.tag(4, p), "COW in child")
        }
        try store(cpu(3), child, priv, Self.tag(5, 0), "COW in child after parent")
        for p in 0 ..< Self.privatePages {
            let inParent = p < half ? Self.tag(3, p) : Self.tag(1, p)
            let inChild = p == 0 ? Self.tag(5, 0) : p < half ? Self.tag(1, p) : Self.tag(4, p)
            try expectLoad(cpu(0), parent, priv + p * page, .ok(inParent), "parent after COW")
            try expectLoad(cpu(3), child, priv + p * page, .ok(inChild), "child after COW")
        }

        // The shared mapping stays shared across fork.
        try store(cpu(2), child, shared, Self.tag(6, 0), "shared store in child")
        try expectLoad(cpu(1), parent, shared, .ok(Self.tag(6, 0)), "shared seen by parent")

        checkpoint()

        // mprotect: no more writes, reads still work.
        try machine.mprotect(cpu: cpu(0), mm: parent, addr: priv, length: 8 * page, prot: .read)
        try expectStore(cpu(1), parent, priv, 1, .segv, "store after mprotect(PROT_READ)")
        try expectLoad(cpu(1), parent, priv, .ok(Self.tag(3, 0)), "load after mprotect(PROT_READ)")

        // MADV_DONTNEED: private pages read back as zeros, shared data stays.
        try machine.madvise(cpu: cpu(1), mm: parent, addr: priv + 8 * page, length: 8 * page,
                            advice: .dontneed)
        try machine.madvise(cpu: cpu(1), mm: parent, addr: shared, length: Self.sharedPages * page,
                            advice: .dontneed)
        for p in 8 ..< UInt64(16) {
            try expectLoad(cpu(2), parent, priv + p * page, .ok(0), "private after MADV_DONTNEED")
        }
        try expectLoad(cpu(2), parent, shared, .ok(Self.tag(6, 0)), "shared after MADV_DONTNEED")
        try expectLoad(cpu(3), child, priv + 8 * page, .ok(Self.tag(1, 8)), "child after parent's MADV_DONTNEED")

        checkpoint()

        // Lazy TLB: the last CPU switches to a kernel thread while it still
        // caches the parent's pages; munmap from another CPU must reach it.
        let lazy = cpu(cpus - 1)
        try expectLoad(lazy, parent, priv + 16 * page, .ok(Self.tag(3, 16)), "touch before lazy")
        try machine.switchMM(cpu: lazy, to: nil)
        try machine.munmap(cpu: cpu(0), mm: parent, addr: priv + 16 * page, length: 16 * page)
        try expectLoad(cpu(1), parent, priv + 16 * page, .segv, "load after munmap")
        try expectStore(lazy, parent, priv + 20 * page, 1, .segv, "store after munmap on the lazy CPU")

        checkpoint()

        // A big unmap: more touched pages than one gather vector holds.
        let big = try machine.mmap(cpu: cpu(0), mm: parent, length: Self.bigPages * page,
                                   prot: rw, flags: .anonymousPrivate)
        for p in 0 ..< Self.bigPages {
            try store(cpu(Int(p)), parent, big + p * page, Self.tag(7, p), "big mapping")
        }
        try machine.munmap(cpu: cpu(1), mm: parent, addr: big, length: Self.bigPages * page)
        try expectLoad(cpu(2), parent, big, .segv, "load after big munmap")

        checkpoint()

        // exec: the child's task gets a fresh, empty mm.
        let execed = try machine.exec(cpu: cpu(2), mm: child)
        let left = try machine.vmas(of: execed)
        if !left.isEmpty {
            fail("exec: new mm has vmas \(left)")
        }
        try expectLoad(cpu(2), execed, priv, .segv, "load after exec")
        let fresh = try machine.mmap(cpu: cpu(2), mm: execed, length: 4 * page, prot: rw,
                                     flags: .anonymousPrivate)
        try store(cpu(3), execed, fresh, Self.tag(8, 0), "store after exec")
        try expectLoad(cpu(0), parent, shared, .ok(Self.tag(6, 0)), "shared after child exec")

        checkpoint()

        // exit: everything goes back to the allocator.
        try machine.exit(cpu: cpu(0), mm: parent)
        try machine.exit(cpu: cpu(2), mm: execed)
        checkpoint()
        let leaks = try machine.checkLeaks()
        if leaks != 0 {
            fail("exit: \(leaks) frames or objects leaked")
        }
    }
}
