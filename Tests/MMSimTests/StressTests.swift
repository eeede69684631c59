import CMMSimTestHooks
import MMSim
import Testing

/// The threaded regime (`mmfuzz stress`): the CPUs as host threads.  Each
/// test owns its machine; the runs are short, by op count, so that they
/// take the same work on any host.
@Suite struct StressTests {
    @Test(arguments: [
        Variant(gather: .vector, ptl: .mm, preempt: true),
        Variant(gather: .inplace, ptl: .split, preempt: false),
    ])
    func aShortRunIsClean(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        let r = try m.runThreads(StressParameters(threads: 4, mms: 2, seed: 7,
                                                  durationMilliseconds: 5_000,
                                                  opsPerThread: 20_000))
        #expect(m.violations.isEmpty, "\(m.violations.prefix(5))")
        #expect(r.clean, "\(r)")
        #expect(r.opsByThread.count == 4)
        #expect(r.opsByThread.allSatisfy { $0 > 0 })
        #expect(r.forks > 0)
        // every mm exited and nothing was left
        #expect(r.leaks == 0)
        #expect(m.stats.framesUsedNow == 0)
    }

    /// A shootdown that leaves the other CPUs out: with real threads
    /// touching the pages, frame safety catches a freed frame still cached
    /// on another CPU.
    @Test(arguments: supportedVariants.filter { $0.gather == .inplace })
    func aBrokenShootdownIsCaught(variant: Variant) throws {
        let m = try makeMachine(variant: variant)
        m.withCMachine { mmsim_test_break_shootdown($0) }
        _ = try m.runThreads(StressParameters(threads: 4, mms: 1, seed: 3,
                                              durationMilliseconds: 5_000,
                                              opsPerThread: 50_000))
        m.withCMachine { mmsim_test_untrace($0) }
        let kinds = Set(m.violations.map(\.kind))
        #expect(!kinds.isDisjoint(with: [.freeWhileCached, .useAfterFree, .incoherent]),
                "\(m.violations.prefix(5))")
    }

    @Test func badParametersAreRefused() throws {
        let m = try makeMachine(cpus: 2)
        #expect(throws: Errno.EINVAL) {
            try m.runThreads(StressParameters(threads: 3, seed: 1, opsPerThread: 1))
        }
        #expect(throws: Errno.EINVAL) {
            try m.runThreads(StressParameters(threads: 2, mms: 5, seed: 1, opsPerThread: 1))
        }
        _ = try m.newMM()
        #expect(throws: Errno.EINVAL) {
            try m.runThreads(StressParameters(threads: 2, seed: 1, opsPerThread: 1))
        }
    }
}
