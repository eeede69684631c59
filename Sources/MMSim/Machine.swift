@_exported import MMCall
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

    // MARK: Calls

    /// Makes `request` as the task of `mm` on `cpu` (`mm` nil: no mm, for
    /// a switch to a kernel thread; a request that names no CPU or no mm
    /// ignores them) and returns what came back, errors included.  Any
    /// request, through the machine's one entry (`mmsim_call`).
    @inline(__always)
    public func perform(cpu: Int, mm: MMID?, _ request: Request) -> Outcome {
        var op = mmsim_op()
        guard Self.fill(&op, cpu: cpu, mm: mm, request) else { return .errno(Errno.EINVAL.rawValue) }
        let ret = mmsim_call(machine, &op)
        return Outcome(request.kind, ret: Int64(ret), out: op.out)
    }

    /// `op` made from a request, or false when the CPU does not fit C's
    /// `int` (as out of range as any other: EINVAL).
    @inline(__always)
    static func fill(_ op: inout mmsim_op, cpu: Int, mm: MMID?, _ request: Request) -> Bool {
        let who = request.kind.who
        var c: Int32 = 0
        if who.namesCPU {
            guard let fits = Int32(exactly: cpu) else { return false }
            c = fits
        }
        let abi = request.abi
        op.kind = abi.kind
        op.cpu = c
        op.mm = who.namesMM ? mm?.rawValue ?? MMSIM_NO_MM : MMSIM_NO_MM
        op.addr = abi.addr
        op.len = abi.len
        op.value = abi.value
        op.prot = abi.prot
        op.flags = abi.flags
        return true
    }

    /// The request's `out` when it succeeds; its errno thrown otherwise.
    private func call(cpu: Int = 0, mm: MMID? = nil, _ request: Request) throws(Errno) -> UInt64 {
        var op = mmsim_op()
        guard Self.fill(&op, cpu: cpu, mm: mm, request) else { throw .EINVAL }
        _ = try Errno.check(mmsim_call(machine, &op))
        return op.out
    }

    // Each request as a method of its own, for tests and tools.

    /// A new, empty mm with one user.
    public func newMM() throws(Errno) -> MMID {
        MMID(rawValue: Int32(truncatingIfNeeded: try call(.newMM)))
    }

    /// fork(): a copy-on-write copy of `mm`, made by its task on `cpu`.
    public func fork(cpu: Int, mm: MMID) throws(Errno) -> MMID {
        MMID(rawValue: Int32(truncatingIfNeeded: try call(cpu: cpu, mm: mm, .fork)))
    }

    /// clone(CLONE_VM): one more task uses `mm`.
    public func mmGet(_ mm: MMID) throws(Errno) {
        _ = try call(mm: mm, .mmGet)
    }

    /// exit(): one task of `mm` exits on `cpu`; the last one tears the mm
    /// down.
    public func exit(cpu: Int, mm: MMID) throws(Errno) {
        _ = try call(cpu: cpu, mm: mm, .exit)
    }

    /// execve(): the task of `mm` on `cpu` drops it and gets a fresh, empty
    /// mm, which is returned.
    public func exec(cpu: Int, mm: MMID) throws(Errno) -> MMID {
        MMID(rawValue: Int32(truncatingIfNeeded: try call(cpu: cpu, mm: mm, .exec)))
    }

    /// mmap(); returns the address mapped.
    public func mmap(cpu: Int, mm: MMID, addr: UInt64 = 0, length: UInt64,
                     prot: Prot, flags: MapFlags) throws(Errno) -> UInt64 {
        try call(cpu: cpu, mm: mm, .mmap(addr: addr, length: length, prot: prot, flags: flags))
    }

    /// munmap().
    public func munmap(cpu: Int, mm: MMID, addr: UInt64, length: UInt64) throws(Errno) {
        _ = try call(cpu: cpu, mm: mm, .munmap(addr: addr, length: length))
    }

    /// mprotect().
    public func mprotect(cpu: Int, mm: MMID, addr: UInt64, length: UInt64,
                         prot: Prot) throws(Errno) {
        _ = try call(cpu: cpu, mm: mm, .mprotect(addr: addr, length: length, prot: prot))
    }

    /// madvise().
    public func madvise(cpu: Int, mm: MMID, addr: UInt64, length: UInt64,
                        advice: Advice) throws(Errno) {
        _ = try call(cpu: cpu, mm: mm, .madvise(addr: addr, length: length, advice: advice))
    }

    /// Runs `mm`'s user code on `cpu`, or a kernel thread when `mm` is nil
    /// (the CPU keeps its old mm loaded: lazy TLB).
    public func switchMM(cpu: Int, to mm: MMID?) throws(Errno) {
        _ = try call(cpu: cpu, mm: mm, .switchMM)
    }

    /// A user load of the 64-bit word at `addr` (8-byte aligned) by a task
    /// of `mm` on `cpu`, through the TLB, taking faults as needed.
    public func load(cpu: Int, mm: MMID, addr: UInt64) throws(Errno) -> AccessResult {
        try AccessResult(perform(cpu: cpu, mm: mm, .load(addr: addr)))
    }

    /// A user store of `value` to the 64-bit word at `addr`; `.ok` carries
    /// the value stored.
    public func store(cpu: Int, mm: MMID, addr: UInt64, value: UInt64) throws(Errno) -> AccessResult {
        try AccessResult(perform(cpu: cpu, mm: mm, .store(addr: addr, value: value)))
    }

    /// kswapd on `cpu` (a kernel thread: the CPU keeps its old mm loaded,
    /// lazily) reclaims up to `pages` anonymous pages to swap, from every
    /// mm; returns how many it reclaimed.  Values stay as they were: only
    /// where pages live changes.
    public func reclaim(cpu: Int, pages: UInt64) throws(Errno) -> UInt64 {
        try call(cpu: cpu, .reclaim(pages: pages))
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
        try forEachVMA(of: mm) { result.append($0) }
        return result
    }

    /// Calls `body` with each of `mm`'s vmas in address order, building
    /// no array (the checked engine reads every live mm's vmas at each
    /// checkpoint).  Throws before the first vma, or after the last one
    /// read, as ``vmas(of:)`` does.
    public func forEachVMA(of mm: MMID, _ body: (VMAInfo) -> Void) throws(Errno) {
        var index: UInt32 = 0
        while true {
            var v = mmsim_vma_info()
            let ret = mmsim_vma(machine, mm.rawValue, index, &v)
            if ret == -ENOENT_C { return }
            _ = try Errno.check(ret)
            body(VMAInfo(start: v.start, end: v.end, prot: Prot(rawValue: v.prot), shared: v.shared != 0))
            index += 1
        }
    }

    /// What `mm`'s page tables say about `addr` (read by software: no TLB,
    /// no accessed bits), or nil when nothing is mapped there.  A page in
    /// swap is reported too (``PTEInfo/swapped``, not present): non-nil
    /// means the mm has a page there, not that it is present.
    @inline(__always)
    public func lookup(mm: MMID, addr: UInt64) throws(Errno) -> PTEInfo? {
        var p = mmsim_pte_info()
        let ret = mmsim_lookup(machine, mm.rawValue, addr, &p)
        if ret == -ENOENT_C { return nil }
        _ = try Errno.check(ret)
        return PTEInfo(pfn: p.pfn, word0: p.word0, present: p.present != 0,
                       writable: p.writable != 0, swapped: p.swapped != 0, huge: p.huge != 0)
    }

    /// `mm`'s counters.
    public func info(of mm: MMID) throws(Errno) -> MMInfo {
        var i = mmsim_mm_info()
        _ = try Errno.check(mmsim_mm_info(machine, mm.rawValue, &i))
        return MMInfo(anonRSS: i.anon_rss, fileRSS: i.file_rss, nrPtes: i.nr_ptes,
                      totalVM: i.total_vm, mapCount: Int(i.map_count), users: Int(i.users),
                      swapEnts: i.swap_ents)
    }

    /// The machine's counters now.
    public var stats: Stats {
        Stats(machine: machine)
    }

    /// `stats.allocFailures` alone, without converting every counter: the
    /// checked engine reads it after every call.
    public var allocFailures: UInt64 {
        self[Self.allocFailuresCounter]
    }

    private static let allocFailuresCounter = Stats.counter(named: "alloc_failures")!

    /// One counter now, without reading the others.
    public subscript(counter: Stats.Counter) -> UInt64 {
        mmsim_counter(machine, UInt32(counter.index))
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
}

@available(*, unavailable, message: "a Machine owns mutable C state; use it from one task")
extension Machine: Sendable {}

extension AccessResult {
    /// A load's or store's outcome; an error other than SIGSEGV and OOM is
    /// thrown.
    init(_ outcome: Outcome) throws(Errno) {
        switch outcome {
        case .value(let v): self = .ok(v)
        case .segv: self = .segv
        case .oom: self = .oom
        case .errno(let e): throw Errno(rawValue: e)
        default: throw .EINVAL  // not an access's outcome
        }
    }
}

private let ENOENT_C = Errno.ENOENT.rawValue
