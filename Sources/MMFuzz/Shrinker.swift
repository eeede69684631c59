import MMCall
/// Shrinks a failing case to a small one that still fails the same way.
///
/// 1. Cut the ops after the one that failed.
/// 2. Delta debugging: remove chunks of ops, halving the chunk size down to
///    single ops, as long as the case still fails.
/// 3. Simplify what is left: fewer CPUs in the machine, fewer distinct
///    CPUs and slots, CPU 0, smaller lengths, values and slots, fewer
///    pages to reclaim, shorter touches, earlier fault injection; batches run one op at a time when
///    that still fails, else with fewer ops and fewer preemptions in
///    their (replayed) schedules.
/// 4. Repeat 2 and 3 until nothing changes (or the budget runs out).
///
/// A candidate is kept only if it fails with the same failure kind
/// (``Failure/kind``: the same violation kind, divergence, ...).
public struct Shrinker {
    /// Runs a candidate; nil when it passes.
    public typealias Runner = (FuzzCase) -> Failure?

    /// At most this many candidate runs.
    public var maxRuns: Int
    /// And at most this long, in seconds.
    public var maxSeconds: Double

    public private(set) var runs = 0
    private let run: Runner
    private var kind: String
    private var deadline: ContinuousClock.Instant

    public init(maxRuns: Int = 20_000, maxSeconds: Double = 60, run: @escaping Runner) {
        self.maxRuns = maxRuns
        self.maxSeconds = maxSeconds
        self.run = run
        kind = ""
        deadline = .now
    }

    /// The smallest case found that fails like `fuzzCase` did with
    /// `failure`, and the failure it produces.
    public mutating func shrink(_ fuzzCase: FuzzCase, failure: Failure) -> (FuzzCase, Failure) {
        kind = failure.kind
        runs = 0
        deadline = .now + .milliseconds(Int64(maxSeconds * 1000))
        var best = fuzzCase
        var bestFailure = failure

        // Ops after the failing one cannot matter.
        if let index = failure.opIndex, index + 1 < best.ops.count {
            var candidate = best
            candidate.ops.removeSubrange((index + 1)...)
            if let f = test(candidate) {
                best = candidate
                bestFailure = f
            }
        }

        var changed = true
        var rounds = 0
        while changed, rounds < 8, !exhausted {
            changed = false
            rounds += 1
            if removeChunks(&best, &bestFailure) { changed = true }
            if simplifyConfig(&best, &bestFailure) { changed = true }
            if simplifyBatches(&best, &bestFailure) { changed = true }
            if simplifyOps(&best, &bestFailure) { changed = true }
        }
        return (best, bestFailure)
    }

    private var exhausted: Bool {
        runs >= maxRuns || ContinuousClock.now >= deadline
    }

    /// Runs `candidate`; its failure when it fails the same way.
    private mutating func test(_ candidate: FuzzCase) -> Failure? {
        guard !exhausted else { return nil }
        runs += 1
        guard let f = run(candidate), f.kind == kind else { return nil }
        return f
    }

    /// Keeps `candidate` if it fails the same way.
    private mutating func accept(_ candidate: FuzzCase, _ best: inout FuzzCase,
                                 _ bestFailure: inout Failure) -> Bool {
        if let f = test(candidate) {
            best = candidate
            bestFailure = f
            return true
        }
        return false
    }

    // MARK: Delta debugging

    private mutating func removeChunks(_ best: inout FuzzCase, _ bestFailure: inout Failure) -> Bool {
        var any = false
        var chunk = max(1, best.ops.count / 2)
        while !exhausted, !best.ops.isEmpty {
            var removed = false
            var start = best.ops.count - chunk
            // From the end backwards: later ops depend on earlier ones
            // (slots, mappings), so removing late ones first succeeds more.
            while start + chunk > 0, !exhausted {
                let lo = max(0, start)
                let hi = start + chunk
                var candidate = best
                candidate.ops.removeSubrange(lo ..< min(hi, candidate.ops.count))
                if accept(candidate, &best, &bestFailure) {
                    removed = true
                    any = true
                }
                start -= chunk
            }
            if chunk == 1 {
                if !removed { break }
            } else if !removed {
                chunk /= 2
            } else {
                chunk = min(chunk, max(1, best.ops.count / 2))
            }
        }
        return any
    }

    // MARK: Simplification

    private mutating func simplifyConfig(_ best: inout FuzzCase, _ bestFailure: inout Failure) -> Bool {
        var any = false
        // Fewer CPUs in the machine: valid CPUs wrap around, bad ones stay
        // bad.
        var cpus = 1
        while cpus < best.config.cpus, !exhausted {
            var candidate = best
            let old = best.config.cpus
            candidate.config.cpus = cpus
            candidate.ops = best.ops.map { op in
                op.mapCPUs { c in
                    if c >= 0 && c < old { return c % cpus }
                    if c >= old { return cpus + (c - old) }
                    return c
                }
            }
            if accept(candidate, &best, &bestFailure) {
                any = true
                break
            }
            cpus += 1
        }
        // Fewer distinct CPUs: fold each CPU onto a lower one.
        let used = Set(best.ops.flatMap(\.cpus).filter { $0 >= 0 && $0 < best.config.cpus }).sorted()
        for c in used.reversed() where c > 0 {
            for target in 0 ..< c where !exhausted {
                var candidate = best
                candidate.ops = best.ops.map { $0.mapCPUs { $0 == c ? target : $0 } }
                if candidate.ops != best.ops, accept(candidate, &best, &bestFailure) {
                    any = true
                    break
                }
            }
        }
        // Fewer distinct slots: fold each slot onto a lower one, in every
        // op at once (one op alone would then name another mm).
        let slots = Set(best.ops.flatMap(\.slots).filter { $0 > 0 }).sorted()
        for s in slots.reversed() {
            for target in 0 ..< s where !exhausted {
                var candidate = best
                candidate.ops = best.ops.map { $0.mapSlots { $0 == s ? target : $0 } }
                if candidate.ops != best.ops, accept(candidate, &best, &bestFailure) {
                    any = true
                    break
                }
            }
        }
        return any
    }

    /// Batches: run one op at a time (if that still fails, the failure
    /// did not need concurrency), else drop or simplify their ops one by
    /// one, and take preemptions out of their schedules.
    private mutating func simplifyBatches(_ best: inout FuzzCase, _ bestFailure: inout Failure) -> Bool {
        var any = false
        var i = 0
        while i < best.ops.count, !exhausted {
            guard case .parallel(let batch) = best.ops[i] else {
                i += 1
                continue
            }
            var candidate = best
            candidate.ops.replaceSubrange(i ... i, with: batch.ops)
            if accept(candidate, &best, &bestFailure) {
                any = true
                continue
            }
            var k = 0
            while k < batch.ops.count, !exhausted {
                guard case .parallel(let current) = best.ops[i], k < current.ops.count else { break }
                var smaller = current
                smaller.ops.remove(at: k)
                candidate = best
                candidate.ops[i] = .parallel(smaller)
                if !smaller.ops.isEmpty, accept(candidate, &best, &bestFailure) {
                    any = true
                    continue
                }
                for simpler in Self.simplifications(of: current.ops[k], cpus: best.config.cpus)
                where !exhausted {
                    var changed = current
                    changed.ops[k] = simpler
                    candidate = best
                    candidate.ops[i] = .parallel(changed)
                    if accept(candidate, &best, &bestFailure) {
                        any = true
                        break
                    }
                }
                k += 1
            }
            if simplifySchedule(at: i, &best, &bestFailure) { any = true }
            i += 1
        }
        return any
    }

    /// Fewer runs in the replayed schedule of the batch at `index`: none
    /// at all (each CPU runs until it waits), then each run dropped (a
    /// preemption fewer), last first.
    private mutating func simplifySchedule(at index: Int, _ best: inout FuzzCase,
                                           _ bestFailure: inout Failure) -> Bool {
        guard case .parallel(let batch) = best.ops[index], case .replay(let runs) = batch.schedule,
              !runs.isEmpty else { return false }
        var candidate = best
        candidate.ops[index] = .parallel(Batch(ops: batch.ops, schedule: .replay([])))
        if accept(candidate, &best, &bestFailure) { return true }
        var any = false
        var r = runs.count - 1
        while r >= 0, !exhausted {
            guard case .parallel(let current) = best.ops[index],
                  case .replay(var shorter) = current.schedule, r < shorter.count else { break }
            shorter.remove(at: r)
            // Neighbours on one CPU become one run.
            if r > 0, r < shorter.count, shorter[r - 1].cpu == shorter[r].cpu {
                shorter[r - 1].steps += shorter[r].steps
                shorter.remove(at: r)
            }
            candidate = best
            candidate.ops[index] = .parallel(Batch(ops: current.ops, schedule: .replay(shorter)))
            if accept(candidate, &best, &bestFailure) { any = true }
            r -= 1
        }
        return any
    }

    private mutating func simplifyOps(_ best: inout FuzzCase, _ bestFailure: inout Failure) -> Bool {
        var any = false
        var i = 0
        while i < best.ops.count, !exhausted {
            for simpler in Self.simplifications(of: best.ops[i], cpus: best.config.cpus) where !exhausted {
                var candidate = best
                candidate.ops[i] = simpler
                if accept(candidate, &best, &bestFailure) {
                    any = true
                    break
                }
            }
            i += 1
        }
        return any
    }

    /// Simpler versions of `op`, simplest first.
    static func simplifications(of op: Op, cpus: Int) -> [Op] {
        var result: [Op] = []
        let page: UInt64 = 4096
        func lengths(_ l: UInt64) -> [UInt64] {
            var out: [UInt64] = []
            if l > page, l % page == 0 || l < UInt64.max - page { out.append(page) }
            let rounded = (l / page) * page
            if rounded != l, rounded > 0 { out.append(rounded) }
            let half = (l / 2 / page) * page
            if half > page, half < l { out.append(half) }
            if l > page, l % page == 0 { out.append(l - page) }
            return out
        }
        func values(_ v: UInt64) -> [UInt64] {
            v > 1 ? [1] : []
        }
        func slots(_ s: Int) -> [Int] {
            if s > 0 { return s > 1 ? [0, s - 1] : [0] }
            if s < -1 { return [-1] }
            return []
        }
        if let c = op.cpu, c > 0, c < cpus {
            result.append(op.with(cpu: 0))
            if c > 1 { result.append(op.with(cpu: c - 1)) }
        }
        switch op {
        case .call(_, let s, let r):
            // Fewer flags (those the kernel ignores), shorter ranges, the
            // usual protection, page-aligned accesses, small values: each
            // where the request carries the field.
            let fields = r.kind.fields
            if fields.contains(.flags) {
                let ignored = UInt64(UInt32(bitPattern: MapFlags([.denyWrite, .noReserve, .stack]).rawValue))
                if r[.flags] & ignored != 0 { result.append(op.with(r.with(.flags, r[.flags] & ~ignored))) }
            }
            if fields.contains(.length) {
                result += lengths(r[.length]).map { op.with(r.with(.length, $0)) }
            }
            if fields.contains(.prot), fields.contains(.flags) {
                let p = Int32(truncatingIfNeeded: r[.prot])
                if p != 3 && p & ~7 == 0 { result.append(op.with(r.with(.prot, 3))) }
            }
            if fields.contains(.value) {
                result += values(r[.value]).map { op.with(r.with(.value, $0)) }
            }
            if fields.contains(.pages) {
                // Fewer pages to reclaim: one, half, one fewer.
                let n = r[.pages]
                var fewer: [UInt64] = n > 1 ? [1] : []
                if n > 4 { fewer.append(n / 2) }
                if n > 2 { fewer.append(n - 1) }
                result += fewer.map { op.with(r.with(.pages, $0)) }
            }
            if fields == [.addr] || fields == [.addr, .value] {
                let a = r[.addr]
                if a % page != 0 && a % 8 == 0 { result.append(op.with(r.with(.addr, a & ~(page - 1)))) }
            }
            if let s {
                result += slots(s).map { op.with(slot: $0) }
            }
        case .touch(let c, let s, let a, let n, let v):
            if n == 1 {
                result.append(.store(cpu: c, slot: s, addr: a, value: v))
            } else if n > 1 {
                result.append(.touch(cpu: c, slot: s, addr: a, pages: 1, value: v))
                if n > 3 { result.append(.touch(cpu: c, slot: s, addr: a, pages: n / 2, value: v)) }
                result.append(.touch(cpu: c, slot: s, addr: a, pages: n - 1, value: v))
            }
            result += values(v).map { .touch(cpu: c, slot: s, addr: a, pages: n, value: $0) }
            result += slots(s).map { .touch(cpu: c, slot: $0, addr: a, pages: n, value: v) }
        case .failNthAlloc(let n):
            if n > 1 { result.append(.failNthAlloc(n: 1)) }
            if n > 2 { result.append(.failNthAlloc(n: n - 1)) }
        case .parallel:
            break   // see simplifyBatches
        }
        return result
    }
}
