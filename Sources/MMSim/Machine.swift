import CMMSim

/// One simulated machine: frames, CPUs with TLBs, and the kernel running on
/// them (`struct mmsim`).
///
/// Every kernel call is a method; a negative C return becomes a thrown
/// ``Errno``.  A `Machine` owns mutable C state and is not `Sendable`: use
/// it from one task at a time.  Several machines can exist at once.
///
/// CPUs are plain `Int`s, `0 ..< config.cpus`; a CPU out of range is the
/// kernel's business (EINVAL), so it is passed through, never trapped on.
public final class Machine {
    /// The largest number of CPUs a machine can have.
    public static let maxCPUs = Int(MMSIM_MAX_CPUS)
    /// Bytes in a page.
    public static let pageSize = UInt64(MMSIM_PAGE_SIZE)
    /// The top of user space (x86-64's `TASK_SIZE`).
    public static let taskSize = UInt64(MMSIM_TASK_SIZE)

    /// The configuration the machine was created with.
    public let config: MachineConfig

    private let machine: OpaquePointer

    /// Boots a machine.  Throws EINVAL for a configuration the simulator
    /// does not support, ENOMEM when the host cannot hold it.
    public init(_ config: MachineConfig = .default) throws(Errno) {
        var cConfig = try config.cConfig()
        var out: OpaquePointer?
        _ = try Errno.check(mmsim_create(&cConfig, &out))
        guard let out else { throw .ENOMEM }
        self.config = config
        self.machine = out
    }

    deinit {
        mmsim_destroy(machine)
    }

    /// The C machine, for the test hooks that break the kernel on purpose.
    /// The pointer is valid only inside `body`.
    package func withCMachine<R, E: Error>(
        _ body: (OpaquePointer) throws(E) -> R
    ) throws(E) -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(machine)
    }

    // MARK: Address spaces

    /// A new, empty mm with one user.
    public func newMM() throws(Errno) -> MMID {
        var id: Int32 = -1
        _ = try Errno.check(mmsim_mm_new(machine, &id))
        return MMID(rawValue: id)
    }

    /// fork(): a copy-on-write copy of `mm`, made by its task on `cpu`.
    public func fork(cpu: Int, mm: MMID) throws(Errno) -> MMID {
        var child: Int32 = -1
        _ = try Errno.check(mmsim_fork(machine, try cCPU(cpu), mm.rawValue, &child))
        return MMID(rawValue: child)
    }

    /// clone(CLONE_VM): one more task uses `mm`.
    public func mmGet(_ mm: MMID) throws(Errno) {
        _ = try Errno.check(mmsim_mm_get(machine, mm.rawValue))
    }

    /// exit(): one task of `mm` exits on `cpu`; the last one tears the mm
    /// down.
    public func exit(cpu: Int, mm: MMID) throws(Errno) {
        _ = try Errno.check(mmsim_exit(machine, try cCPU(cpu), mm.rawValue))
    }

    /// execve(): the task of `mm` on `cpu` drops it and gets a fresh, empty
    /// mm, which is returned.
    public func exec(cpu: Int, mm: MMID) throws(Errno) -> MMID {
        var newMM: Int32 = -1
        _ = try Errno.check(mmsim_exec(machine, try cCPU(cpu), mm.rawValue, &newMM))
        return MMID(rawValue: newMM)
    }

    // MARK: System calls

    /// mmap(); returns the address mapped.
    public func mmap(cpu: Int, mm: MMID, addr: UInt64 = 0, length: UInt64,
                     prot: Prot, flags: MapFlags) throws(Errno) -> UInt64 {
        var out: UInt64 = 0
        _ = try Errno.check(mmsim_mmap(machine, try cCPU(cpu), mm.rawValue, addr, length,
                                       prot.rawValue, flags.rawValue, &out))
        return out
    }

    /// munmap().
    public func munmap(cpu: Int, mm: MMID, addr: UInt64, length: UInt64) throws(Errno) {
        _ = try Errno.check(mmsim_munmap(machine, try cCPU(cpu), mm.rawValue, addr, length))
    }

    /// mprotect().
    public func mprotect(cpu: Int, mm: MMID, addr: UInt64, length: UInt64,
                         prot: Prot) throws(Errno) {
        _ = try Errno.check(mmsim_mprotect(machine, try cCPU(cpu), mm.rawValue, addr, length,
                                           prot.rawValue))
    }

    /// madvise().
    public func madvise(cpu: Int, mm: MMID, addr: UInt64, length: UInt64,
                        advice: Advice) throws(Errno) {
        _ = try Errno.check(mmsim_madvise(machine, try cCPU(cpu), mm.rawValue, addr, length,
                                          advice.rawValue))
    }

    /// Runs `mm`'s user code on `cpu`, or a kernel thread when `mm` is nil
    /// (the CPU keeps its old mm loaded: lazy TLB).
    public func switchMM(cpu: Int, to mm: MMID?) throws(Errno) {
        _ = try Errno.check(mmsim_switch_mm(machine, try cCPU(cpu), mm?.rawValue ?? MMSIM_NO_MM))
    }

    // MARK: User accesses

    /// A user load of the 64-bit word at `addr` (8-byte aligned) by a task
    /// of `mm` on `cpu`, through the TLB, taking faults as needed.
    public func load(cpu: Int, mm: MMID, addr: UInt64) throws(Errno) -> AccessResult {
        var value: UInt64 = 0
        let ret = mmsim_load(machine, try cCPU(cpu), mm.rawValue, addr, &value)
        return try AccessResult(ret, value: value)
    }

    /// A user store of `value` to the 64-bit word at `addr`; `.ok` carries
    /// the value stored.
    public func store(cpu: Int, mm: MMID, addr: UInt64, value: UInt64) throws(Errno) -> AccessResult {
        let ret = mmsim_store(machine, try cCPU(cpu), mm.rawValue, addr, value)
        return try AccessResult(ret, value: value)
    }

    // MARK: Fault injection

    /// Fails the `n`th frame or kernel-object allocation from now on (1 is
    /// the next one), once; 0 disarms.
    public func failNthAllocation(_ n: UInt64) {
        mmsim_fail_nth_alloc(machine, n)
    }

    // MARK: State

    /// `mm`'s vmas in address order.
    public func vmas(of mm: MMID) throws(Errno) -> [VMAInfo] {
        var result: [VMAInfo] = []
        var index: UInt32 = 0
        while true {
            var v = mmsim_vma_info()
            let ret = mmsim_vma(machine, mm.rawValue, index, &v)
            if ret == -ENOENT_C { return result }
            _ = try Errno.check(ret)
            result.append(VMAInfo(start: v.start, end: v.end, prot: Prot(rawValue: v.prot),
                                  shared: v.shared != 0))
            index += 1
        }
    }

    /// What `mm`'s page tables say about `addr` (read by software: no TLB,
    /// no accessed bits), or nil when nothing is mapped there.
    public func lookup(mm: MMID, addr: UInt64) throws(Errno) -> PTEInfo? {
        var p = mmsim_pte_info()
        let ret = mmsim_lookup(machine, mm.rawValue, addr, &p)
        if ret == -ENOENT_C { return nil }
        _ = try Errno.check(ret)
        return PTEInfo(pfn: p.pfn, word0: p.word0, present: p.present != 0,
                       writable: p.writable != 0)
    }

    /// `mm`'s counters.
    public func info(of mm: MMID) throws(Errno) -> MMInfo {
        var i = mmsim_mm_info()
        _ = try Errno.check(mmsim_mm_info(machine, mm.rawValue, &i))
        return MMInfo(anonRSS: i.anon_rss, fileRSS: i.file_rss, nrPtes: i.nr_ptes,
                      totalVM: i.total_vm, mapCount: Int(i.map_count), users: Int(i.users))
    }

    /// The machine's counters now.
    public var stats: Stats {
        var s = mmsim_stats()
        mmsim_get_stats(machine, &s)
        return Stats(s)
    }

    /// `stats.allocFailures` alone, without converting every counter: the
    /// checked engine reads it after every call.
    public var allocFailures: UInt64 {
        var s = mmsim_stats()
        mmsim_get_stats(machine, &s)
        return s.alloc_failures
    }

    // MARK: Checking

    /// Every violation recorded since creation or the last
    /// ``clearViolations()``.
    public var violations: [Violation] {
        let count = mmsim_nr_violations(machine)
        var result: [Violation] = []
        result.reserveCapacity(Int(count))
        for index in 0 ..< count {
            var v = mmsim_violation()
            guard mmsim_violation(machine, index, &v) == 0 else { break }
            result.append(Violation(v))
        }
        return result
    }

    /// How many violations are recorded: a cheap count, for checking after
    /// every call without copying them out.
    public var violationCount: Int {
        Int(mmsim_nr_violations(machine))
    }

    /// The violation at `index` (0 is the oldest), or nil past the last.
    public func violation(at index: Int) -> Violation? {
        guard let i = UInt32(exactly: index) else { return nil }
        var v = mmsim_violation()
        guard mmsim_violation(machine, i, &v) == 0 else { return nil }
        return Violation(v)
    }

    public func clearViolations() {
        mmsim_clear_violations(machine)
    }

    /// Whole-machine audit (refcounts, mapcounts, per-mm counters, TLB
    /// coherence); records violations and returns how many it found.
    @discardableResult
    public func check() -> Int {
        Int(mmsim_check(machine))
    }

    /// Leak audit once every mm has exited: idles every CPU, then returns
    /// the number of frames and kernel objects still allocated (each also
    /// recorded as a `.leak` violation).  Throws EBUSY while some mm is
    /// alive.
    @discardableResult
    public func checkLeaks() throws(Errno) -> Int {
        Int(try Errno.check(mmsim_check_leaks(machine)))
    }

    // MARK: Helpers

    /// The CPU as C's `int`; one that does not fit is as out of range as
    /// any other, so EINVAL.
    private func cCPU(_ cpu: Int) throws(Errno) -> Int32 {
        guard let c = Int32(exactly: cpu) else { throw .EINVAL }
        return c
    }
}

@available(*, unavailable, message: "a Machine owns mutable C state; use it from one task")
extension Machine: Sendable {}

extension AccessResult {
    /// Maps `mmsim_load`/`mmsim_store`'s return: 0, -EFAULT (SIGSEGV),
    /// -ENOMEM (OOM); any other error is thrown.
    init(_ ret: Int32, value: UInt64) throws(Errno) {
        switch ret {
        case 0: self = .ok(value)
        case -Errno.EFAULT.rawValue: self = .segv
        case -Errno.ENOMEM.rawValue: self = .oom
        default:
            _ = try Errno.check(ret)
            throw .EINVAL  // a positive return: not in the API
        }
    }
}

private let ENOENT_C = Errno.ENOENT.rawValue
