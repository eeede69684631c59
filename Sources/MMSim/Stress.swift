import CMMSim

/// What a real-thread stress run is asked to do (`struct
/// mmsim_stress_params`).
public struct StressParameters: Hashable, Sendable {
    /// Host threads, one per simulated CPU `0 ..< threads`.
    public var threads: Int
    /// Address spaces the threads share (1 to 4).
    public var mms: Int
    public var seed: UInt64
    /// Wall-clock time to run for, in milliseconds; 0: no limit.
    public var durationMilliseconds: UInt64
    /// Ops each thread runs at most; 0: no limit.
    public var opsPerThread: UInt64

    public init(threads: Int, mms: Int = 2, seed: UInt64, durationMilliseconds: UInt64 = 0,
                opsPerThread: UInt64 = 0) {
        self.threads = threads
        self.mms = mms
        self.seed = seed
        self.durationMilliseconds = durationMilliseconds
        self.opsPerThread = opsPerThread
    }
}

/// What a stress run found (`struct mmsim_stress_result`), besides the
/// violations the machine recorded.
public struct StressResult: Hashable, Sendable {
    /// Calls and user accesses run, all threads together.
    public var ops: UInt64
    public var opsByThread: [UInt64]
    /// Children forked, checked and exited.
    public var forks: UInt64
    /// Calls that returned an error (expected: ranges are random).
    public var failedCalls: UInt64
    /// Loads of a thread's own region that did not read its last store.
    public var badValues: UInt64
    /// Accesses to a thread's own region (always mapped) that failed.
    public var badErrors: UInt64
    /// Wall time the threads ran, in seconds.
    public var seconds: Double
    /// Violations the final audit (`Machine.check()`) found.
    public var audit: Int
    /// Leaks found once every mm exited; nil when some mm outlived its
    /// exit (the leak audit's EBUSY).
    public var leaks: Int?

    /// Ops per second of wall time, all threads together.
    public var opsPerSecond: Double {
        seconds > 0 ? Double(ops) / seconds : 0
    }

    /// Whether the run's own checks passed (violations are the machine's).
    public var clean: Bool {
        badValues == 0 && badErrors == 0 && audit == 0 && leaks == 0
    }
}

extension Machine {
    /// The threaded regime: runs CPUs `0 ..< parameters.threads` as host
    /// threads on real cores, each a random stream of calls and accesses
    /// on shared mms, then audits, exits every mm and looks for leaks (see
    /// `mmsim_run_threads` in mmsim.h).  The machine must have no mm.
    /// Violations are recorded in ``violations``.
    public func runThreads(_ parameters: StressParameters) throws(Errno) -> StressResult {
        guard let threads = UInt32(exactly: parameters.threads),
              let mms = UInt32(exactly: parameters.mms) else { throw .EINVAL }
        var p = mmsim_stress_params(nr_threads: threads, nr_mms: mms, seed: parameters.seed,
                                    duration_ms: parameters.durationMilliseconds,
                                    ops_per_thread: parameters.opsPerThread)
        var r = mmsim_stress_result()
        let ret = withCMachine { m in mmsim_run_threads(m, &p, &r) }
        _ = try Errno.check(ret)
        let byThread = withUnsafeBytes(of: r.ops_by_thread) { raw in
            Array(raw.bindMemory(to: UInt64.self).prefix(parameters.threads))
        }
        return StressResult(ops: r.ops, opsByThread: byThread, forks: r.forks,
                            failedCalls: r.failed_calls, badValues: r.bad_values,
                            badErrors: r.bad_errors, seconds: Double(r.elapsed_ns) / 1e9,
                            audit: Int(r.audit), leaks: r.leaks < 0 ? nil : Int(r.leaks))
    }
}
