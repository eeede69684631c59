import MMModel
import MMSim

/// Where a case's addresses live in the native child's arena.
///
/// The simulator's addresses are anywhere in the 47-bit user space (the
/// generator clusters them around pmd, pud and pgd boundaries, at the top
/// of user space and where mmap searches from), far more than one arena.
/// So the relocation is piecewise: user space is cut into 2 MiB windows;
/// the windows a case can reach (every range and address of its ops, and
/// the room a non-fixed mmap may be placed in) keep their order and are
/// packed into the arena, contiguous windows staying contiguous, with one
/// window left reserved (PROT_NONE) between runs that are not.  Since every
/// window of every range is kept, no range crosses a gap, and a range's
/// length is the same in both spaces; since windows are 2 MiB and the
/// arena is 1 GiB-aligned, every address keeps its offset in its page and
/// its 2 MiB (huge pages stay possible).
public struct NativeRelocation: Hashable, Sendable {
    public static let windowShift: UInt64 = 21
    public static let window: UInt64 = 1 << windowShift
    public static let arenaWindows: UInt64 = NativeChild.arenaSize >> windowShift

    /// Case window -> arena window.
    private var slots: [UInt64: UInt64] = [:]
    /// Arena window -> case window.
    private var windows: [UInt64: UInt64] = [:]
    /// Runs of arena windows the case uses (start window, count): the
    /// child unmaps them, so that a hole of the case is a hole on the host
    /// (not the reservation, which mprotect or madvise would find mapped).
    public private(set) var runs: [(UInt64, UInt64)] = []

    public static func == (a: Self, b: Self) -> Bool { a.slots == b.slots }
    public func hash(into h: inout Hasher) { h.combine(slots) }

    /// The relocation of `caseWindows`, or nil when they do not fit.
    public init?(caseWindows: Set<UInt64>) {
        var next: UInt64 = 0
        var last: UInt64?
        for w in caseWindows.sorted() {
            if let l = last, w != l + 1 { next += 1 }   // a guard window
            if next >= Self.arenaWindows { return nil }
            slots[w] = next
            windows[next] = w
            if let l = last, w == l + 1 {
                runs[runs.count - 1].1 += 1
            } else {
                runs.append((next, 1))
            }
            last = w
            next += 1
        }
    }

    /// The arena offset of case address `a`, or nil when its window is
    /// not the case's.
    public func offset(_ a: UInt64) -> UInt64? {
        slots[a >> Self.windowShift].map { $0 << Self.windowShift | a & (Self.window - 1) }
    }

    /// The case address of arena offset `o`.
    public func address(_ o: UInt64) -> UInt64? {
        windows[o >> Self.windowShift].map { $0 << Self.windowShift | o & (Self.window - 1) }
    }

    /// The windows of [a, a + length) (length rounded up to a page), or
    /// nil when the range leaves user space.
    static func windows(_ a: UInt64, _ length: UInt64) -> ClosedRange<UInt64>? {
        let len = (length &+ 4095) & ~4095
        if len < length || a > Model.taskSize || len > Model.taskSize - a { return nil }
        if len == 0 { return (a >> windowShift) ... (a >> windowShift) }
        return (a >> windowShift) ... ((a + len - 1) >> windowShift)
    }
}

/// What `mmfuzz native` does differently from the simulator on purpose,
/// each time counted: never a silent skip.
public enum NativeAdaptation: String, CaseIterable, Hashable, Sendable, Codable {
    /// An mmap without MAP_FIXED: the simulator searches upward from
    /// TASK_UNMAPPED_BASE (Linux's x86-64 default is top-down), so the
    /// harness makes it MAP_FIXED_NOREPLACE at the address the model's
    /// state gives: the hint when it is free, else the lowest free range
    /// at or above TASK_UNMAPPED_BASE.  (A host that disagrees about what
    /// is free answers EEXIST: a difference.)
    case mmapPlacement = "mmap-placement"
    /// mmap flags with bits the simulator does not know: it refuses them
    /// with EINVAL, Linux ignores them; the harness answers EINVAL.
    case mmapUnknownFlags = "mmap-unknown-flags"
    /// madvise advice other than MADV_DONTNEED, MADV_HUGEPAGE and
    /// MADV_NOHUGEPAGE: the simulator refuses it with EINVAL, Linux has
    /// many more; the harness answers EINVAL.
    case madviseUnknownAdvice = "madvise-unknown-advice"
    /// A load or store not 8-byte aligned: the simulator's accesses are of
    /// aligned words and refuse others with EINVAL; the harness answers
    /// EINVAL.
    case unalignedAccess = "unaligned-access"
    /// mmap or mprotect protection bits other than PROT_READ, PROT_WRITE
    /// and PROT_EXEC: the simulator refuses them with EINVAL; Linux's
    /// mmap ignores unknown bits and its mprotect accepts PROT_SEM (0x8)
    /// and gives PROT_GROWSDOWN/PROT_GROWSUP a meaning.  The harness
    /// answers what the simulator does (seen on this host: mmap prot 8
    /// mapped where the model expects EINVAL; mprotect prot 11 over a
    /// hole ENOMEM where the model expects EINVAL).
    case protUnknownBits = "prot-unknown-bits"
    /// mmap or mprotect with PROT_EXEC alone: x86 without protection keys
    /// (the simulator, the model) maps it readable; on a CPU with PKU
    /// (this host's) Linux makes it execute-only with a protection key
    /// and loads fault (SEGV_PKUERR).  The harness asks the host for
    /// PROT_READ | PROT_EXEC, which is what x86 maps PROT_EXEC as
    /// without PKU.
    case protExecReadable = "prot-exec-readable"
    /// A non-fixed mmap the model places across a 2 MiB window the case
    /// never names (the first fit skipped holes too small for it): the
    /// arena holds only the case's windows, so the native case ends
    /// there, counted, rather than map where the model does not.
    case placementBeyondArena = "placement-beyond-arena"
    /// A range or address past TASK_SIZE (or wrapping): the relocation
    /// cannot express it (the check is against the simulator's user-space
    /// limit, not the arena's), so the op is left out of the native case
    /// (a touch: its stores from the first such page on).  So is an mmap
    /// without MAP_FIXED longer than the room above TASK_UNMAPPED_BASE
    /// (no hint: the simulator finds no room, ENOMEM).
    case beyondUserSpace = "beyond-user-space"
    /// A call naming an mm with no users (a dead one, or an id never
    /// handed out: a negative slot): the host has no way to name an mm
    /// that is not a live process, so the model answers it (ESRCH).
    case badMM = "bad-mm"
    /// exec: the process stays and the case's windows of its arena are
    /// unmapped, so that its arena is a fresh hole again; the model gives
    /// the mm a new id, which names the same process from then on.
    case execUnmapsArena = "exec-unmaps-arena"

    // Checkpoints (NativeCheckpoint): the host's state against the
    // model's, where the kernel and the simulator differ on purpose.

    /// Linux maps the shared zero page on a read fault of private
    /// anonymous memory (the huge zero page in a VM_HUGEPAGE range), and
    /// shares it between every such page; the simulator gives each page a
    /// frame of its own.  A host page mapped to a zero page (kpageflags
    /// KPF_ZERO_PAGE) must be populated in the model and hold 0 there; it
    /// is left out of frame identity and exclusivity, and of the resident
    /// count (Linux does not count it in Rss).  Counted per page per
    /// checkpoint.
    case zeroPage = "zero-page"
    /// A fault in a VM_HUGEPAGE range (the host's THP mode is `madvise`)
    /// with the 2 MiB's pmd empty mapped a whole 2 MiB page: a THP on a
    /// store, the huge zero page on a read.  The simulator does the same
    /// when it can, and the engine adopts its huge faults into the model;
    /// the native runner adopts the host's likewise
    /// (`Model.adoptHugePage`), found right after the access: all 512
    /// pages of its window present where the model had none.
    case hostHugePage = "host-huge-page"
    /// khugepaged collapses a VM_HUGEPAGE range's pages into a THP on its
    /// own schedule (copying them, filling the rest with zeros); the
    /// simulator has no khugepaged.  A checkpoint lets through a page the
    /// host has in a THP where the model has none, or a frame identity or
    /// exclusivity that such a page breaks, but only in a window some
    /// MADV_HUGEPAGE of the case went to and only once /proc/vmstat's
    /// thp_collapse_alloc moved since the case began.  Counted per page
    /// or difference let through.
    case khugepagedCollapse = "khugepaged-collapse"
    /// A read fault of shared anonymous memory (shmem, a file to the
    /// kernel) maps the faulting page and, by fault-around, its
    /// neighbours the object already holds, 16 pages
    /// (`fault_around_bytes`) from the greater of the fault's 64 KiB
    /// block and the vma's start; the simulator maps the faulting page
    /// only.  A present page of a shared mapping the model lacks is let
    /// through where a load of the mm in the case may have mapped it so
    /// (and counted in the Rss and the mappings of its frame the
    /// checkpoint expects).
    case shmemFaultAround = "shmem-fault-around"
    /// mincore() of a shared anonymous mapping reports the pages its
    /// object holds (the page cache), mapped by this process or not; the
    /// model's state says which pages the process maps.  There a resident
    /// page the model's state lacks is let through.
    case shmemCacheResident = "shmem-cache-resident"
    /// /proc/PID/maps shows a vma's flags, `-w-` for PROT_WRITE alone;
    /// the model gives the protection x86 grants, PROT_READ implied by
    /// PROT_WRITE or PROT_EXEC.  The host's is normalized so.
    case protImpliedRead = "prot-implied-read"
    /// pagemap's PFNs read 0 (the reader lacks CAP_SYS_ADMIN, so it
    /// cannot read kpageflags either): frame identity is not checked; a
    /// private page the host does not map exclusively whose model page
    /// holds 0 may be a zero page: it is left out of exclusivity, and the
    /// resident count may or may not include it; exclusivity is checked
    /// on the rest.  Counted per checkpoint.
    case pagemapWithoutPFNs = "pagemap-without-pfns"
    /// A page of a THP (a 2 MiB folio) mapped by several mms: the model,
    /// as the simulator, counts the mappings of each 4 KiB page, but the
    /// host's pagemap gives every page of a pmd-mapped THP the bit 56 of
    /// its head page (whether the head is mapped once), so a page one mm
    /// maps may read as shared and a page two map as exclusive.  Seen: a
    /// THP shared by fork, one 4 KiB page unmapped in the parent: every
    /// page of the child's pmd reads as not exclusive; the head page
    /// copied on write in the parent: every page reads exclusive.  Bit
    /// 56 is not compared there (counted); frame identity still is.
    case thpExclusivePerFolio = "thp-exclusive-per-folio"
    /// A page a read fault gave the model (the host's zero page, small or
    /// huge) and no store has written since, which the model has and the
    /// host does not: Linux's fork copies no page table of a vma without
    /// an anon_vma (`vma_needs_copy()`: one whose pages were only ever
    /// the zero page), so the child faults the zero page in again when
    /// it reads; the simulator's fork copies the page it gave the read
    /// fault.  Seen: mmap, load, fork: the child has no pte on the host.
    /// Let through (counted per page per checkpoint) when the model's
    /// page holds 0 and its frame is one such.
    case zeroPageNotCopied = "zero-page-not-copied"
    /// A page a read fault gave the model (the host's zero page) and no
    /// store has written since, which the host now backs by a page of its
    /// own holding zeros: this host's kernel answers a write fault on a
    /// huge zero pmd by allocating a whole THP, so the 511 other pages of
    /// the 2 MiB become fresh, exclusive pages where the model (as the
    /// simulator, which splits a shared huge page on a write and copies
    /// the one 4 KiB page) keeps the read fault's frames, shared after a
    /// fork.  Seen: MADV_HUGEPAGE, load, fork, a store in the parent.
    /// Such a page is left out of frame identity and exclusivity (its
    /// word is still compared), counted per page per checkpoint.
    case zeroPageReplaced = "zero-page-replaced"
    /// A batch's accesses in a 2 MiB window given MADV_HUGEPAGE: which
    /// of them faulted, whether huge (a THP, the huge zero page) or not,
    /// and when, the host does not log (the simulator does, and the
    /// engine hands it to the linearizer).  A window the host maps whole
    /// after the batch is handed to the linearizer as a huge fault of the
    /// first access that can have made it; where that cannot be placed,
    /// or the window is otherwise out of step, the model's pages there
    /// are still checked, but the host's other pages in the window, and
    /// frame identity and exclusivity involving them, are let through at
    /// the case's later checkpoints, counted per page or difference.
    case batchHugeFault = "batch-huge-fault"
    /// A page of a 2 MiB window a batch's calls touched: the host logs
    /// no pte changes, and the linearizer accepts an order by the values
    /// the accesses returned and the mappings and stored words the host
    /// has after it, so the order it finds may fault or zap a page the
    /// host's order did not (a load racing a MADV_DONTNEED: a page on
    /// one side, none on the other).  At the case's later checkpoints a
    /// page there one side has and the other does not, and frame
    /// identity and exclusivity involving such windows, are let through,
    /// counted; contents, mappings and the rest of the arena are
    /// compared as ever.
    case batchResidency = "batch-residency"
    /// A batch with an mmap without MAP_FIXED: where the model places it
    /// depends on which of the batch's calls come before it, which is
    /// known only once the batch has run, and the harness must choose
    /// the address before.  The batch is left out.
    case batchPlacement = "batch-placement"
    /// A batch with a fork: the host's fork is made by the serving
    /// thread of a process, not yet by one of a batch's threads.  The
    /// batch is left out.
    case batchFork = "batch-fork"
    /// A batch whose calls name several mms: each mm is a process of its
    /// own, and a batch runs on threads of one.  The batch is left out.
    case batchSeveralMMs = "batch-several-mms"
    /// A batch whose calls are on more CPUs than the child has threads
    /// for (``NativeChild/threadsMax``).  The batch is left out.
    case batchThreads = "batch-threads"
    /// The linearizability check ran out of budget before a verdict: the
    /// case ends there (never a pass).
    case linearizerUndecided = "linearizer-undecided"
    /// After a batch, a word it stored to in a shared page the process
    /// no longer has present (MADV_DONTNEED zapped it; the object keeps
    /// the value) is loaded by the process, and the load made in the
    /// model too: the value tells orders apart (a store the linearizer
    /// may take as lost), and reading it from outside the process would
    /// map the page behind the model's back (``NativeBatchHost``).
    case batchCheckLoad = "batch-check-load"
}

/// A sequential case, ready for the host: every mm a process of its own.
public struct NativeCase: Hashable, Sendable {
    /// What `mmfuzz native` generates its cases with: one CPU, no
    /// concurrency, the default machine (the host has its own).
    public static let generatorSettings = GeneratorSettings(cpus: 1, frames: 4096, minOps: 40, maxOps: 200,
                                                             varyHardware: false, concurrency: .off)
    /// What `mmfuzz native --concurrent` generates its cases with: four
    /// CPUs, mostly batches (each a few calls on each of several CPUs),
    /// which run on threads of one process.
    public static let concurrentSettings = GeneratorSettings(cpus: 4, frames: 4096, minOps: 40, maxOps: 200,
                                                              varyHardware: false, concurrency: .only)

    /// The native case generated from `seed` (with ``concurrentSettings``
    /// when `concurrent`), or nil when its addresses do not fit in the
    /// arena.
    public static func generate(seed: UInt64, concurrent: Bool = false) -> NativeCase? {
        NativeCase(fuzzCase(seed: seed, concurrent: concurrent))
    }

    /// The requests, in order, each by its task on CPU 0 (the host has no
    /// CPUs to name).
    public var requests: [Request]
    /// The slot of each request's mm (nil for newMM), resolved when the
    /// case runs, as the engine resolves it (``Op``): so a case keeps its
    /// meaning when ops are taken out of it.
    public var slots: [Int?]
    /// For each request, the index of the ``FuzzCase`` op it came from (a
    /// touch gives one store per page, all with its index).
    public var opIndices: [Int]
    public var relocation: NativeRelocation
    /// Ops of the generated case left out: adaptations (beyond-user-space)
    /// by name, and kinds not run natively (mmGet, switchMM, reclaim,
    /// failNthAlloc) as `not-native:<kind>`.
    public var leftOut: [String: Int]
    /// The case's batches (``Op/parallel``), each run on threads of one
    /// process before the request it precedes; whether a batch can run
    /// on the host is known only when it runs (its slots resolved).
    public var batches: [NativeBatchOp]
    /// The case's CPUs: a batch's op naming another is skipped, as the
    /// engine skips it.
    public var cpus: Int

    /// The native case of `fuzzCase`: its newMM, fork, exit, exec, mmap,
    /// munmap, mprotect, madvise, load and store calls and its touches (a
    /// store per page, `value + i` on page `i`), every CPU 0; other ops
    /// left out and counted, its batches kept for the host (``batches``).
    /// mmGet is left out: it adds a user of the mm
    /// that no op names apart from the others (an exit drops one user,
    /// any), which the host has no equivalent of: a process is one user,
    /// and its exit ends its mm.  Ops before the first newMM (or while no
    /// mm is live) are kept and skipped when the case runs, as the engine
    /// skips them.  Nil when its addresses do not fit in the arena.
    public init?(_ fuzzCase: FuzzCase) {
        var requests: [Request] = []
        var slots: [Int?] = []
        var opIndices: [Int] = []
        var leftOut: [String: Int] = [:]
        var batches: [NativeBatchOp] = []
        var windows = Set<UInt64>()
        var mapped: UInt64 = 0
        var searches = false
        func add(_ r: ClosedRange<UInt64>) { for w in r { windows.insert(w) } }
        func append(_ r: Request, _ slot: Int?, _ index: Int) {
            requests.append(r)
            slots.append(slot)
            opIndices.append(index)
        }
        func beyond() { leftOut[NativeAdaptation.beyondUserSpace.rawValue, default: 0] += 1 }
        for (index, op) in fuzzCase.ops.enumerated() {
            switch op {
            case .touch(_, let slot, let addr, let pages, let value):
                // The engine stops a touch at the first store that does
                // not complete: one past user space is the last it makes.
                for i in 0 ..< max(0, min(pages, Op.touchPages)) {
                    let (a, wrapped) = addr.addingReportingOverflow(UInt64(i) &* Model.pageSize)
                    if wrapped || a >= 1 << 47 {
                        beyond()
                        break
                    }
                    windows.insert(a >> NativeRelocation.windowShift)
                    append(.store(addr: a, value: value &+ UInt64(i)), slot, index)
                }
                continue
            case .call(_, let slot, let r):
                switch r {
                case .newMM, .fork, .exit, .exec:
                    append(r, slot, index)
                case .mmap(let a, let l, _, let f):
                    let len = (l &+ 4095) & ~4095
                    if f.contains(.fixed) {
                        guard let w = NativeRelocation.windows(a, l) else {
                            beyond()
                            continue
                        }
                        add(w)
                    } else {
                        // Longer than the room above TASK_UNMAPPED_BASE:
                        // no windows hold it.
                        if len < l || len > Model.taskSize - Model.unmappedBase {
                            beyond()
                            continue
                        }
                        searches = true
                        let hint = (a &+ 4095) & ~4095
                        if hint != 0, let w = NativeRelocation.windows(hint, l) { add(w) }
                    }
                    mapped &+= len
                    append(r, slot, index)
                case .munmap(let a, let l), .mprotect(let a, let l, _), .madvise(let a, let l, _):
                    guard let w = NativeRelocation.windows(a, l) else {
                        beyond()
                        continue
                    }
                    add(w)
                    append(r, slot, index)
                case .load(let a), .store(let a, _):
                    guard a < 1 << 47 else {
                        beyond()
                        continue
                    }
                    windows.insert(a >> NativeRelocation.windowShift)
                    append(r, slot, index)
                case .mmGet, .switchMM, .reclaim:
                    leftOut["not-native:" + r.kind.rawValue, default: 0] += 1
                }
            case .failNthAlloc:
                leftOut["not-native:" + op.kind.rawValue, default: 0] += 1
            case .parallel(let batch):
                for w in NativeBatchOp.windows(of: batch) { windows.insert(w) }
                batches.append(NativeBatchOp(batch: batch, opIndex: index, before: requests.count))
            }
        }
        // A non-fixed mmap lands at or above TASK_UNMAPPED_BASE, within
        // the pages all the case's mmaps (of every mm) could have taken.
        if searches {
            guard let w = NativeRelocation.windows(Model.unmappedBase, max(mapped, 4096)) else { return nil }
            if UInt64(w.count) > NativeRelocation.arenaWindows { return nil }
            add(w)
        }
        guard let relocation = NativeRelocation(caseWindows: windows) else { return nil }
        self.requests = requests
        self.slots = slots
        self.opIndices = opIndices
        self.relocation = relocation
        self.leftOut = leftOut
        self.batches = batches
        cpus = fuzzCase.config.cpus
    }
}

/// A result of the host the model does not allow.
public struct NativeDifference: Error, Hashable, Sendable, CustomStringConvertible {
    /// Index into ``NativeCase/requests``.
    public var index: Int
    /// Index into the ``FuzzCase``'s ops (``NativeCase/opIndices``).
    public var opIndex: Int
    public var request: Request
    /// What differed: the request's kind (its outcome), or a checkpoint's
    /// name.
    public var check: String
    /// What the host answered, as an outcome in case addresses.
    public var host: String
    public var message: String
    public var description: String { "request \(index) (op \(opIndex)) \(request): host \(host): \(message)" }
}

/// The outcome of one native case.
public struct NativeCaseResult: Sendable {
    /// Requests made (on the host, or answered by an adaptation); not
    /// those skipped because no mm was live (as the engine skips them).
    public var requests = 0
    /// Requests made on the host, by kind (newMM: a process started).
    public var onHost: [Request.Kind: Int] = [:]
    /// Adaptations by name, the left-out ops' included.
    public var adaptations: [String: Int] = [:]
    /// Batches run on the host (threads of one process), judged by the
    /// linearizability checker.
    public var batches = 0
    /// The first difference, if any (the case stops there).
    public var difference: NativeDifference?
    /// Checkpoints run (``NativeCheckpoint``).
    public var checkpoints = 0
    /// Every process the case ran, by pid (for the tests: each is reaped
    /// when the case ends).
    var pids: [Int32] = []
}

/// Runs native cases: every mm of a case a process of its own (newMM
/// starts one, fork forks one, exit is a real exit), every request's
/// outcome checked by the reference model (`Model.apply`, as the engine
/// checks the simulator's), one request at a time, the runner driving each
/// process over its socket pair so that it can place each non-fixed mmap
/// where the model's state says (``NativeAdaptation/mmapPlacement``); a
/// batch's calls at once on threads of one process, judged by the
/// linearizability checker (``NativeBatchOp``).  Every process is stopped
/// and reaped when the case ends, however it ends.
public struct NativeRunner: Sendable {
    /// Test-only: the model is told every store wrote `value ^ 1`, a rule
    /// broken on purpose, so that the next load of the word differs.
    public var skewStores = false
    /// Called with each request's index, the request and the host's
    /// outcome (in case addresses), before the model judges it.
    public var trace: (@Sendable (Int, Request, Outcome) -> Void)?
    /// Ops between checkpoints (``NativeCheckpoint``: a touch is one), one more
    /// before each exit and at the end of the case; nil: none.
    public var checkpointInterval: Int?
    /// Test-only: after request `i`, these requests are made on the host
    /// by the same mm and not told to the model (the host changed behind
    /// its back), so that the checkpoints have something to find.
    public var hostOnly: [Int: [Request]] = [:]
    /// Test-only: every value a batch's load returns is reported with
    /// its top bits flipped, a value no order of the calls can give.
    public var skewBatchLoads = false
    /// Called with a batch's op index and its calls as the host made
    /// them (its times in nanoseconds from the batch's first call),
    /// before they are judged.
    public var batchTrace: (@Sendable (Int, [HistoryEvent]) -> Void)?

    public init(skewStores: Bool = false, checkpointInterval: Int? = NativeCheckpoint.defaultInterval,
                trace: (@Sendable (Int, Request, Outcome) -> Void)? = nil) {
        self.skewStores = skewStores
        self.checkpointInterval = checkpointInterval
        self.trace = trace
    }

    /// Runs `nativeCase` on the host.  Throws when the harness itself
    /// fails (a process could not start, stopped answering, or refused a
    /// request: never a difference of the kernel's).
    public func run(_ nativeCase: NativeCase) throws(NativeChild.Failure) -> NativeCaseResult {
        var run = try CaseRun(nativeCase, skewStores: skewStores, trace: trace)
        run.checks = checkpointInterval.map { NativeCheckpoint(relocation: nativeCase.relocation, interval: $0) }
        run.hostOnly = hostOnly
        run.skewBatchLoads = skewBatchLoads
        run.batchTrace = batchTrace
        defer { run.stopAll() }
        try run.run()
        for (k, n) in run.checks?.adaptations ?? [:] { run.result.adaptations[k, default: 0] += n }
        run.result.checkpoints = run.checks?.checkpoints ?? 0
        return run.result
    }

    /// The model's answer to `call`, for a call an adaptation keeps from
    /// the host: the one of EINVAL, ESRCH, success and ENOMEM it allows.
    /// Only for calls the model answers without a choice of the
    /// machine's (no address, no value, no new mm).
    static func modelAnswer(_ model: Model, _ call: Call) -> Outcome {
        let candidates: [Outcome] = [.errno(Errno.EINVAL.rawValue), .errno(Errno.ESRCH.rawValue), .ok,
                                     .errno(Errno.ENOMEM.rawValue)]
        for candidate in candidates {
            var trial = model
            if (try? trial.apply(call, outcome: candidate, mayFailAllocation: false)) != nil {
                return candidate
            }
        }
        return .errno(Errno.EINVAL.rawValue)
    }

    /// The flags the simulator knows (`Bits.mapKnown` of the model).
    static let mapKnown: Int32 = MapFlags([.shared, .private, .fixed, .anonymous, .denyWrite,
                                           .noReserve, .stack]).rawValue

    /// Where the simulator puts an mmap without MAP_FIXED, by the model's
    /// mappings: the hint (page-aligned up) when it lies in user space and
    /// is free, else the lowest free range at or above TASK_UNMAPPED_BASE;
    /// nil when there is none.
    static func placement(_ model: Model, mm: Int32, hint addr: UInt64, length: UInt64) -> UInt64? {
        let len = (length &+ 4095) & ~4095
        guard len != 0, len <= Model.taskSize, let state = model.state(of: mm) else { return nil }
        let maps = state.mappings.sorted { $0.start < $1.start }
        func free(_ s: UInt64, _ e: UInt64) -> Bool { !maps.contains { $0.start < e && $0.end > s } }
        let hint = (addr &+ 4095) & ~4095
        if hint != 0, hint <= Model.taskSize - len, free(hint, hint + len) { return hint }
        var cursor = Model.unmappedBase
        for m in maps where m.end > cursor {
            if m.start >= cursor + len { break }
            cursor = m.end
        }
        return cursor <= Model.taskSize - len ? cursor : nil
    }

    /// The host's reply as the outcome the model judges, in case addresses.
    static func outcome(of reply: NativeChild.Reply, _ request: Request, _ i: Int,
                        _ reloc: NativeRelocation) throws(NativeChild.Failure) -> Outcome {
        switch reply {
        case .refused:
            throw NativeChild.Failure(description: "request \(i) \(request): the child refused it (it would leave the arena)")
        case .errno(let e):
            return .errno(e)
        case .fault(let sig, _, _) where sig == 11:
            return .segv
        case .fault(let sig, _, _):
            // SIGBUS: no outcome of the vocabulary, and none the model
            // predicts; carried as the negated signal number (errno -7).
            return .errno(-sig)
        case .ok(let v):
            switch request.kind.reply {
            case .address:
                guard let a = reloc.address(v) else {
                    throw NativeChild.Failure(description: "request \(i) \(request): mapped at arena offset 0x\(String(v, radix: 16)), outside the case's windows")
                }
                return .address(a)
            case .access: return .value(v)
            default: return .ok
            }
        }
    }
}

/// One native case running: its processes by model mm id, the live list
/// the slots resolve against, the model.
struct CaseRun {
    let nativeCase: NativeCase
    let skewStores: Bool
    let trace: (@Sendable (Int, Request, Outcome) -> Void)?
    /// The checkpoints (nil: none), and the test-only requests made
    /// behind the model's back (``NativeRunner/hostOnly``).
    var checks: NativeCheckpoint?
    var hostOnly: [Int: [Request]] = [:]
    var skewBatchLoads = false
    var batchTrace: (@Sendable (Int, [HistoryEvent]) -> Void)?
    var reloc: NativeRelocation { nativeCase.relocation }
    var result = NativeCaseResult()
    /// A CPU for each thread of a batch (sequential calls are CPU 0's).
    var model = Model(cpus: NativeChild.threadsMax)
    /// The next of the case's batches to run.
    var nextBatch = 0
    /// The process of each live mm, by the id the model has for it.
    var processes: [Int32: NativeChild] = [:]
    /// Mms with users, in creation order, and those that had some once,
    /// as the engine keeps them (``Engine/live``).
    var live: [Int32] = []
    var dead: [Int32] = []
    /// The id the next new mm gets: ascending from 1, never reused, as
    /// the machine hands them out (the model accepts any id it has never
    /// seen).
    var nextID: Int32 = 1

    init(_ nativeCase: NativeCase, skewStores: Bool,
         trace: (@Sendable (Int, Request, Outcome) -> Void)?) throws(NativeChild.Failure) {
        guard nativeCase.requests.count == nativeCase.slots.count,
              nativeCase.requests.count == nativeCase.opIndices.count else {
            throw NativeChild.Failure(description: "a native case whose requests, slots and op indices differ in number")
        }
        self.nativeCase = nativeCase
        self.skewStores = skewStores
        self.trace = trace
        for (k, n) in nativeCase.leftOut { result.adaptations[k, default: 0] += n }
    }

    /// Stops every process still running.
    mutating func stopAll() {
        for child in processes.values { child.stop() }
        processes = [:]
    }

    mutating func count(_ a: NativeAdaptation) { result.adaptations[a.rawValue, default: 0] += 1 }

    /// The mm a slot names (``Engine/resolve(_:)``'s rule), or nil when no
    /// mm is live.
    func resolve(_ slot: Int) -> Int32? {
        if slot >= 0 {
            return live.isEmpty ? nil : live[slot % live.count]
        }
        let k = -(slot &+ 1)
        if k % 2 == 0, !dead.isEmpty {
            return dead[(k / 2) % dead.count]
        }
        return 1_000_000 &+ Int32(truncatingIfNeeded: k % 1_000_000)
    }

    /// Makes the case's windows real holes in `child` (the reservation
    /// stays as the guards between runs): at the start, and for exec.
    func release(_ child: NativeChild) throws(NativeChild.Failure) {
        for (start, count) in reloc.runs {
            let reply = try child.call(kind: Request.Kind.munmap.number, offset: start << NativeRelocation.windowShift,
                                       length: count << NativeRelocation.windowShift)
            guard reply == .ok(0) else {
                throw NativeChild.Failure(description: "cannot release arena windows: \(reply)")
            }
        }
    }

    /// The live mms' processes, as the checkpoints take them.
    var liveProcesses: [NativeProcess] {
        live.compactMap { mm in processes[mm].map { (mm, $0.pid, $0) } }
    }

    mutating func run() throws(NativeChild.Failure) {
        let requests = nativeCase.requests
        // The op index of a touch that made a store that did not
        // complete: the rest of its stores are not made.
        var stoppedTouch: Int?
        // The last request made, for the checkpoints.
        var last: Int?
        for i in requests.indices {
            guard try runBatches(before: i) else { return }
            let request = requests[i], opIndex = nativeCase.opIndices[i]
            if stoppedTouch == opIndex { continue }
            var mm: Int32?
            if let slot = nativeCase.slots[i] {
                guard let resolved = resolve(slot) else { continue }   // no mm live: skipped
                mm = resolved
            }
            // Before an exit takes a process away: a checkpoint of all.
            if case .exit = request, let l = last, try checkpoint(after: l) { return }
            let windowWasEmpty = mm.map { checks?.before(request, mm: $0, model: model) ?? false } ?? false
            var told = request
            guard let outcome = try perform(request, mm: mm, index: i, told: &told) else {
                break   // the case ends here (placement-beyond-arena)
            }
            result.requests += 1
            if case .store = request, outcome != .value(told.abi.value) { stoppedTouch = opIndex }
            trace?(i, request, outcome)
            do {
                try model.apply(Call(cpu: 0, mm: mm, told), outcome: outcome, mayFailAllocation: false)
            } catch {
                result.difference = NativeDifference(index: i, opIndex: opIndex, request: request,
                                                     check: request.kind.rawValue, host: outcome.description,
                                                     message: error.message)
                return
            }
            try track(request, mm: mm, outcome)
            last = i
            if let mm, let child = processes[mm] {
                for r in hostOnly[i] ?? [] {
                    let abi = r.abi
                    guard let off = reloc.offset(abi.addr) else { continue }
                    _ = try child.call(kind: abi.kind, offset: off, length: abi.len, prot: abi.prot,
                                       flags: abi.flags, value: abi.value)
                }
            }
            if var c = checks, let mm {
                let d = try c.after(request, index: i, opIndex: opIndex, mm: mm, outcome: outcome,
                                    windowWasEmpty: windowWasEmpty, model: &model, processes: liveProcesses)
                checks = c
                if let d {
                    result.difference = d
                    return
                }
            }
        }
        guard try runBatches(before: requests.count) else { return }
        // At the end, unless the last exit left nothing to look at.
        if let l = last, !liveProcesses.isEmpty || !model.liveMMs.isEmpty, try checkpoint(after: l) { return }
    }

    /// A checkpoint of every live process after request `index` (none
    /// when one ran there already); true when it found a difference.
    mutating func checkpoint(after index: Int) throws(NativeChild.Failure) -> Bool {
        guard var c = checks else { return false }
        let d = try c.checkpoint(after: index, opIndex: nativeCase.opIndices[index], nativeCase.requests[index],
                                 model: model, processes: liveProcesses)
        checks = c
        result.difference = d
        return d != nil
    }

    /// Keeps `live` and the processes in step with an outcome the model
    /// allowed.
    mutating func track(_ request: Request, mm: Int32?, _ outcome: Outcome) throws(NativeChild.Failure) {
        switch (request, outcome) {
        case (.newMM, .mm(let id)), (.fork, .mm(let id)):
            live.append(id)
        case (.exit, .ok):
            guard let mm, let child = processes.removeValue(forKey: mm) else { return }
            drop(mm)
            let status = child.stop()
            if status != 0 {
                throw NativeChild.Failure(description: "the process of mm \(mm) exited with wait status \(status)")
            }
        case (.exec, .mm(let id)):
            guard let mm else { return }
            drop(mm)
            live.append(id)
        default:
            break
        }
    }

    mutating func drop(_ mm: Int32) {
        live.removeAll { $0 == mm }
        dead.append(mm)
    }

    /// Makes `request` by `mm` on the host, or answers it by an
    /// adaptation; returns the outcome in case addresses, or nil when the
    /// case must end here.  `told` is what the model is told was asked.
    mutating func perform(_ request: Request, mm: Int32?, index i: Int,
                          told: inout Request) throws(NativeChild.Failure) -> Outcome? {
        let call = Call(cpu: 0, mm: mm, request)
        if case .newMM = request {
            let child = try NativeChild()
            processes[nextID] = child   // stopped with the others, whatever happens
            result.pids.append(child.pid)
            try release(child)
            result.onHost[.newMM, default: 0] += 1
            nextID += 1
            return .mm(nextID - 1)
        }
        // The host has no way to name an mm that is not a live process
        // (a dead one, or an id never handed out): the model answers.
        guard let mm, let child = processes[mm] else {
            count(.badMM)
            return NativeRunner.modelAnswer(model, call)
        }
        switch request {
        case .fork:
            result.onHost[.fork, default: 0] += 1
            switch try child.fork() {
            case .child(let forked):
                processes[nextID] = forked
                result.pids.append(forked.pid)
                nextID += 1
                return .mm(nextID - 1)
            case .errno(let e):
                return .errno(e)
            }
        case .exit:
            return try host(request, i, child.call(kind: Request.Kind.exit.number, offset: 0))
        case .exec:
            try release(child)
            count(.execUnmapsArena)
            processes[nextID] = processes.removeValue(forKey: mm)
            nextID += 1
            return .mm(nextID - 1)
        case .mmap(let a, let l, let p, let f):
            if f.rawValue & ~NativeRunner.mapKnown != 0 || p.rawValue & ~7 != 0 {
                count(f.rawValue & ~NativeRunner.mapKnown != 0 ? .mmapUnknownFlags : .protUnknownBits)
                return NativeRunner.modelAnswer(model, call)
            }
            var at = a
            var flags = f.rawValue
            if !f.contains(.fixed) {
                count(.mmapPlacement)
                at = NativeRunner.placement(model, mm: mm, hint: a, length: l) ?? Model.unmappedBase
                flags |= NativeChild.mapFixedNoReplace
            }
            guard let off = reloc.offset(at) else {
                throw NativeChild.Failure(description: "request \(i) \(request): 0x\(String(at, radix: 16)) is not relocated")
            }
            let last = at &+ max(l, 1) &- 1
            if !f.contains(.fixed), last >= at, reloc.offset(last) != off &+ (last &- at) {
                count(.placementBeyondArena)
                return nil
            }
            return try host(request, i, child.call(kind: 1, offset: off, length: l, prot: hostProt(p), flags: flags))
        case .munmap(let a, let l), .mprotect(let a, let l, _), .madvise(let a, let l, _):
            if case .madvise(_, _, let adv) = request, ![.dontneed, .hugepage, .nohugepage].contains(adv) {
                count(.madviseUnknownAdvice)
                return NativeRunner.modelAnswer(model, call)
            }
            if case .mprotect(_, _, let p) = request, p.rawValue & ~7 != 0 {
                count(.protUnknownBits)
                return NativeRunner.modelAnswer(model, call)
            }
            guard let off = reloc.offset(a) else {
                throw NativeChild.Failure(description: "request \(i) \(request): not relocated")
            }
            let abi = request.abi
            return try host(request, i, child.call(kind: abi.kind, offset: off, length: l,
                                                   prot: hostProt(Prot(rawValue: abi.prot)), flags: abi.flags))
        case .load(let a), .store(let a, _):
            if a & 7 != 0 {
                count(.unalignedAccess)
                return NativeRunner.modelAnswer(model, call)
            }
            guard let off = reloc.offset(a) else {
                throw NativeChild.Failure(description: "request \(i) \(request): not relocated")
            }
            let abi = request.abi
            var o = try host(request, i, child.call(kind: abi.kind, offset: off, value: abi.value))
            if case .store(_, let v) = request {
                if o == .value(0) { o = .value(v) }   // a store that completed
                if skewStores, o == .value(v) {
                    told = .store(addr: a, value: v ^ 1)
                    o = .value(v ^ 1)
                }
            }
            return o
        case .newMM, .mmGet, .switchMM, .reclaim:
            throw NativeChild.Failure(description: "request \(i) \(request) is not native")
        }
    }

    /// The host's `reply` to `request`, counted, as an outcome.
    mutating func host(_ request: Request, _ i: Int,
                       _ reply: NativeChild.Reply) throws(NativeChild.Failure) -> Outcome {
        result.onHost[request.kind, default: 0] += 1
        return try NativeRunner.outcome(of: reply, request, i, reloc)
    }

    /// The protection asked of the host (``NativeAdaptation/protExecReadable``).
    mutating func hostProt(_ p: Prot) -> Int32 {
        guard p == .exec else { return p.rawValue }
        count(.protExecReadable)
        return Prot([.read, .exec]).rawValue
    }
}
