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
    /// A non-fixed mmap the model places across a 2 MiB window the case
    /// never names (the first fit skipped holes too small for it): the
    /// arena holds only the case's windows, so the native case ends
    /// there, counted, rather than map where the model does not.
    case placementBeyondArena = "placement-beyond-arena"
    /// A range or address past TASK_SIZE (or wrapping): the relocation
    /// cannot express it (the check is against the simulator's user-space
    /// limit, not the arena's), so the op is left out of the native case.
    case beyondUserSpace = "beyond-user-space"
    /// mmap or mprotect with PROT_EXEC alone: on x86 with protection keys
    /// (this host's CPU has `pku`), Linux makes such memory execute-only
    /// with its execute-only pkey, and a load from it takes SIGSEGV
    /// (SEGV_PKUERR); the simulator models x86 without protection keys,
    /// where PROT_EXEC implies PROT_READ (the model says so too).  The
    /// harness asks the host for PROT_READ|PROT_EXEC (seen: a load from
    /// an mmap with prot 4 took SIGSEGV where the model expects a value).
    case execOnly = "exec-only"

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
}

/// A sequential case of one mm, ready for the host.
public struct NativeCase: Hashable, Sendable {
    /// What `mmfuzz native` generates its cases with: one CPU, no
    /// concurrency, the default machine (the host has its own).
    public static let generatorSettings = GeneratorSettings(cpus: 1, frames: 4096, minOps: 40, maxOps: 200,
                                                             varyHardware: false, concurrency: .off)

    /// The native case generated from `seed`, or nil when its addresses do
    /// not fit in the arena.
    public static func generate(seed: UInt64) -> NativeCase? {
        NativeCase(CaseGenerator(settings: generatorSettings).generate(seed: seed, variant: .baseline))
    }

    /// The requests, all by the one mm (its task on CPU 0), in order; the
    /// last may be `exit`.
    public var requests: [Request]
    public var relocation: NativeRelocation
    /// Ops of the generated case left out: adaptations (beyond-user-space)
    /// by name, and kinds not run natively yet (fork, exec, reclaim,
    /// batches, ...) as `not-native:<kind>`.
    public var leftOut: [String: Int]

    /// The native case of `fuzzCase`: its ops on its first mm, every slot
    /// naming that mm, every CPU 0 (the host has no CPUs to name); ops of
    /// other kinds, on a dead mm, or after its exit, left out.  Nil when
    /// its addresses do not fit in the arena.
    public init?(_ fuzzCase: FuzzCase) {
        var requests: [Request] = []
        var leftOut: [String: Int] = [:]
        var windows = Set<UInt64>()
        var mapped: UInt64 = 0
        var searches = false
        var begun = false
        func add(_ r: ClosedRange<UInt64>) { for w in r { windows.insert(w) } }
        loop: for op in fuzzCase.ops {
            guard case .call(_, let slot, let r) = op else {
                leftOut["not-native:" + op.kind.rawValue, default: 0] += 1
                continue
            }
            if r.kind == .newMM && !begun {
                begun = true
                continue
            }
            guard begun, let slot, slot >= 0 else {
                leftOut["not-native:" + (r.kind == .newMM ? "newMM" : "bad-mm"), default: 0] += 1
                continue
            }
            _ = slot
            switch r {
            case .exit:
                requests.append(r)
                break loop
            case .mmap(let a, let l, _, let f):
                let len = (l &+ 4095) & ~4095
                if f.contains(.fixed) {
                    guard let w = NativeRelocation.windows(a, l) else {
                        leftOut[NativeAdaptation.beyondUserSpace.rawValue, default: 0] += 1
                        continue
                    }
                    add(w)
                } else {
                    if len < l || len > Model.taskSize {
                        leftOut[NativeAdaptation.beyondUserSpace.rawValue, default: 0] += 1
                        continue
                    }
                    searches = true
                    let hint = (a &+ 4095) & ~4095
                    if hint != 0, let w = NativeRelocation.windows(hint, l) { add(w) }
                }
                mapped &+= len
                requests.append(r)
            case .munmap(let a, let l), .mprotect(let a, let l, _), .madvise(let a, let l, _):
                guard let w = NativeRelocation.windows(a, l) else {
                    leftOut[NativeAdaptation.beyondUserSpace.rawValue, default: 0] += 1
                    continue
                }
                add(w)
                requests.append(r)
            case .load(let a), .store(let a, _):
                guard a < 1 << 47 else {
                    leftOut[NativeAdaptation.beyondUserSpace.rawValue, default: 0] += 1
                    continue
                }
                windows.insert(a >> NativeRelocation.windowShift)
                requests.append(r)
            default:
                leftOut["not-native:" + r.kind.rawValue, default: 0] += 1
            }
        }
        // A non-fixed mmap lands at or above TASK_UNMAPPED_BASE, within
        // the pages all the case's mmaps could have taken there.
        if searches {
            guard let w = NativeRelocation.windows(Model.unmappedBase, max(mapped, 4096)) else { return nil }
            if UInt64(w.count) > NativeRelocation.arenaWindows { return nil }
            add(w)
        }
        guard let relocation = NativeRelocation(caseWindows: windows) else { return nil }
        self.requests = requests
        self.relocation = relocation
        self.leftOut = leftOut
    }
}

/// A result of the host the model does not allow.
public struct NativeDifference: Error, Hashable, Sendable, CustomStringConvertible {
    /// Index into ``NativeCase/requests``.
    public var index: Int
    public var request: Request
    /// What the host answered, as an outcome in case addresses.
    public var host: String
    public var message: String
    public var description: String { "request \(index) \(request): host \(host): \(message)" }
}

/// The outcome of one native case.
public struct NativeCaseResult: Sendable {
    /// Requests made (on the host, or answered by an adaptation).
    public var requests = 0
    /// Adaptations by name, the left-out ops' included.
    public var adaptations: [String: Int] = [:]
    /// The first difference, if any (the case stops there).
    public var difference: NativeDifference?
    /// Checkpoints run (``NativeCheckpoint``).
    public var checkpoints = 0
}

/// Runs native cases: each in a fresh child process, every request's
/// outcome checked by the reference model (`Model.apply`, as the engine
/// checks the simulator's), one request at a time, the parent driving the
/// child over a socket pair so that it can place each non-fixed mmap where
/// the model's state says (``NativeAdaptation/mmapPlacement``).
public struct NativeRunner: Sendable {
    /// Test-only: the model is told every store wrote `value ^ 1`, a rule
    /// broken on purpose, so that the next load of the word differs.
    public var skewStores = false
    /// Requests between checkpoints (``NativeCheckpoint``), one more at
    /// the end of the case; nil: none.
    public var checkpointInterval: Int?
    /// Test-only: after request `i`, these requests are made on the host
    /// and not told to the model (the host changed behind its back), so
    /// that the checkpoints have something to find.
    public var hostOnly: [Int: [Request]] = [:]

    public init(skewStores: Bool = false, checkpointInterval: Int? = NativeCheckpoint.defaultInterval) {
        self.skewStores = skewStores
        self.checkpointInterval = checkpointInterval
    }

    /// The mm id the model gives the child's address space.
    static let mm: Int32 = 1

    /// Runs `nativeCase` on the host.  Throws when the harness itself
    /// fails (the child could not start, stopped answering, or refused a
    /// request: never a difference of the kernel's).
    public func run(_ nativeCase: NativeCase) throws(NativeChild.Failure) -> NativeCaseResult {
        var result = NativeCaseResult()
        for (k, n) in nativeCase.leftOut { result.adaptations[k, default: 0] += n }
        let reloc = nativeCase.relocation
        let child = try NativeChild()
        defer { child.stop() }
        // The case's windows become real holes (the reservation stays as
        // the guards between runs).
        for (start, count) in reloc.runs {
            let reply = try child.call(kind: Request.Kind.munmap.number, offset: start << NativeRelocation.windowShift,
                                       length: count << NativeRelocation.windowShift)
            guard reply == .ok(0) else {
                throw NativeChild.Failure(description: "cannot release arena windows: \(reply)")
            }
        }
        var model = Model(cpus: 1)
        do {
            try model.apply(.newMM, outcome: .mm(Self.mm), mayFailAllocation: false)
        } catch {
            throw NativeChild.Failure(description: "model refused the new mm: \(error)")
        }
        func count(_ a: NativeAdaptation) { result.adaptations[a.rawValue, default: 0] += 1 }
        var checks = checkpointInterval.map { NativeCheckpoint(relocation: reloc, interval: $0) }
        let processes: [NativeProcess] = [(Self.mm, child.pid, child)]
        func finished() -> NativeCaseResult {
            for (k, n) in checks?.adaptations ?? [:] { result.adaptations[k, default: 0] += n }
            result.checkpoints = checks?.checkpoints ?? 0
            return result
        }

        var ran: Int?
        requests: for (i, request) in nativeCase.requests.enumerated() {
            if case .exit = request, i > 0, let d = try checks?.checkpoint(
                after: i - 1, nativeCase.requests[i - 1], model: model, processes: processes) {
                result.difference = d
                return finished()
            }
            let windowWasEmpty = checks?.before(request, mm: Self.mm, model: model) ?? false
            result.requests += 1
            var told = request
            let outcome: Outcome
            switch request {
            case .exit:
                outcome = .ok
            case .mmap(let a, let l, let p, let f):
                if f.rawValue & ~Self.mapKnown != 0 || p.rawValue & ~7 != 0 {
                    count(f.rawValue & ~Self.mapKnown != 0 ? .mmapUnknownFlags : .protUnknownBits)
                    outcome = Self.simulatorAnswer(model, request)
                    break
                }
                var at = a
                var flags = f.rawValue
                if !f.contains(.fixed) {
                    count(.mmapPlacement)
                    at = Self.placement(model, hint: a, length: l) ?? Model.unmappedBase
                    flags |= NativeChild.mapFixedNoReplace
                }
                guard let off = reloc.offset(at) else {
                    throw NativeChild.Failure(description: "request \(i) \(request): 0x\(String(at, radix: 16)) is not relocated")
                }
                let last = at &+ max(l, 1) &- 1
                if !f.contains(.fixed), last >= at, reloc.offset(last) != off &+ (last &- at) {
                    count(.placementBeyondArena)
                    result.requests -= 1
                    break requests
                }
                outcome = try Self.outcome(of: child.call(kind: 1, offset: off, length: l,
                                                          prot: Self.hostProt(p.rawValue, count), flags: flags),
                                           request, i, reloc)
            case .munmap(let a, let l), .mprotect(let a, let l, _), .madvise(let a, let l, _):
                if case .madvise(_, _, let adv) = request, ![.dontneed, .hugepage, .nohugepage].contains(adv) {
                    count(.madviseUnknownAdvice)
                    outcome = Self.simulatorAnswer(model, request)
                    break
                }
                if case .mprotect(_, _, let p) = request, p.rawValue & ~7 != 0 {
                    count(.protUnknownBits)
                    outcome = Self.simulatorAnswer(model, request)
                    break
                }
                guard let off = reloc.offset(a) else {
                    throw NativeChild.Failure(description: "request \(i) \(request): not relocated")
                }
                let abi = request.abi
                outcome = try Self.outcome(of: child.call(kind: abi.kind, offset: off, length: l,
                                                          prot: Self.hostProt(abi.prot, count), flags: abi.flags),
                                           request, i, reloc)
            case .load(let a), .store(let a, _):
                if a & 7 != 0 {
                    count(.unalignedAccess)
                    outcome = Self.simulatorAnswer(model, request)
                    break
                }
                guard let off = reloc.offset(a) else {
                    throw NativeChild.Failure(description: "request \(i) \(request): not relocated")
                }
                let abi = request.abi
                var o = try Self.outcome(of: child.call(kind: abi.kind, offset: off, value: abi.value),
                                         request, i, reloc)
                if case .store(_, let v) = request {
                    if o == .value(0) { o = .value(v) }   // a store that completed
                    if skewStores, o == .value(v) {
                        told = .store(addr: a, value: v ^ 1)
                        o = .value(v ^ 1)
                    }
                }
                outcome = o
            default:
                throw NativeChild.Failure(description: "request \(i) \(request) is not native")
            }
            do {
                try model.apply(Call(cpu: 0, mm: Self.mm, told), outcome: outcome, mayFailAllocation: false)
            } catch {
                result.difference = NativeDifference(index: i, request: request, host: outcome.description,
                                                     message: error.message)
                return finished()
            }
            for r in hostOnly[i] ?? [] {
                let abi = r.abi
                guard let off = reloc.offset(abi.addr) else { continue }
                _ = try child.call(kind: abi.kind, offset: off, length: abi.len, prot: abi.prot, flags: abi.flags,
                                   value: abi.value)
            }
            ran = i
            if let d = try checks?.after(request, index: i, mm: Self.mm, outcome: outcome,
                                         windowWasEmpty: windowWasEmpty, model: &model,
                                         processes: request.kind == .exit ? [] : processes) {
                result.difference = d
                return finished()
            }
        }
        if let last = ran, nativeCase.requests[last].kind != .exit,
           let d = try checks?.checkpoint(after: last, nativeCase.requests[last], model: model, processes: processes) {
            result.difference = d
        }
        return finished()
    }

    /// The protection the host is asked for: PROT_EXEC alone becomes
    /// PROT_READ|PROT_EXEC (``NativeAdaptation/execOnly``).
    static func hostProt(_ prot: Int32, _ count: (NativeAdaptation) -> Void) -> Int32 {
        guard prot == Prot.exec.rawValue else { return prot }
        count(.execOnly)
        return prot | Prot.read.rawValue
    }

    /// What the simulator answers to a request an adaptation keeps from
    /// the host: the one of its refusals (EINVAL, ENOMEM, success) the
    /// model allows.  Only for requests the model answers without a
    /// choice of the machine's (no address, no value).
    static func simulatorAnswer(_ model: Model, _ request: Request) -> Outcome {
        for candidate: Outcome in [.errno(Errno.EINVAL.rawValue), .ok, .errno(Errno.ENOMEM.rawValue)] {
            var trial = model
            if (try? trial.apply(Call(cpu: 0, mm: mm, request), outcome: candidate,
                                 mayFailAllocation: false)) != nil {
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
    static func placement(_ model: Model, hint addr: UInt64, length: UInt64) -> UInt64? {
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
