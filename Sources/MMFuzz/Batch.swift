import MMModel
import MMSim

/// Ops that run on several CPUs at once (the concurrent regime): each CPU
/// runs its ops in order, and `schedule` decides how they interleave.
///
/// Slots name mms as the live list stands when the batch begins.  Only
/// calls that a task makes beside other threads of its process belong in
/// a batch: mmap, munmap, mprotect, madvise, fork, switchMM, loads, stores
/// and touches (a store per page).  Others, and ops naming a CPU the
/// machine does not have, are skipped.  A batch disarms an injected
/// allocation failure (`failNthAlloc`) before it runs.
public struct Batch: Hashable, Sendable {
    public var ops: [Op]
    public var schedule: Scheduler

    public init(ops: [Op], schedule: Scheduler) {
        self.ops = ops
        self.schedule = schedule
    }

    /// Calls a batch makes at most (a touch makes one per page); the rest
    /// are skipped.
    public static let maxCalls = 32

    /// Kinds a batch may hold.
    public static let kinds: Set<OpKind> =
        Set(Request.Kind.allCases.filter(\.batchable).map(OpKind.call) + [.touch])

    /// Stores a touch of a batch makes at most.
    public static let touchPages = 64

    /// The calls the batch makes, in order, its slots resolved by
    /// `resolve` as it begins: ops of kinds a batch cannot hold, on CPUs
    /// at or past `cpus`, or whose slot names no mm (`resolve` answers
    /// nil) skipped; a touch a store per page (`value + i`, at most
    /// ``touchPages``); at most ``maxCalls``.  The engine's batches and
    /// the native runner's alike.
    public func calls(cpus: Int, resolve: (Int) -> Int32?) -> [Call] {
        var calls: [Call] = []
        func add(_ cpu: Int, _ mm: Int32?, _ request: Request) {
            if calls.count < Self.maxCalls { calls.append(Call(cpu: cpu, mm: mm, request)) }
        }
        for sub in ops where Self.kinds.contains(sub.kind) {
            guard let cpu = sub.cpu, cpu >= 0, cpu < cpus else { continue }
            var mm: Int32?
            if let slot = sub.slot {
                guard let resolved = resolve(slot) else { continue }
                mm = resolved
            }
            switch sub {
            case .call(_, _, let request):
                add(cpu, mm, request)
            case .touch(_, _, let a, let n, let v):
                for i in 0 ..< max(0, min(n, Self.touchPages)) {
                    add(cpu, mm, .store(addr: a &+ UInt64(i) &* Machine.pageSize, value: v &+ UInt64(i)))
                }
            default:
                continue
            }
        }
        return calls
    }
}

extension Scheduler {
    /// `random(seed 0x2a, 300‰)`, `pct(seed 0x2a, depth 3, 400 steps)`,
    /// `replay(12 runs)`.
    public var summary: String {
        switch self {
        case .random(let seed, let permille): "random(seed \(hex(seed)), \(permille)‰)"
        case .window(let seed, let permille, let window):
            "window(seed \(hex(seed)), \(permille)‰, in a window \(window)‰)"
        case .pct(let seed, let depth, let steps): "pct(seed \(hex(seed)), depth \(depth), \(steps) steps)"
        case .replay(let runs): "replay(\(runs.count) runs)"
        }
    }

    /// The schedule as one line of JSON.
    var jsonLine: String {
        switch self {
        case .random(let seed, let permille):
            return "{\"policy\": \"random\", \"seed\": \(jsonString(hex(seed))), \"switchPermille\": \(permille)}"
        case .window(let seed, let permille, let window):
            return "{\"policy\": \"window\", \"seed\": \(jsonString(hex(seed))), \"switchPermille\": \(permille), \"windowPermille\": \(window)}"
        case .pct(let seed, let depth, let steps):
            return "{\"policy\": \"pct\", \"seed\": \(jsonString(hex(seed))), \"depth\": \(depth), \"steps\": \(steps)}"
        case .replay(let runs):
            return "{\"policy\": \"replay\", \"runs\": ["
                + runs.map { "[\($0.cpu), \($0.steps)]" }.joined(separator: ", ") + "]}"
        }
    }
}

/// The JSON of a ``Scheduler``: `{"policy": "replay", "runs": [[cpu,
/// steps], ...]}`, `{"policy": "random", "seed": "0x..",
/// "switchPermille": N}`, `{"policy": "window", "seed": "0x..",
/// "switchPermille": N, "windowPermille": W}` or `{"policy": "pct",
/// "seed": "0x..", "depth": D, "steps": K}`.
struct CodedScheduler: Codable {
    var scheduler: Scheduler

    init(_ scheduler: Scheduler) {
        self.scheduler = scheduler
    }

    private enum Key: String, CodingKey {
        case policy, seed, switchPermille, windowPermille, depth, steps, runs
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let policy = try c.decode(String.self, forKey: .policy)
        func seed() throws -> UInt64 {
            let text = try c.decode(String.self, forKey: .seed)
            guard text.hasPrefix("0x"), let v = UInt64(text.dropFirst(2), radix: 16) else {
                throw DecodingError.dataCorruptedError(forKey: .seed, in: c,
                                                       debugDescription: "'\(text)' is not a hex seed")
            }
            return v
        }
        func count(_ key: Key, _ range: ClosedRange<Int>) throws -> Int {
            let v = try c.decode(Int.self, forKey: key)
            guard range.contains(v) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c,
                                                       debugDescription: "\(v) is not in \(range)")
            }
            return v
        }
        switch policy {
        case "random":
            scheduler = .random(seed: try seed(), switchPermille: try count(.switchPermille, 0 ... 1000))
        case "window":
            scheduler = .window(seed: try seed(), switchPermille: try count(.switchPermille, 0 ... 1000),
                                windowPermille: try count(.windowPermille, 0 ... 1000))
        case "pct":
            scheduler = .pct(seed: try seed(), depth: try count(.depth, 1 ... 8),
                             steps: try count(.steps, 1 ... Int(UInt32.max)))
        case "replay":
            let pairs = try c.decode([[Int]].self, forKey: .runs)
            var runs: [ScheduleRun] = []
            for pair in pairs {
                guard pair.count == 2, (0 ..< Machine.maxCPUs).contains(pair[0]),
                      (1 ... Int(UInt32.max)).contains(pair[1]) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .runs, in: c, debugDescription: "a run is [cpu, steps], got \(pair)")
                }
                runs.append(ScheduleRun(cpu: pair[0], steps: pair[1]))
            }
            scheduler = .replay(runs)
        default:
            throw DecodingError.dataCorruptedError(forKey: .policy, in: c,
                                                   debugDescription: "unknown policy '\(policy)'")
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        switch scheduler {
        case .random(let seed, let permille):
            try c.encode("random", forKey: .policy)
            try c.encode(hex(seed), forKey: .seed)
            try c.encode(permille, forKey: .switchPermille)
        case .window(let seed, let permille, let window):
            try c.encode("window", forKey: .policy)
            try c.encode(hex(seed), forKey: .seed)
            try c.encode(permille, forKey: .switchPermille)
            try c.encode(window, forKey: .windowPermille)
        case .pct(let seed, let depth, let steps):
            try c.encode("pct", forKey: .policy)
            try c.encode(hex(seed), forKey: .seed)
            try c.encode(depth, forKey: .depth)
            try c.encode(steps, forKey: .steps)
        case .replay(let runs):
            try c.encode("replay", forKey: .policy)
            try c.encode(runs.map { [$0.cpu, $0.steps] }, forKey: .runs)
        }
    }
}
