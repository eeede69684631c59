import MMModel
import MMSim

/// How results came back, counted over the calls of a case (or a run).
public struct OutcomeTally: Hashable, Sendable, Codable {
    public var segv: UInt64 = 0
    public var oom: UInt64 = 0
    public var enomem: UInt64 = 0
    public var einval: UInt64 = 0
    public var esrch: UInt64 = 0
    public var otherErrno: UInt64 = 0
    /// mprotects stopped by a failed allocation, whose outcome the model
    /// adopted from the machine.
    public var adoptedProtections: UInt64 = 0
    /// MADV_DONTNEEDs stopped by a failed allocation (a shared pte table
    /// not copied), whose pages the model adopted from the machine.
    public var adoptedDrops: UInt64 = 0
    /// 2 MiB pages the machine mapped at a fault (transparent huge
    /// pages), whose other 511 pages the model adopted (sequentially, or
    /// where the linearizer placed the fault of a batch's access).
    public var adoptedHugePages: UInt64 = 0

    public init() {}

    public mutating func add(_ other: OutcomeTally) {
        segv += other.segv
        oom += other.oom
        enomem += other.enomem
        einval += other.einval
        esrch += other.esrch
        otherErrno += other.otherErrno
        adoptedProtections += other.adoptedProtections
        adoptedDrops += other.adoptedDrops
        adoptedHugePages += other.adoptedHugePages
    }
}

/// The result of running one case.
public struct CaseResult: Sendable {
    /// The first failure found, or nil when the case ran clean.
    public var failure: Failure?
    /// Calls made to the machine (ops skipped for want of a live mm are not
    /// counted; a `touch` counts each of its stores).
    public var ops: Int
    /// The machine's counters at the end (each case has a fresh machine,
    /// so these are the case's own).
    public var stats: Stats
    public var outcomes: OutcomeTally
    /// The schedule each batch ran, by op index.
    public var schedules: [Int: [ScheduleRun]] = [:]
    /// Batches run (each under one schedule).
    public var batches: Int { schedules.count }
}

/// Runs the ops of one case on a fresh machine and, when checking, on the
/// reference model side by side, checking:
///
/// - every call's outcome against the model (`Model.apply`), with ENOMEM
///   allowed exactly when an allocation failed during the call (the
///   machine's `alloc_failures` counter moved: injected, or out of frames);
/// - after every call, that the machine recorded no new violation;
/// - at checkpoints (every `checkpointInterval` ops, and at the end before
///   the exits), the machine's own audit (`check()`) and the whole abstract
///   state: each live mm's mappings, users and counters, every page the
///   model has (data, and frame identity across all mms), and the number
///   of user frames;
/// - at the end, after every live mm exits (each exit checked like any
///   call), that the model holds nothing and the machine leaked nothing;
/// - for a batch of ops run at once (`Op.parallel`), that no violation was
///   recorded at any step, that some order of its calls respecting real
///   time explains every outcome (``Linearizer``) and leaves the state the
///   machine has (a quiescent point: the state is compared in full).
///
/// Unchecked ("raw") runs make the same calls on the machine alone: that is
/// the baseline `mmfuzz bench` compares against.
public final class CaseRunner {
    public let machine: Machine
    /// The reference model, as the calls so far left it.
    public var model: Model { _model }
    /// The model, kept out of line and reached through its address: a
    /// mutation of a class's stored property around a call the optimizer
    /// cannot see into (`Model.apply`, in another module) is checked for
    /// exclusive access at run time, on every call (swift_beginAccess
    /// and swift_endAccess, 2 % of a checked run), and reading it
    /// (`visitState`, `undecidedProtection`) copied the whole struct.
    /// One runner is used by one thread at a time, and nothing it calls
    /// reaches back into it.
    var _model: Model {
        unsafeAddress { UnsafePointer(modelStorage) }
        unsafeMutableAddress { modelStorage }
    }
    private let modelStorage: UnsafeMutablePointer<Model>
    public let checked: Bool
    public let checkpointInterval: Int

    /// Mms with users, in creation order (ids are handed out ascending and
    /// never reused, so this is also ascending).
    public var live: [Int32] { _live }
    var _live: [Int32] = []
    /// Users of each mm of `live`, index for index.
    var users: [Int] = []
    /// Mms that had users once and have none now.
    private var dead: [Int32] = []

    var violationsSeen = 0
    var allocFailures: UInt64 = 0
    /// The machine's `thp_faults` when last read: a load or store after
    /// which it moved mapped a 2 MiB page.
    var thpFaults: UInt64 = 0
    private var sinceCheckpoint = 0
    let cpus: Int

    // Checkpoint scratch, kept between checkpoints.
    private var identity = FrameIdentity()
    private var mappingScratch: [Mapping] = []
    private let nrFrames: Int
    /// Page identities the machine reports (``PTEInfo/pfn``): a frame,
    /// or the frame count plus a swap slot (1 ... frames).
    private var identities: Int { 2 * nrFrames + 1 }

    // Stored properties are internal (Engine+Batch.swift shares them) and
    // exposed through computed ones, so that whole-module optimization
    // sees every access and drops the dynamic exclusivity checks (3% of a
    // checked run otherwise).
    public var opsRun: Int { _opsRun }
    var _opsRun = 0
    /// Called with every call made and its outcome (op index, or nil for
    /// the end-of-case exits), for `mmfuzz replay --trace`.
    public var trace: ((Int?, Op?, Call, Outcome) -> Void)? {
        get { _trace }
        set { _trace = newValue }
    }
    var _trace: ((Int?, Op?, Call, Outcome) -> Void)?
    public var outcomes: OutcomeTally { _outcomes }
    /// The schedule each batch ran, by op index: a failing case is saved
    /// with these, so that its reproducer replays the exact interleaving.
    public var schedules: [Int: [ScheduleRun]] { _schedules }
    var _schedules: [Int: [ScheduleRun]] = [:]
    var _outcomes = OutcomeTally()

    /// Boots the machine of `config` running `variant`; throws the
    /// machine's errno when it refuses the configuration.
    public init(config: CaseConfig, variant: Variant, checked: Bool = true,
                checkpointInterval: Int = 64) throws(Errno) {
        machine = try Machine(config.machineConfig(variant))
        var model = Model(cpus: config.cpus)
        model.tablesMayBeShared = variant.share == .fork
        modelStorage = .allocate(capacity: 1)
        modelStorage.initialize(to: model)
        self.checked = checked
        self.checkpointInterval = max(1, checkpointInterval)
        cpus = config.cpus
        nrFrames = max(0, config.frames)
    }

    deinit {
        modelStorage.deinitialize(count: 1)
        modelStorage.deallocate()
    }

    /// Runs `fuzzCase` from a fresh machine to its end-of-case audit.
    /// A configuration the machine refuses is a failure of kind `config`.
    public static func run(_ fuzzCase: FuzzCase, checked: Bool = true,
                           checkpointInterval: Int = 64) -> CaseResult {
        let runner: CaseRunner
        do {
            runner = try CaseRunner(config: fuzzCase.config, variant: fuzzCase.variant,
                                    checked: checked, checkpointInterval: checkpointInterval)
        } catch {
            return CaseResult(
                failure: Failure(kind: "config",
                                 message: "the machine refuses \(fuzzCase.variant) with \(fuzzCase.config.summary): \(error)"),
                ops: 0, stats: Stats(), outcomes: OutcomeTally())
        }
        let failure = runner.run(fuzzCase.ops)
        return CaseResult(failure: failure, ops: runner.opsRun, stats: runner.machine.stats,
                          outcomes: runner.outcomes, schedules: runner.schedules)
    }

    /// Runs `ops`, then exits every live mm and audits the machine.
    /// Returns the first failure.
    public func run(_ ops: [Op]) -> Failure? {
        for index in ops.indices {
            let op = ops[index]
            if let failure = step(op, index: index) {
                return failure
            }
            // A checkpoint every `checkpointInterval` ops (a touch is one
            // op however many pages it stores to); one this close to the
            // end is left to the final checkpoint.
            sinceCheckpoint += op.weight
            if checked, sinceCheckpoint >= checkpointInterval,
               ops.count - index - 1 >= checkpointInterval / 2 {
                sinceCheckpoint = 0
                if let failure = checkpoint(index: index, op: op) {
                    return failure
                }
            }
        }
        return finish()
    }

    // MARK: Ops

    /// The mm a slot names, or nil when the slot cannot be resolved.
    @inline(__always)
    func resolve(_ slot: Int) -> Int32? {
        if slot >= 0 {
            if _live.isEmpty { return nil }
            return _live[slot % _live.count]
        }
        // A negative slot: an id no task uses.  Odd ones (and every one
        // while nothing has died) name an id never handed out.
        let k = -(slot &+ 1)
        if k % 2 == 0, !dead.isEmpty {
            return dead[(k / 2) % dead.count]
        }
        return 1_000_000 &+ Int32(truncatingIfNeeded: k % 1_000_000)
    }

    /// Runs one op; nil when it passed every check (or was skipped).
    public func step(_ op: Op, index: Int) -> Failure? {
        switch op {
        case .call(let cpu, let slot, let request):
            var mm: Int32?
            if let slot {
                guard let resolved = resolve(slot) else { return nil }
                mm = resolved
            }
            return perform(Call(cpu: cpu, mm: mm, request), op: op, index: index)
        case .touch(let cpu, let slot, let addr, let pages, let value):
            guard let mm = resolve(slot) else { return nil }
            var i = 0
            while i < min(pages, Op.touchPages) {
                let a = addr &+ UInt64(i) &* Machine.pageSize
                if let failure = perform(.store(cpu: cpu, mm: mm, addr: a, value: value &+ UInt64(i)),
                                         op: op, index: index) {
                    return failure
                }
                // Stop at the first store that did not complete.
                if lastOutcomeFailed { break }
                i += 1
            }
            return nil
        case .failNthAlloc(let n):
            machine.failNthAllocation(n)
            _opsRun += 1
            return nil
        case .parallel(let batch):
            return runBatch(batch, op: op, index: index)
        }
    }

    private var lastOutcomeFailed = false

    /// Makes `call` on the machine, keeps the live list, and checks.
    @inline(__always)
    private func perform(_ call: Call, op: Op?, index: Int?) -> Failure? {
        let outcome = execute(call)
        _opsRun += 1
        if let trace = _trace { trace(index, op, call, outcome) }
        track(call, outcome)
        guard checked else { return nil }

        let count = machine.violationCount
        if count != violationsSeen {
            return violationFailure(after: call, outcome: outcome, op: op, index: index)
        }
        // ENOMEM is acceptable exactly when an allocation failed during
        // the call (injected, or the machine ran out of frames).
        let failures = machine.allocFailures
        let mayFail = failures != allocFailures
        allocFailures = failures
        do {
            try _model.apply(call, outcome: outcome, mayFailAllocation: mayFail)
        } catch {
            return Failure(kind: "divergence",
                           message: "\(where_(op, index)): \(call) returned \(outcome): \(error.message)",
                           opIndex: index)
        }
        if mayFail, let undecided = _model.undecidedProtection {
            // An mprotect stopped where an allocation failed: the model
            // adopts what the machine left behind in its range.
            if let failure = adoptProtection(mm: undecided.mm, op: op, index: index) {
                return failure
            }
            _outcomes.adoptedProtections += 1
        }
        if mayFail, let undecided = _model.undecidedPages {
            // A MADV_DONTNEED stopped where a shared pte table could not
            // be copied: the model adopts which pages the machine kept.
            do {
                try adoptPages(&_model, mm: undecided.mm)
            } catch {
                return Failure(kind: "divergence", message: "\(where_(op, index)): \(error.message)",
                               opIndex: index)
            }
            _outcomes.adoptedDrops += 1
        }
        switch call.request {
        case .load(let addr), .store(let addr, _):
            // One counter read per access; a lookup only after a fault
            // that mapped a huge page.
            let thp = machine[Self.thpFaultsCounter]
            if thp != thpFaults {
                thpFaults = thp
                return adoptHugeFault(mm: call.mmID, addr: addr, op: op, index: index)
            }
        default:
            break
        }
        return nil
    }

    static let thpFaultsCounter = Stats.counter(named: "thp_faults")!

    /// An access's fault mapped the 2 MiB around `addr` by one huge page
    /// (the machine's `thp_faults` moved): if the machine says `addr` is
    /// mapped huge, the model adopts the other pages of the 2 MiB.
    private func adoptHugeFault(mm: Int32, addr: UInt64, op: Op?, index: Int?) -> Failure? {
        guard let pte = (try? machine.lookup(mm: MMID(rawValue: mm), addr: addr & ~(Machine.pageSize - 1))) ?? nil,
              pte.huge else { return nil }
        do {
            try _model.adoptHugePage(mm: mm, start: addr & ~(Self.hugeSize - 1))
        } catch {
            return Failure(kind: "divergence", message: "\(where_(op, index)): \(error.message)", opIndex: index)
        }
        _outcomes.adoptedHugePages += 1
        return nil
    }

    /// Bytes of a transparent huge page (a pmd's reach).
    static let hugeSize: UInt64 = 1 << 21

    /// Tells `model` which pages of its undecided MADV_DONTNEED range the
    /// machine still has in `mm` (present or in swap), and their values.
    ///
    /// `written`: pages (address >> 12) a later call of the same batch
    /// stored to; the machine's word there is that store's, so only
    /// whether the page was kept is taken from it.
    func adoptPages(_ model: inout Model, mm: Int32, written: Set<UInt64> = []) throws(Divergence) {
        let id = MMID(rawValue: mm)
        let machine = self.machine
        let before = model
        try model.adoptPages(mm: mm) { addr in
            guard let word = ((try? machine.lookup(mm: id, addr: addr)) ?? nil)?.word0 else { return nil }
            if written.contains(addr >> 12) { return before.presentWord(mm: mm, addr: addr)?.value ?? word }
            return word
        }
    }

    /// The machine's answer to `call`.
    @inline(__always)
    private func execute(_ call: Call) -> Outcome {
        let outcome = machine.perform(cpu: call.cpu, mm: call.mm.map(MMID.init(rawValue:)),
                                      call.request)
        tally(outcome)
        switch outcome {
        case .segv, .oom, .errno:
            lastOutcomeFailed = true
        default:
            lastOutcomeFailed = false
        }
        return outcome
    }

    /// Counts how `outcome` came back.
    @inline(__always)
    func tally(_ outcome: Outcome) {
        switch outcome {
        case .segv: _outcomes.segv += 1
        case .oom: _outcomes.oom += 1
        case .errno(Errno.ENOMEM.rawValue): _outcomes.enomem += 1
        case .errno(Errno.EINVAL.rawValue): _outcomes.einval += 1
        case .errno(Errno.ESRCH.rawValue): _outcomes.esrch += 1
        case .errno: _outcomes.otherErrno += 1
        default: break
        }
    }

    /// Keeps `live` in step with what the machine did.
    @inline(__always)
    func track(_ call: Call, _ outcome: Outcome) {
        switch (call.request.kind.lifetime, outcome) {
        case (.creates, .mm(let id)):
            _live.append(id)
            users.append(1)
        case (.addsUser, .ok):
            if let i = _live.firstIndex(of: call.mmID) { users[i] += 1 }
        case (.dropsUser, .ok):
            dropUser(call.mmID)
        case (.replaces, .mm(let id)):
            dropUser(call.mmID)
            _live.append(id)
            users.append(1)
        default:
            break
        }
    }

    private func dropUser(_ mm: Int32) {
        guard let i = _live.firstIndex(of: mm) else { return }
        users[i] -= 1
        if users[i] <= 0 {
            _live.remove(at: i)
            users.remove(at: i)
            dead.append(mm)
        }
    }

    // MARK: Checks

    func where_(_ op: Op?, _ index: Int?) -> String {
        if let index, let op { return "op \(index) (\(op))" }
        return "end of case"
    }

    func violationFailure(after call: Call?, outcome: Outcome?, op: Op?, index: Int?) -> Failure {
        let seen = violationsSeen
        let count = machine.violationCount
        violationsSeen = count
        guard let first = machine.violation(at: seen) else {
            return Failure(kind: "violation:unknown",
                           message: "\(where_(op, index)): the violation count changed but none is readable",
                           opIndex: index)
        }
        var message = where_(op, index)
        if let call, let outcome {
            message += ": \(call) returned \(outcome)"
        }
        message += ": \(first)"
        let more = count - seen - 1
        if more > 0 { message += " (+\(more) more)" }
        return Failure(kind: Failure.violationKind(first.kind), message: message, opIndex: index)
    }

    func adoptProtection(mm: Int32, op: Op?, index: Int?) -> Failure? {
        let vmas: [VMAInfo]
        do {
            vmas = try machine.vmas(of: MMID(rawValue: mm))
        } catch {
            return Failure(kind: "state:live",
                           message: "\(where_(op, index)): vmas of mm \(mm) after mprotect: \(error)",
                           opIndex: index)
        }
        do {
            try _model.adoptProtection(mm: mm, mappings: normalize(vmas))
        } catch {
            return Failure(kind: "divergence", message: "\(where_(op, index)): \(error.message)",
                           opIndex: index)
        }
        return nil
    }

    /// The machine's vmas as the model reports mappings: adjacent vmas with
    /// equal protection and sharing merged.
    public func normalize(_ vmas: [VMAInfo]) -> [Mapping] {
        var result: [Mapping] = []
        result.reserveCapacity(vmas.count)
        for v in vmas { Self.append(v, normalizedTo: &result) }
        return result
    }

    /// Appends the next vma (in address order) to `mappings` as
    /// ``normalize(_:)`` does: merged into the last mapping when it
    /// continues it.
    @inline(__always)
    private static func append(_ v: VMAInfo, normalizedTo mappings: inout [Mapping]) {
        if let last = mappings.last, last.end == v.start, last.prot == v.prot.rawValue,
           last.shared == v.shared {
            mappings[mappings.count - 1].end = v.end
        } else {
            mappings.append(Mapping(start: v.start, end: v.end, prot: v.prot.rawValue, shared: v.shared))
        }
    }

    /// The machine's audit and the whole abstract state against the model.
    public func checkpoint(index: Int? = nil, op: Op? = nil) -> Failure? {
        machine.check()
        if machine.violationCount != violationsSeen {
            return violationFailure(after: nil, outcome: nil, op: op, index: index)
        }
        return compareState(index: index, op: op)
    }

    /// The whole abstract state against the model.  The usual outcome,
    /// nothing differs, is established without building the model's
    /// per-mm page dictionaries (``Model/visitState(of:_:)``); anything
    /// that differs is reported by ``compareStateInFull(index:op:)``, so
    /// that a failure reads the same whichever path found it.
    func compareState(index: Int?, op: Op?) -> Failure? {
        if statesAgree() { return nil }
        return compareStateInFull(index: index, op: op)
    }

    /// Does every check of ``compareStateInFull(index:op:)`` pass?
    private func statesAgree() -> Bool {
        if _model.liveMMs != _live { return false }
        // The scratch is moved out for the scan, so that the per-page
        // work touches a local, not a class property (no exclusivity
        // checks).
        var ids = identity
        identity = FrameIdentity()
        var mappings = mappingScratch
        mappingScratch = []
        defer {
            identity = ids
            mappingScratch = mappings
        }
        // One copy of the model (its tables retained, not copied) for
        // the whole scan, not one per mm: the visit calls out to C.
        let model = _model
        ids.start(frames: identities, slots: model.frameSlots)
        let limit = UInt64(identities)
        let machine = machine
        for (i, mm) in _live.enumerated() {
            let id = MMID(rawValue: mm)
            guard let info = try? machineView(of: id, mappings: &mappings) else { return false }
            var bad = false
            let visited = model.visitState(of: mm) { addr, page in
                guard let pte = try? machine.lookup(mm: id, addr: addr), pte.word0 == page.word0,
                      pte.pfn < limit, ids.agree(pfn: Int(pte.pfn), key: page.frame) else {
                    bad = true
                    return false
                }
                return true
            }
            guard let state = visited, state.complete, !bad, info.users == users[i],
                  info.anonRSS &+ info.swapEnts == UInt64(state.anonRSS), info.fileRSS == UInt64(state.fileRSS),
                  info.totalVM == UInt64(state.totalVM), model.hasMappings(mappings, of: mm) else {
                return false
            }
        }
        return UInt64(model.userPages) == machineUserPages().total
            && UInt64(model.hugePages) == machine[Self.thpNow]
    }

    /// The pages of user memory the machine holds: each is one frame, or
    /// one swap slot without a swap-cache page (a page in the swap cache
    /// has both, and is counted by its frame).
    private func machineUserPages() -> (total: UInt64, frames: UInt64, tables: UInt64, inSwapOnly: UInt64) {
        let m = machine
        let tables = m[Self.ptablesAlloced] &- m[Self.ptablesFreed]
        let frames = m[Self.framesUsedNow] &- tables
        let inSwapOnly = m[Self.swapSlotsNow] &- m[Self.swapCacheNow]
        return (frames &+ inSwapOnly, frames, tables, inSwapOnly)
    }

    private static let ptablesAlloced = Stats.counter(named: "ptables_alloced")!
    private static let ptablesFreed = Stats.counter(named: "ptables_freed")!
    private static let framesUsedNow = Stats.counter(named: "frames_used_now")!
    private static let swapSlotsNow = Stats.counter(named: "swap_slots_now")!
    private static let swapCacheNow = Stats.counter(named: "swap_cache_now")!
    private static let thpNow = Stats.counter(named: "thp_now")!

    /// The whole abstract state against the model, reporting the first
    /// difference.
    func compareStateInFull(index: Int?, op: Op?) -> Failure? {
        func fail(_ aspect: String, _ message: String) -> Failure {
            Failure(kind: "state:\(aspect)", message: "\(where_(op, index)): \(message)", opIndex: index)
        }

        let modelLive = _model.liveMMs
        if modelLive != _live {
            return fail("live", "live mms: machine side \(_live), model \(modelLive)")
        }
        identity.start(frames: identities, slots: _model.frameSlots)
        for (i, mm) in _live.enumerated() {
            guard let state = _model.state(of: mm) else {
                return fail("live", "the model has no state for live mm \(mm)")
            }
            let id = MMID(rawValue: mm)
            var mappings: [Mapping] = []
            let info: MMInfo
            do {
                info = try machineView(of: id, mappings: &mappings)
            } catch {
                return fail("live", "mm \(mm) is live but the machine says \(error)")
            }
            if mappings != state.mappings {
                return fail("mappings", "mm \(mm): machine \(mappings), model \(state.mappings)")
            }
            if info.users != users[i] {
                return fail("counters", "mm \(mm): machine has \(info.users) users, \(users[i]) expected")
            }
            // Where a private page lives (a frame or swap) is the
            // machine's choice: the model's anon rss counts both.
            if info.anonRSS &+ info.swapEnts != UInt64(state.anonRSS) || info.fileRSS != UInt64(state.fileRSS)
                || info.totalVM != UInt64(state.totalVM) {
                return fail("counters",
                            "mm \(mm): machine anon_rss \(info.anonRSS) + swap_ents \(info.swapEnts) file_rss \(info.fileRSS) total_vm \(info.totalVM), model \(state.anonRSS) \(state.fileRSS) \(state.totalVM)")
            }
            var bad = false
            for (addr, page) in state.pages {
                guard let pte = try? machine.lookup(mm: id, addr: addr), pte.word0 == page.word0,
                      pte.pfn < UInt64(identities) else {
                    bad = true
                    break
                }
                if !identity.agree(pfn: Int(pte.pfn), key: page.frame) {
                    bad = true
                    break
                }
            }
            if bad {
                return pageFailure(at: where_(op, index), index: index)
            }
        }
        let held = machineUserPages()
        if UInt64(_model.userPages) != held.total {
            return fail("user-pages",
                        "machine holds \(held.total) user pages (\(held.frames) frames besides \(held.tables) page tables, \(held.inSwapOnly) in swap only), model \(_model.userPages)")
        }
        if UInt64(_model.hugePages) != machine[Self.thpNow] {
            return fail("user-pages",
                        "machine holds \(machine[Self.thpNow]) 2 MiB pages, model \(_model.hugePages)")
        }
        return nil
    }

    /// The first page mismatch in address order (dictionary order varies
    /// between processes; the message should not).
    /// What the machine says of `id` at a checkpoint: its vmas, as
    /// ``normalize(_:)`` makes them mappings, in `mappings` (emptied
    /// first; its storage reused), and its counters (both checkpoint
    /// paths read them alike).
    private func machineView(of id: MMID, mappings: inout [Mapping]) throws(Errno) -> MMInfo {
        mappings.removeAll(keepingCapacity: true)
        try machine.forEachVMA(of: id) { Self.append($0, normalizedTo: &mappings) }
        return try machine.info(of: id)
    }

    private func pageFailure(at: String, index: Int?) -> Failure {
        var pfnOfKey: [FrameKey: (UInt64, Int32, UInt64)] = [:]
        var keyOfPfn: [UInt64: (FrameKey, Int32, UInt64)] = [:]
        for mm in _live {
            guard let state = _model.state(of: mm) else { continue }
            let id = MMID(rawValue: mm)
            for addr in state.pages.keys.sorted() {
                let page = state.pages[addr]!
                let pte: PTEInfo?
                do {
                    pte = try machine.lookup(mm: id, addr: addr)
                } catch {
                    return Failure(kind: "state:page", message: "\(at): mm \(mm) \(hex(addr)): lookup failed: \(error)",
                                   opIndex: index)
                }
                guard let pte else {
                    return Failure(kind: "state:page",
                                   message: "\(at): mm \(mm) \(hex(addr)): the model has a page (word0 \(hex(page.word0))), the machine has no pte",
                                   opIndex: index)
                }
                if pte.word0 != page.word0 {
                    return Failure(kind: "state:page",
                                   message: "\(at): mm \(mm) \(hex(addr)): machine word0 \(hex(pte.word0)) (pfn \(pte.pfn)), model \(hex(page.word0))",
                                   opIndex: index)
                }
                if let (pfn, omm, oaddr) = pfnOfKey[page.frame], pfn != pte.pfn {
                    return Failure(kind: "state:frames",
                                   message: "\(at): mm \(mm) \(hex(addr)) is pfn \(pte.pfn), but the model says it shares its frame with mm \(omm) \(hex(oaddr)), pfn \(pfn)",
                                   opIndex: index)
                }
                if let (key, omm, oaddr) = keyOfPfn[pte.pfn], key != page.frame {
                    return Failure(kind: "state:frames",
                                   message: "\(at): mm \(mm) \(hex(addr)) and mm \(omm) \(hex(oaddr)) are both pfn \(pte.pfn), but the model says they are different pages",
                                   opIndex: index)
                }
                pfnOfKey[page.frame] = pfnOfKey[page.frame] ?? (pte.pfn, mm, addr)
                keyOfPfn[pte.pfn] = keyOfPfn[pte.pfn] ?? (page.frame, mm, addr)
            }
        }
        return Failure(kind: "state:page", message: "\(at): a page differs (not found again)", opIndex: index)
    }

    /// End of case: a last checkpoint of the whole state, then every live
    /// mm exits (each exit checked like any call), then the model must
    /// hold no page and the machine's leak audit must find nothing.
    public func finish() -> Failure? {
        machine.failNthAllocation(0)
        if checked {
            sinceCheckpoint = 0
            if let failure = checkpoint() {
                return failure
            }
        }
        var k = 0
        while let mm = _live.first {
            let before = _live.count
            let usersBefore = users[0]
            let call = Call.exit(cpu: k % cpus, mm: mm)
            if let failure = perform(call, op: nil, index: nil) {
                return failure
            }
            k += 1
            if _live.count == before && users.first == usersBefore {
                // The exit did not take (only possible unchecked): drop it.
                _live.removeFirst()
                users.removeFirst()
            }
        }
        guard checked else { return nil }
        if !_model.liveMMs.isEmpty || _model.userPages != 0 {
            return Failure(kind: "state:live",
                           message: "end of case: every mm exited, but the model still has mms \(_model.liveMMs) and \(_model.userPages) user pages")
        }
        do {
            _ = try machine.checkLeaks()
        } catch {
            return Failure(kind: "state:live", message: "end of case: leak audit refused: \(error)")
        }
        if machine.violationCount != violationsSeen {
            return violationFailure(after: nil, outcome: nil, op: nil, index: nil)
        }
        return nil
    }
}

/// Frame identity at one checkpoint: pages with equal keys must have equal
/// pfns, pages with equal pfns equal keys.  A pfn is a page's identity as
/// the machine reports it: its frame, or past the frames its swap slot.  Two arrays, by pfn and by the
/// key's slot (the frames a model holds at one time have distinct slots,
/// so a slot stands for its key), each entry the checkpoint's stamp in
/// its high half and the other side in its low half, so that neither
/// need be cleared between checkpoints.
struct FrameIdentity {
    /// By pfn: stamp << 32 | slot of the key seen there.
    private var slotOfPfn: [UInt64] = []
    /// By slot: stamp << 32 | pfn seen for it.
    private var pfnOfSlot: [UInt64] = []
    private var stamp: UInt64 = 0

    /// Forgets every page seen, for a machine of `frames` frames and a
    /// model whose keys have slots below `slots`.  (The array by pfn
    /// grows as pfns are seen, not to `frames` at once: a case's machine
    /// is fresh, and its kernel hands out low pfns first.)
    mutating func start(frames: Int, slots: Int) {
        if pfnOfSlot.count < slots {
            pfnOfSlot += repeatElement(0, count: slots - pfnOfSlot.count)
        }
        stamp += 1
        if stamp > UInt64(UInt32.max) {
            // Wrapped: no old stamp may pass for the new one.
            for i in slotOfPfn.indices { slotOfPfn[i] = 0 }
            for i in pfnOfSlot.indices { pfnOfSlot[i] = 0 }
            stamp = 1
        }
    }

    /// Records a page of frame `key` backed by `pfn` (below `frames`, the
    /// number of identities);
    /// false when a page seen since ``start(frames:slots:)`` contradicts
    /// it: the pfn backs a page of another key, or the key another pfn.
    @inline(__always)
    mutating func agree(pfn: Int, key: FrameKey) -> Bool {
        let slot = key.slot
        let mark = stamp << 32
        if pfn >= slotOfPfn.count { grow(toHold: pfn) }
        let seen = slotOfPfn[pfn]
        if seen >> 32 == stamp {
            // Seen: its key's pfn was recorded as this one then.
            return seen == mark | UInt64(slot)
        }
        slotOfPfn[pfn] = mark | UInt64(slot)
        // First time this pfn is seen: its key must not have another pfn.
        let other = pfnOfSlot[slot]
        if other >> 32 == stamp { return other == mark | UInt64(pfn) }
        pfnOfSlot[slot] = mark | UInt64(pfn)
        return true
    }

    /// Makes `slotOfPfn` long enough for `pfn` (entries of no stamp).
    @inline(never)
    private mutating func grow(toHold pfn: Int) {
        let count = Swift.max(pfn + 1, slotOfPfn.count * 2, 256)
        slotOfPfn += repeatElement(0, count: count - slotOfPfn.count)
    }
}
