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
    /// For an access that took a fault, when the machine says the fault
    /// ran (it held mmap_sem): a hint for placing the fault on its own.
    public var faultHint: UInt64?
    /// When the call was done (released mmap_sem): where the zaps of a
    /// MADV_DONTNEED are placed first.
    public var doneHint: UInt64

    public init(call: Call, outcome: Outcome, start: UInt64, end: UInt64, hint: UInt64? = nil,
                faultHint: UInt64? = nil, doneHint: UInt64? = nil) {
        self.call = call
        self.outcome = outcome
        self.start = start
        self.end = end
        self.hint = hint ?? end
        self.faultHint = faultHint
        self.doneHint = doneHint ?? end
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
    /// machine did, or throws.  `present` says whether the machine has a
    /// page at (mm, address) in the end: zaps of pages it lacks and faults
    /// of pages it has are tried first (an order of trying, never a
    /// verdict).
    public func check(_ events: [HistoryEvent], from model: Model, mayFailAllocation: Bool,
                      settle: (inout Model) throws(Divergence) -> Void = { _ throws(Divergence) in },
                      present: (Int32, UInt64) -> Bool = { _, _ in true },
                      accept: (Model, [Int]) -> Bool) -> Verdict {
        precondition(events.count <= 64, "a batch has at most 64 calls")
        // Most often the machine's own order explains the batch: one pass,
        // no copies of the model, before any search.  The faults of
        // accesses that overlap a mapping change go at their own hints (a
        // fault that did run is harmless to place: the access itself
        // would have had its effect).
        // So do the zaps of pages the machine lacks in the end, when their
        // madvise was done.
        let optionals = Self.optionals(events)
        var steps: [(hint: UInt64, end: UInt64, event: Int, effect: LooseEffect.Effect?)] =
            events.indices.map { (events[$0].hint, events[$0].end, $0, nil) }
        for o in optionals {
            switch o.effect {
            case .fault:
                if let h = events[o.owner].faultHint, h < events[o.owner].hint {
                    steps.append((h, events[o.owner].end, o.owner, o.effect))
                }
            case .zap(let mm, let addr):
                if !present(mm, addr) {
                    steps.append((events[o.owner].doneHint, events[o.owner].end, o.owner, o.effect))
                }
            }
        }
        steps.sort { ($0.hint, $0.end, $0.effect == nil ? 1 : 0) < ($1.hint, $1.end, $1.effect == nil ? 1 : 0) }
        var m = model
        var fits = true
        for step in steps {
            let e = events[step.event]
            switch step.effect {
            case .fault(let mm, let addr, let write)?:
                _ = m.fault(mm: mm, addr: addr, write: write)
                continue
            case .zap(let mm, let addr)?:
                _ = m.zap(mm: mm, addr: addr)
                continue
            case nil:
                break
            }
            do {
                try m.apply(e.call, outcome: e.outcome, mayFailAllocation: mayFailAllocation)
                if m.undecidedProtection != nil { try settle(&m) }
            } catch {
                fits = false
                break
            }
        }
        let hinted = steps.filter { $0.effect == nil }.map(\.event)
        if fits, accept(m, hinted) {
            return .linearizable(m, hinted)
        }
        return withoutActuallyEscaping(accept) { accept in withoutActuallyEscaping(settle) { settle in
            var search = Search(events: events, mayFail: mayFailAllocation, budget: budget,
                                settle: settle, accept: accept)
            search.preferred = optionals.map { o in
                switch o.effect {
                case .fault(let mm, let addr, _): present(mm, addr & ~0xfff)
                case .zap(let mm, let addr): !present(mm, addr)
                }
            }
            if let (m, order) = search.explore(model, placed: 0, order: []) {
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
    struct LooseEffect {
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

    /// The optional events of `events`: faults of accesses that overlap,
    /// in the same mm, a call changing mappings; zaps of the pages
    /// such accesses touch inside an overlapping MADV_DONTNEED's range.
    static func optionals(_ events: [HistoryEvent]) -> [LooseEffect] {
        var result: [LooseEffect] = []
        var zaps: Set<[UInt64]> = []
        for (i, e) in events.enumerated() {
            guard let (mm, addr, write) = e.call.access else { continue }
            var overlapped = false
            for (k, other) in events.enumerated()
            where other.call.changesMappings(of: mm) && !(other.end < e.start || e.end < other.start) {
                overlapped = true
                // One zap per page and madvise, however many accesses.
                if case .madvise(_, _, let start, let length, _) = other.call,
                   addr >= start, addr - start < length,
                   zaps.insert([UInt64(k), UInt64(UInt32(bitPattern: mm)), addr >> 12]).inserted {
                    result.append(LooseEffect(effect: .zap(mm: mm, addr: addr & ~0xfff), owner: k,
                                              beforeOwner: false))
                }
            }
            // The fault may outlive its mapping: SIGSEGV after it, a page
            // of a shared object left behind, a page a fork copied.
            if overlapped {
                result.append(LooseEffect(effect: .fault(mm: mm, addr: addr, write: write), owner: i,
                                       beforeOwner: true))
            }
        }
        return result
    }

    private struct Key: Hashable {
        var placed: UInt64
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
        let optionals: [LooseEffect]
        /// Calls by the machine's hint of when they took effect: tried in
        /// this order first, as the most likely to explain them.
        let byEnd: [Int]
        /// Optional events that lead towards the machine's final state:
        /// tried before the calls, the others after.
        var preferred: [Bool] = []

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

        /// An optional effect may be placed again (a fault retried, a page
        /// zapped, faulted in and zapped again); each placing changes the
        /// state, so the memo ends the search.  `latestStart`: the
        /// latest start of a call placed (an optional event of a call that
        /// ended before it can no longer come).
        mutating func explore(_ model: Model, placed: UInt64,
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
                  seen.insert(Key(placed: placed, state: model.canonicalHash)).inserted
            else {
                return nil
            }
            // Calls that may come next: not placed, and not preceded in
            // real time by another call not placed yet.
            var firstEnd = UInt64.max
            for i in events.indices where placed & (1 << i) == 0 {
                firstEnd = min(firstEnd, events[i].end)
            }
            if let found = exploreOptionals(model, placed: placed, order: order,
                                            latestStart: latestStart, firstEnd: firstEnd, preferred: true) {
                return found
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
                if let found = explore(next, placed: placed | (1 << i),
                                       order: order + [i],
                                       latestStart: max(latestStart, events[i].start)) {
                    return found
                }
                if applied >= budget { return nil }
            }
            return exploreOptionals(model, placed: placed, order: order,
                                    latestStart: latestStart, firstEnd: firstEnd, preferred: false)
        }

        /// An effect on its own, inside its call's interval.
        mutating func exploreOptionals(_ model: Model, placed: UInt64, order: [Int],
                                       latestStart: UInt64, firstEnd: UInt64,
                                       preferred: Bool) -> (Model, [Int])? {
            for (j, o) in optionals.enumerated()
            where (j < self.preferred.count ? self.preferred[j] : false) == preferred {
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
                if let found = explore(next, placed: placed, order: order,
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
