import MMModel

/// A difference of the host kernel's as a fuzzer ``Failure``: found by
/// `mmfuzz native`, shrunk by the same ``Shrinker`` as the simulator's
/// failures, saved as a ``Reproducer`` and replayed by
/// `mmfuzz replay --native`.
///
/// A native failure's kind is `native:<check>`, where the check is the
/// kind of the request whose outcome the model refused (`native:load`,
/// `native:mmap`, ...) or the checkpoint that found the host's state
/// differing from the model's; the shrinker keeps a candidate only when it
/// fails the same way.
extension NativeDifference {
    /// `native:<check>`.
    public var kind: String { "native:" + check }

    public var failure: Failure {
        Failure(kind: kind, message: description, opIndex: opIndex)
    }
}

extension NativeCase {
    /// A default `mmfuzz native` run makes one case in this many
    /// concurrent (about a ninth of its time): the others, all
    /// sequential, are the cases their seeds always named.
    public static let concurrentShare: UInt64 = 16

    /// Whether a default run makes the case of `seed` concurrent.
    public static func concurrentByDefault(seed: UInt64) -> Bool { seed % concurrentShare == 0 }

    /// The generated case `mmfuzz native` makes its native case of for
    /// `seed`, with ``concurrentSettings`` when `concurrent` (it is what a
    /// native reproducer saves).
    public static func fuzzCase(seed: UInt64, concurrent: Bool = false) -> FuzzCase {
        CaseGenerator(settings: concurrent ? concurrentSettings : generatorSettings)
            .generate(seed: seed, variant: .baseline)
    }
}

extension NativeRunner {
    /// The failure `fuzzCase` makes on the host, or nil when the host
    /// agrees with the model (or the case has no native form: its
    /// addresses do not fit in the arena).  Throws when the harness fails.
    public func failure(of fuzzCase: FuzzCase) throws(NativeChild.Failure) -> Failure? {
        guard let nativeCase = NativeCase(fuzzCase) else { return nil }
        return try run(nativeCase).difference?.failure
    }

    /// The smallest case found that fails on the host like `fuzzCase` did
    /// with `failure`, its failure, and the candidates run.  A candidate
    /// the harness cannot run counts as passing.
    public func shrink(_ fuzzCase: FuzzCase, failure: Failure,
                       maxSeconds: Double = 60) -> (FuzzCase, Failure, runs: Int) {
        let runner = self
        var shrinker = Shrinker(maxRuns: 5_000, maxSeconds: maxSeconds) { candidate in
            (try? runner.failure(of: candidate)) ?? nil
        }
        let (best, bestFailure) = shrinker.shrink(fuzzCase, failure: failure)
        return (best, bestFailure, shrinker.runs)
    }
}
