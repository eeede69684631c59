import MMModel

/// One completed call of a concurrent batch: what was asked, what came
/// back, and when, in the batch's scheduling steps.
public struct HistoryEvent: Hashable, Sendable, CustomStringConvertible {
    public var call: Call
    public var outcome: Outcome
    public var start: UInt64
    public var end: UInt64
    /// Where in `start ... end` the machine says the call took effect:
    /// orders are tried in this order first, nothing more.
    public var hint: UInt64

    public init(call: Call, outcome: Outcome, start: UInt64, end: UInt64, hint: UInt64? = nil) {
        self.call = call
        self.outcome = outcome
        self.start = start
        self.end = end
        self.hint = hint ?? end
    }

    /// `[12, 40] munmap(...) -> ok`.
    public var description: String { "[\(start), \(end)] \(call) -> \(outcome)" }
}

/// The linearizability check of a concurrent batch (Wing and Gong's
/// search, with the memoization of Lowe's): is there an order of the
/// calls that respects real time (a call that returned before another
/// began comes first) in which the reference model, applied call by call,
/// predicts every outcome?  A user access that overlaps a call removing or
/// write-protecting its mapping may so be placed on either side of it.
///
/// Two effects are not atomic with the call that has them, and are
/// optional events of their own:
/// - an access that overlaps a call changing its mapping may have taken a
///   fault whose effect outlived the access (``Model/fault(mm:addr:write:)``:
///   the page faulted in, then the access lost the race and got SIGSEGV):
///   placed anywhere in the access's interval before the access;
/// - MADV_DONTNEED zaps page by page beside faults
///   (``Model/zap(mm:addr:)``): a page that an overlapping access touches
///   is zapped again anywhere in the madvise's interval.
///
/// The model is a value: each branch of the search applies a call to its
/// own copy, and a (set of calls placed, model state) pair already
/// explored is not explored again; states are compared by
/// ``Model/canonicalHash``, so the same calls placed in another order
/// meet again.
public struct Linearizer {
    /// Model applications allowed before the search gives up.
    public var budget: Int

    public init(budget: Int = 200_000) {
        self.budget = budget
    }

    public enum Verdict {
        /// An order that `accept` took: the model after it, and the order.
        case linearizable(Model, [Int])
        /// No order explains the outcomes (or none that `accept` took).
        case notLinearizable(deepest: [Int], refusal: String)
        /// The budget ran out first (with the longest prefix explained
        /// so far, and what refused the next call).
        case undecided(explored: Int, deepest: [Int], refusal: String)
    }

    /// Searches orders of `events` from `model`.  `accept` is asked about
    /// each complete order (with the model after it): it compares the
    /// abstract state with the machine's, since calls whose outcomes allow
    /// several orders may leave different states.
    ///
    /// `settle` is called when a call leaves the model undecided (an
    /// mprotect stopped by a failed allocation): it adopts what the
    /// machine did, or throws.
    public func check(_ events: [HistoryEvent], from model: Model, mayFailAllocation: Bool,
                      settle: (inout Model) throws(Divergence) -> Void = { _ throws(Divergence) in },
                      accept: (Model, [Int]) -> Bool) -> Verdict {
        precondition(events.count <= 64, "a batch has at most 64 calls")
        return withoutActuallyEscaping(accept) { accept in withoutActuallyEscaping(settle) { settle in
            var search = Search(events: events, mayFail: mayFailAllocation, budget: budget,
                                settle: settle, accept: accept)
            if let (m, order) = search.explore(model, placed: 0, faulted: 0, order: []) {
                return .linearizable(m, order)
            }
            if search.applied >= budget {
                return .undecided(explored: search.applied, deepest: search.deepest,
                                  refusal: search.refusal)
            }
            return .notLinearizable(deepest: search.deepest, refusal: search.refusal)
        } }
    }

    /// An effect that may have happened apart from the call that had it.
    struct Optional {
        enum Effect {
            case fault(mm: Int32, addr: UInt64, write: Bool)
            case zap(mm: Int32, addr: UInt64)
        }
        var effect: Effect
        /// The call it belongs to, and whose interval it falls in.
        var owner: Int
        /// Whether it must come before its owner (a fault, before its
        /// access) or may come on either side (a zap, within the madvise).
        var beforeOwner: Bool
    }

    /// The optional events of `events`: faults of failed accesses that
    /// overlap, in the same mm, a call changing mappings; zaps of the pages
    /// such accesses touch inside an overlapping MADV_DONTNEED's range.
    static func optionals(_ events: [HistoryEvent]) -> [Optional] {
        var result: [Optional] = []
        for (i, e) in events.enumerated() {
            guard let (mm, addr, write) = e.call.access else { continue }
            var overlapped = false
            for (k, other) in events.enumerated()
            where other.call.changesMappings(of: mm) && !(other.end < e.start || e.end < other.start) {
                overlapped = true
                if case .madvise(_, _, let start, let length, _) = other.call,
                   addr >= start, addr - start < length, result.count < 32 {
                    result.append(Optional(effect: .zap(mm: mm, addr: addr & ~0xfff), owner: k,
                                           beforeOwner: false))
                }
            }
            // A fault on its own only matters when the access failed: one
            // that completed had the fault's effect itself.
            if overlapped, e.outcome == .segv || e.outcome == .oom, result.count < 32 {
                result.append(Optional(effect: .fault(mm: mm, addr: addr, write: write), owner: i,
                                       beforeOwner: true))
            }
        }
        return result
    }

    private struct Key: Hashable {
        var placed: UInt64
        var faulted: UInt64
        var state: Int
    }

    private struct Search {
        let events: [HistoryEvent]
        let mayFail: Bool
        let budget: Int
        let settle: (inout Model) throws(Divergence) -> Void
        let accept: (Model, [Int]) -> Bool
        var applied = 0
        var seen: Set<Key> = []
        var deepest: [Int] = []
        var refusal = ""
        let optionals: [Optional]
        /// Calls by the machine's hint of when they took effect: tried in
        /// this order first, as the most likely to explain them.
        let byEnd: [Int]

        init(events: [HistoryEvent], mayFail: Bool, budget: Int,
             settle: @escaping (inout Model) throws(Divergence) -> Void,
             accept: @escaping (Model, [Int]) -> Bool) {
            self.events = events
            self.mayFail = mayFail
            self.budget = budget
            self.settle = settle
            self.accept = accept
            optionals = Linearizer.optionals(events)
            byEnd = events.indices.sorted {
                (events[$0].hint, events[$0].end) < (events[$1].hint, events[$1].end)
            }
        }

        /// `faulted`: the optional events placed.  `latestStart`: the
        /// latest start of a call placed (an optional event of a call that
        /// ended before it can no longer come).
        mutating func explore(_ model: Model, placed: UInt64, faulted: UInt64,
                              order: [Int], latestStart: UInt64 = 0) -> (Model, [Int])? {
            if order.count == events.count {
                if accept(model, order) { return (model, order) }
                if deepest.count <= order.count {
                    deepest = order
                    refusal = "every call placed, but the state differs from the machine's"
                }
                // Zaps may still come after the last call.
            }
            guard applied < budget,
                  seen.insert(Key(placed: placed, faulted: faulted, state: model.canonicalHash)).inserted
            else {
                return nil
            }
            // Calls that may come next: not placed, and not preceded in
            // real time by another call not placed yet.
            var firstEnd = UInt64.max
            for i in events.indices where placed & (1 << i) == 0 {
                firstEnd = min(firstEnd, events[i].end)
            }
            for i in byEnd where placed & (1 << i) == 0 && events[i].start <= firstEnd {
                var next = model
                applied += 1
                do {
                    try next.apply(events[i].call, outcome: events[i].outcome,
                                   mayFailAllocation: mayFail)
                    if next.undecidedProtection != nil { try settle(&next) }
                } catch {
                    if deepest.count <= order.count {
                        deepest = order + [i]
                        refusal = "\(events[i]): \(error.message)"
                    }
                    continue
                }
                if let found = explore(next, placed: placed | (1 << i), faulted: faulted,
                                       order: order + [i],
                                       latestStart: max(latestStart, events[i].start)) {
                    return found
                }
                if applied >= budget { return nil }
            }
            // An effect on its own, inside its call's interval.
            for (j, o) in optionals.enumerated() where faulted & (1 << j) == 0 {
                let owner = events[o.owner]
                guard owner.start <= firstEnd, latestStart <= owner.end,
                      !o.beforeOwner || placed & (1 << o.owner) == 0 else { continue }
                var next = model
                applied += 1
                switch o.effect {
                case .fault(let mm, let addr, let write):
                    guard next.fault(mm: mm, addr: addr, write: write) else { continue }
                case .zap(let mm, let addr):
                    guard next.zap(mm: mm, addr: addr) else { continue }
                }
                if let found = explore(next, placed: placed, faulted: faulted | (1 << j), order: order,
                                       latestStart: latestStart) {
                    return found
                }
                if applied >= budget { return nil }
            }
            return nil
        }
    }
}

extension Call {
    /// The mm, address and direction of a load or store.
    var access: (mm: Int32, addr: UInt64, write: Bool)? {
        switch self {
        case .load(_, let mm, let addr): (mm, addr, false)
        case .store(_, let mm, let addr, _): (mm, addr, true)
        default: nil
        }
    }

    /// Whether the call may take mappings, pages or write permission of
    /// `mm` away (fork write-protects private pages).
    func changesMappings(of mm: Int32) -> Bool {
        switch self {
        case .mmap(_, let m, _, _, _, _), .munmap(_, let m, _, _), .mprotect(_, let m, _, _, _),
             .madvise(_, let m, _, _, _), .fork(_, let m):
            m == mm
        default:
            false
        }
    }
}
