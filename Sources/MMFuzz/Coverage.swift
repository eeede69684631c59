import CCoverage
import Synchronization

/// Where coverage counters come from: one count per instrumented region,
/// growing as code runs (``ProfileCounters`` in a build instrumented for
/// coverage; tests use a fake).
public protocol CoverageCounters: Sendable {
    /// Calls `body` with the counters as they are now.
    func withCounters<R>(_ body: (UnsafeBufferPointer<UInt64>) -> R) -> R
}

/// The LLVM profile counters of this process: every region of the C
/// compiled with `-fprofile-instr-generate` (the kernel's, in the build
/// `scripts/coverage` makes), read in place through `CCoverage`.
public struct ProfileCounters: CoverageCounters {
    /// The process's counters, or nil in a build without them (an
    /// ordinary build: the profile runtime is not linked).
    public static var process: ProfileCounters? {
        var begin: UnsafePointer<UInt64>?
        return mmfuzz_coverage_counters(&begin) > 0 ? ProfileCounters() : nil
    }

    private init() {}

    public func withCounters<R>(_ body: (UnsafeBufferPointer<UInt64>) -> R) -> R {
        var begin: UnsafePointer<UInt64>?
        let n = mmfuzz_coverage_counters(&begin)
        return body(UnsafeBufferPointer(start: begin, count: n))
    }
}

/// Which counters have been seen non-zero, to tell a case that reached
/// code no case had reached (`mmfuzz run --corpus DIR --coverage-corpus`
/// saves it, as libFuzzer keeps an input that finds new coverage).
///
/// Counters only grow, so a counter is new when it is non-zero now and
/// was zero at the last ``update()``.  The counters are the process's,
/// so one tracker serves the cases one process runs: ``ParallelSession``
/// keeps the corpus for its one job, which runs where the corpus was
/// replayed (worker processes would each start from nothing).
public final class CoverageTracker: Sendable {
    let source: any CoverageCounters
    /// Per counter: seen non-zero.
    private let seen: Mutex<[Bool]>

    public init(source: any CoverageCounters) {
        self.source = source
        seen = Mutex([])
    }

    /// Marks every counter non-zero now as seen; returns how many were
    /// not seen before.
    @discardableResult
    public func update() -> Int {
        source.withCounters { counters in
            seen.withLock { seen in
                if seen.count != counters.count { seen = Array(repeating: false, count: counters.count) }
                var new = 0
                for i in 0 ..< counters.count where counters[i] != 0 && !seen[i] {
                    seen[i] = true
                    new += 1
                }
                return new
            }
        }
    }

    /// Counters seen non-zero so far, and counters in all.
    public var reached: (seen: Int, of: Int) {
        seen.withLock { s in (s.reduce(0) { $0 + ($1 ? 1 : 0) }, s.count) }
    }
}
