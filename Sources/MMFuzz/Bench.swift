import MMSim
#if canImport(Glibc)
import Glibc
#endif

/// Throughput of the engine on a fixed list of cases.
public enum Bench {
    public struct Pass: Sendable {
        /// Calls made to the machine.
        public var ops: Int
        public var seconds: Double
        /// CPU time of the running thread (equal to `seconds` on an idle
        /// machine; lower when other processes compete for the cores).
        public var cpuSeconds: Double
        /// Cases that failed (a checked pass on unmutated code: none).
        public var failures: Int
        public var firstFailure: Failure?

        public var opsPerSecond: Double { seconds > 0 ? Double(ops) / seconds : 0 }
        public var opsPerCPUSecond: Double { cpuSeconds > 0 ? Double(ops) / cpuSeconds : 0 }
    }

    /// CPU time of the calling thread, in seconds.
    public static func threadCPUTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// The cases of a session seeded with `seed`, round-robin over
    /// `variants`.
    public static func cases(seed: UInt64, count: Int, variants: [Variant],
                             generator: GeneratorSettings) -> [FuzzCase] {
        let g = CaseGenerator(settings: generator)
        return (0 ..< count).map { i in
            g.generate(seed: caseSeed(session: seed, index: i), variant: variants[i % variants.count])
        }
    }

    /// Runs every case once, checked (machine, model and every check) or
    /// raw (the same calls on the machine alone).
    public static func pass(_ cases: [FuzzCase], checked: Bool) -> Pass {
        let clock = ContinuousClock()
        var ops = 0
        var failures = 0
        var first: Failure?
        let start = clock.now
        let cpuStart = threadCPUTime()
        for c in cases {
            let r = CaseRunner.run(c, checked: checked)
            ops += r.ops
            if let f = r.failure {
                failures += 1
                if first == nil { first = f }
            }
        }
        let cpu = threadCPUTime() - cpuStart
        let d = clock.now - start
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        return Pass(ops: ops, seconds: seconds, cpuSeconds: cpu, failures: failures, firstFailure: first)
    }
}
