import CMMSim

/// What one CPU does in a concurrent batch: a call or user access by a task
/// of `mm` on `cpu` (`mm` nil for a switch to a kernel thread, and for a
/// kernel thread's call, reclaim, whatever was passed).
/// Only the kinds the machine runs in batches (mmap, munmap, mprotect,
/// madvise, fork, load, store, switchMM, reclaim); others make the batch EINVAL.
public struct ConcurrentOp: Hashable, Sendable {
    public var cpu: Int
    public var mm: MMID?
    public var request: Request

    public init(cpu: Int, mm: MMID?, _ request: Request) {
        self.cpu = cpu
        self.mm = request.kind.who.namesMM ? mm : nil
        self.request = request
    }
}

/// How one op of a batch returned, and when, in scheduling steps: an op
/// that ended before another began (`a.end < b.start`) precedes it in
/// real time; others overlap.
public struct ConcurrentOutcome: Hashable, Sendable {
    /// What the op returned.
    public var outcome: Outcome
    /// The errno the call returned (for accesses: EFAULT is SIGSEGV,
    /// ENOMEM is OOM), or nil.
    public var errno: Errno?
    /// The address mapped, the word loaded, or the child's mm id.
    public var value: UInt64
    public var start: UInt64
    public var end: UInt64
    /// When, in `start ... end`, the op took effect, as the machine saw it
    /// (its last mmap_sem release, or its completed access): a hint for
    /// checkers looking for an order of the ops, never evidence.
    public var effect: UInt64
    /// When it first held mmap_sem (its start if it never did): a hint
    /// too.
    public var locked: UInt64
}

/// One run of a recorded schedule: `cpu` was chosen at `steps`
/// consecutive scheduling points.
public struct ScheduleRun: Hashable, Sendable, Codable {
    public var cpu: Int
    public var steps: Int

    public init(cpu: Int, steps: Int) {
        self.cpu = cpu
        self.steps = steps
    }
}

/// Who runs at each scheduling point of a concurrent batch.
public enum Scheduler: Hashable, Sendable {
    /// At each point, switch to a random runnable CPU with odds
    /// `switchPermille`/1000.
    case random(seed: UInt64, switchPermille: Int)
    /// Probabilistic concurrency testing: random CPU priorities, and
    /// `depth - 1` points, among about `steps`, where the running CPU is
    /// demoted.  Finds a bug of depth `depth` with probability at least
    /// 1/(cpus * steps^(depth-1)).
    case pct(seed: UInt64, depth: Int, steps: Int)
    /// Strict CPU priorities, shuffled by `seed`, as PCT; but the change
    /// points are where the running CPU enters the window of a TLB
    /// shootdown (it changed a pte and has not flushed it yet, where this
    /// kernel's races live): there it drops below every other CPU with
    /// odds `windowPermille`/1000, so that each of them runs as far as it
    /// can before the flush; elsewhere with odds `switchPermille`/1000.
    case window(seed: UInt64, switchPermille: Int, windowPermille: Int)
    /// Follow a recorded schedule; past its end, or where it no longer
    /// fits, the running CPU goes on (else the lowest runnable one).
    case replay([ScheduleRun])
}

/// One pte a batch changed, when, and by which CPU: where a checker may
/// place an effect of a call that is not atomic (one page of a
/// MADV_DONTNEED's zap, a fault's new pte).
public struct PteEvent: Hashable, Sendable {
    public enum Change: Hashable, Sendable {
        /// A present pte made not present.
        case cleared
        /// A not-present pte made present.
        case installed
        /// Present to present, to another frame.
        case changed
    }

    public var change: Change
    public var cpu: Int
    public var mm: MMID
    /// The page's address.
    public var addr: UInt64
    /// The scheduling step, as in ``ConcurrentOutcome``.
    public var step: UInt64
}

/// A batch's outcomes, one per op, the schedule it ran and the pte
/// changes it made, in order.
public struct ConcurrentRun: Sendable {
    public var outcomes: [ConcurrentOutcome]
    public var schedule: [ScheduleRun]
    public var pteEvents: [PteEvent]

    /// Whether `pteEvents` holds every pte change of the batch (the
    /// machine keeps a bounded number).
    public var pteEventsComplete: Bool { pteEvents.count < Int(MMSIM_PTE_EVENTS_MAX) }
}

extension Machine {
    /// Runs `ops` on several CPUs at once: each CPU runs its ops in array
    /// order, interleaved with the others' at every page-table write, lock
    /// operation, preemption point, walker step, user access and IPI, as
    /// `scheduler` decides.  Deterministic: the same machine state, ops and
    /// scheduler give the same run.
    ///
    /// Throws EINVAL for a bad CPU or schedule (nothing runs), EDEADLK when
    /// the CPUs deadlocked (reported as a violation; the machine is then
    /// only fit to be dropped), ENOMEM when the host is out of memory.
    public func runConcurrent(_ ops: [ConcurrentOp], scheduler: Scheduler) throws(Errno)
        -> ConcurrentRun
    {
        var cOps = [mmsim_op]()
        cOps.reserveCapacity(ops.count)
        for op in ops {
            var c = mmsim_op()
            guard Self.fill(&c, cpu: op.cpu, mm: op.mm, op.request) else { throw .EINVAL }
            cOps.append(c)
        }
        var sched = mmsim_sched()
        var replay: [mmsim_sched_run] = []
        switch scheduler {
        case .random(let seed, let permille):
            guard (0...1000).contains(permille) else { throw .EINVAL }
            sched.policy = UInt32(MMSIM_SCHED_RANDOM.rawValue)
            sched.seed = seed
            sched.switch_permille = UInt32(permille)
        case .window(let seed, let permille, let window):
            guard (0...1000).contains(permille), (0...1000).contains(window) else { throw .EINVAL }
            sched.policy = UInt32(MMSIM_SCHED_WINDOW.rawValue)
            sched.seed = seed
            sched.switch_permille = UInt32(permille)
            sched.window_permille = UInt32(window)
        case .pct(let seed, let depth, let steps):
            guard let d = UInt32(exactly: depth), let k = UInt32(exactly: steps) else {
                throw .EINVAL
            }
            sched.policy = UInt32(MMSIM_SCHED_PCT.rawValue)
            sched.seed = seed
            sched.pct_depth = d
            sched.pct_steps = k
        case .replay(let runs):
            sched.policy = UInt32(MMSIM_SCHED_REPLAY.rawValue)
            for run in runs {
                guard let cpu = UInt32(exactly: run.cpu), let steps = UInt32(exactly: run.steps)
                else { throw .EINVAL }
                replay.append(mmsim_sched_run(cpu: cpu, steps: steps))
            }
        }
        guard let nrOps = UInt32(exactly: cOps.count),
              let nrReplay = UInt32(exactly: replay.count) else { throw .EINVAL }
        let ret = withCMachine { m in
            replay.withUnsafeBufferPointer { runs in
                sched.replay = runs.baseAddress
                sched.nr_replay = nrReplay
                return cOps.withUnsafeMutableBufferPointer { buf in
                    mmsim_run_concurrent(m, buf.baseAddress, nrOps, &sched)
                }
            }
        }
        _ = try Errno.check(ret)
        let outcomes = zip(ops, cOps).map { (op, c) in
            ConcurrentOutcome(outcome: Outcome(op.request.kind, ret: c.ret, out: c.out),
                              errno: c.ret < 0 ? Errno(rawValue: Int32(-c.ret)) : nil,
                              value: c.out, start: c.start, end: c.end, effect: c.effect,
                              locked: c.locked)
        }
        return ConcurrentRun(outcomes: outcomes, schedule: lastSchedule(), pteEvents: lastPteEvents())
    }

    private func lastPteEvents() -> [PteEvent] {
        withCMachine { m in
            let count = Int(mmsim_last_pte_events(m, nil, 0))
            let events = [mmsim_pte_event](unsafeUninitializedCapacity: count) { buf, n in
                n = Int(mmsim_last_pte_events(m, buf.baseAddress, UInt32(count)))
            }
            return events.compactMap { e in
                let change: PteEvent.Change
                switch e.what {
                case UInt32(MMSIM_PTE_CLEARED.rawValue): change = .cleared
                case UInt32(MMSIM_PTE_INSTALLED.rawValue): change = .installed
                case UInt32(MMSIM_PTE_CHANGED.rawValue): change = .changed
                default: return nil
                }
                return PteEvent(change: change, cpu: Int(e.cpu), mm: MMID(rawValue: e.mm),
                                addr: e.addr, step: e.step)
            }
        }
    }

    private func lastSchedule() -> [ScheduleRun] {
        withCMachine { m in
            let count = Int(mmsim_last_schedule(m, nil, 0))
            let runs = [mmsim_sched_run](unsafeUninitializedCapacity: count) { buf, n in
                n = Int(mmsim_last_schedule(m, buf.baseAddress, UInt32(count)))
            }
            return runs.map { ScheduleRun(cpu: Int($0.cpu), steps: Int($0.steps)) }
        }
    }
}
