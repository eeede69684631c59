import MMSim

/// The built-in scenario (`mmfuzz scenario`): one pass over every kernel
/// path the simulator covers, on several CPUs, as an operation sequence
/// that the engine runs and the reference model checks like any other
/// case, with a whole-state checkpoint after each phase.
///
/// The phases: private and shared anonymous mappings faulted in from
/// every CPU and read back everywhere (each TLB then caches the mm); fork
/// and copy-on-write from both sides; mprotect; MADV_DONTNEED of private
/// and shared pages; munmap while a CPU is lazy in a kernel thread; a
/// mapping bigger than one gather vector (2.6.16's `FREE_PTE_NR`, 506)
/// unmapped; exec; exit.
///
/// Mms are slots (``Op``): the parent is slot 0, the child slot 1 (after
/// the fork, and again after its exec replaced its mm).
public enum Scenario {
    static let page = Machine.pageSize
    static let privatePages: UInt64 = 64
    static let sharedPages: UInt64 = 16
    static let bigPages: UInt64 = 600
    static let privateBase: UInt64 = 0x1000_0000
    static let sharedBase: UInt64 = 0x2000_0000
    static let bigBase: UInt64 = 0x3000_0000
    static let execBase: UInt64 = 0x4000_0000

    /// The frames the scenario needs: its peak of user pages (the private
    /// and shared pages, the copies copy-on-write makes, the big mapping)
    /// plus page tables, measured as the fewest frames with which it runs
    /// without an allocation failure on every variant and every CPU count
    /// (Tests/MMFuzzCLITests/ScenarioTests.swift proves both sides).
    public static let framesNeeded = 740

    /// A recognizable value: which step wrote it, and where.
    static func tag(_ step: UInt64, _ page: UInt64) -> UInt64 {
        0x5eed_0000_0000_0000 | step << 32 | page
    }

    /// The operations, phase by phase, for a machine of `cpus` CPUs.
    public static func phases(cpus: Int) -> [[Op]] {
        func cpu(_ i: Int) -> Int { i % cpus }
        let parent = 0, child = 1
        let rw = Prot.readWrite.rawValue
        let fixedPrivate = (MapFlags.anonymousPrivate.union(.fixed)).rawValue
        let fixedShared = (MapFlags.anonymousShared.union(.fixed)).rawValue
        let priv = privateBase, shared = sharedBase
        var phases: [[Op]] = []

        // Faults from every CPU, then reads from every CPU.
        var ops: [Op] = [
            .newMM,
            .mmap(cpu: cpu(0), slot: parent, addr: priv, length: privatePages * page, prot: rw,
                  flags: fixedPrivate),
            .mmap(cpu: cpu(0), slot: parent, addr: shared, length: sharedPages * page, prot: rw,
                  flags: fixedShared),
        ]
        for p in 0 ..< privatePages {
            ops.append(.store(cpu: cpu(Int(p)), slot: parent, addr: priv + p * page, value: tag(1, p)))
        }
        for p in 0 ..< sharedPages {
            ops.append(.store(cpu: cpu(Int(p) + 1), slot: parent, addr: shared + p * page, value: tag(2, p)))
        }
        for c in 0 ..< cpus {
            for p in 0 ..< privatePages {
                ops.append(.load(cpu: c, slot: parent, addr: priv + p * page))
            }
        }
        phases.append(ops)

        // fork, then copy-on-write from both sides on different CPUs; the
        // shared mapping stays shared.
        let half = privatePages / 2
        ops = [.fork(cpu: cpu(0), slot: parent)]
        for p in 0 ..< half {
            ops.append(.store(cpu: cpu(1), slot: parent, addr: priv + p * page, value: tag(3, p)))
        }
        for p in half ..< privatePages {
            ops.append(.store(cpu: cpu(2), slot: child, addr: priv + p * page, value: tag(4, p)))
        }
        ops.append(.store(cpu: cpu(3), slot: child, addr: priv, value: tag(5, 0)))
        for p in 0 ..< privatePages {
            ops.append(.load(cpu: cpu(0), slot: parent, addr: priv + p * page))
            ops.append(.load(cpu: cpu(3), slot: child, addr: priv + p * page))
        }
        ops.append(.store(cpu: cpu(2), slot: child, addr: shared, value: tag(6, 0)))
        ops.append(.load(cpu: cpu(1), slot: parent, addr: shared))
        phases.append(ops)

        // mprotect, then MADV_DONTNEED of private and shared pages.
        ops = [
            .mprotect(cpu: cpu(0), slot: parent, addr: priv, length: 8 * page, prot: Prot.read.rawValue),
            .store(cpu: cpu(1), slot: parent, addr: priv, value: 1),
            .load(cpu: cpu(1), slot: parent, addr: priv),
            .madvise(cpu: cpu(1), slot: parent, addr: priv + 8 * page, length: 8 * page,
                     advice: Advice.dontneed.rawValue),
            .madvise(cpu: cpu(1), slot: parent, addr: shared, length: sharedPages * page,
                     advice: Advice.dontneed.rawValue),
        ]
        for p in 8 ..< UInt64(16) {
            ops.append(.load(cpu: cpu(2), slot: parent, addr: priv + p * page))
        }
        ops.append(.load(cpu: cpu(2), slot: parent, addr: shared))
        ops.append(.load(cpu: cpu(3), slot: child, addr: priv + 8 * page))
        phases.append(ops)

        // Lazy TLB: the last CPU goes to a kernel thread while it still
        // caches the parent's pages; a munmap from another CPU must reach it.
        let lazy = cpu(cpus - 1)
        phases.append([
            .load(cpu: lazy, slot: parent, addr: priv + 16 * page),
            .switchMM(cpu: lazy, slot: nil),
            .munmap(cpu: cpu(0), slot: parent, addr: priv + 16 * page, length: 16 * page),
            .load(cpu: cpu(1), slot: parent, addr: priv + 16 * page),
            .store(cpu: lazy, slot: parent, addr: priv + 20 * page, value: 1),
        ])

        // A big unmap: more touched pages than one gather vector holds.
        ops = [.mmap(cpu: cpu(0), slot: parent, addr: bigBase, length: bigPages * page, prot: rw,
                     flags: fixedPrivate)]
        for p in 0 ..< bigPages {
            ops.append(.store(cpu: cpu(Int(p)), slot: parent, addr: bigBase + p * page, value: tag(7, p)))
        }
        ops.append(.munmap(cpu: cpu(1), slot: parent, addr: bigBase, length: bigPages * page))
        ops.append(.load(cpu: cpu(2), slot: parent, addr: bigBase))
        phases.append(ops)

        // exec: the child gets a fresh, empty mm.
        phases.append([
            .exec(cpu: cpu(2), slot: child),
            .load(cpu: cpu(2), slot: child, addr: priv),
            .mmap(cpu: cpu(2), slot: child, addr: execBase, length: 4 * page, prot: rw, flags: fixedPrivate),
            .store(cpu: cpu(3), slot: child, addr: execBase, value: tag(8, 0)),
            .load(cpu: cpu(0), slot: parent, addr: shared),
        ])

        // exit: everything goes back to the allocator (the end-of-case
        // audit then finds no leak).
        phases.append([
            .exit(cpu: cpu(0), slot: parent),
            .exit(cpu: cpu(2), slot: 0),
        ])
        return phases
    }

    /// The scenario as one case, for `mmfuzz replay` and the shrinker.
    public static func fuzzCase(config: CaseConfig, variant: Variant) -> FuzzCase {
        FuzzCase(config: config, variant: variant, seed: 0, ops: phases(cpus: config.cpus).flatMap { $0 })
    }

    /// What one variant did.
    public struct Result: Sendable {
        public var variant: Variant
        public var stats: Stats
        public var violations: [Violation]
        /// The first wrong result, violation or leak, as the engine reports it.
        public var failure: Failure?
        public var ops: Int
        /// Loads and stores the kernel answered with an allocation failure
        /// (none with ``framesNeeded`` frames).
        public var outOfMemory: UInt64
    }

    /// Runs the scenario on a fresh machine, checked by the model, with a
    /// whole-state checkpoint after every phase and the end-of-case audit.
    /// Throws the machine's errno when it refuses the configuration.
    public static func run(config: CaseConfig, variant: Variant) throws(Errno) -> Result {
        let runner = try CaseRunner(config: config, variant: variant, checkpointInterval: Int.max)
        var failure: Failure?
        var index = 0
        phases: for phase in phases(cpus: config.cpus) {
            for op in phase {
                if let f = runner.step(op, index: index) {
                    failure = f
                    break phases
                }
                index += 1
            }
            if let f = runner.checkpoint(index: index - 1, op: phase.last) {
                failure = f
                break
            }
        }
        if failure == nil {
            failure = runner.finish()
        }
        let o = runner.outcomes
        return Result(variant: variant, stats: runner.machine.stats, violations: runner.machine.violations,
                      failure: failure, ops: runner.opsRun, outOfMemory: o.oom + o.enomem)
    }
}
