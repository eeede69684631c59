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

    public init(call: Call, outcome: Outcome, start: UInt64, end: UInt64, hint: UInt64? = nil,
                faultHint: UInt64? = nil) {
        self.call = call
        self.outcome = outcome
        self.start = start
        self.end = end
        self.hint = hint ?? end
        self.faultHint = faultHint
    }

    /// `[12, 40] munmap(...) -> ok`.
    public var description: String { "[\(start), \(end)] \(call) -> \(outcome)" }
}

/// Where the machine says loose effects happened: the step at which a
/// call's CPU cleared a pte (one page of a MADV_DONTNEED's zap), or made
/// one present (a fault), keyed by the call's index in the history, the
/// mm and the page's address.  Hints, like ``HistoryEvent/hint``: they
/// order the first pass, never decide.
public struct EffectSteps: Sendable {
    public struct Key: Hashable, Sendable {
        public var event: Int
        public var mm: Int32
        public var page: UInt64

        public init(event: Int, mm: Int32, page: UInt64) {
            self.event = event
            self.mm = mm
            self.page = page & ~0xfff
        }
    }

    public var cleared: [Key: UInt64] = [:]
    /// The accesses (by event) whose fault mapped a whole 2 MiB page, and
    /// at which steps (a fault retried after a zap of the whole 2 MiB may
    /// map it again; one retried after a split maps 4 KiB).  Each is an
    /// effect of its own, placed exactly once (``Model/adoptHugePage(mm:start:)``
    /// where it goes).  Not a hint: the model cannot know it otherwise.
    public var hugeFaults: [Int: [UInt64]] = [:]
    /// The stores (by event) whose fault copied their page.  Two
    /// copy-on-write faults on one page may both see the other's mapping
    /// and copy; for a page of a 2 MiB page that is visible (the 2 MiB
    /// page keeps the old frame allocated), so the model copies too
    /// where it would have reused the page.
    public var copies: Set<Int> = []
    /// Every time, in order: a fault may be retried and take effect
    /// again (a fork write-protected the page in between).
    public var installed: [Key: [UInt64]] = [:]
    /// Whether these are all the batch's pte changes: then a fault with
    /// none installed nothing (it waited, then lost its mapping), and is
    /// left out of the first pass like a zap that cleared nothing;
    /// otherwise it goes when it held mmap_sem.
    public var complete: Bool

    public init(complete: Bool = false) {
        self.complete = complete
    }
}

/// The linearizability check of a concurrent batch (Wing and Gong's
/// search, with the memoization of Lowe's): is there an order of the
/// calls that respects real time (a call that returned before another
/// began comes first) in which the reference model, applied call by call,
/// predicts every outcome?  A user access that overlaps a call removing or
/// write-protecting its mapping may so be placed on either side of it.
///
/// Two effects are not atomic with the call that has them, and are placed
/// as events of their own:
/// - a fault of an access that overlaps a call changing its mapping
///   (``Model/fault(mm:addr:write:)``): it may outlive the access (the
///   page faulted in, then the access lost the race and got SIGSEGV; a
///   page of a shared object left behind; a page a fork copied).  It is
///   optional, may recur (retries), and comes before its access;
/// - MADV_DONTNEED's zap of each page that an overlapping access touches
///   (``Model/zap(mm:addr:)``): the call holds mmap_sem only for reading,
///   and zaps page by page while faults run.  Such a page is spared by the
///   call itself and zapped exactly once, anywhere in the call's interval.
///
/// And a store that completed while a call freed its page (munmap,
/// MADV_DONTNEED, an mmap over it) may be a stray: it went through a TLB
/// entry the call had not flushed yet, into the page on its way out (lost
/// for private memory, kept by the object for shared memory).
/// Likewise a load overlapping such a call may read the page on its way
/// out (a *stale read*): it returns what the page held when the call
/// took it away, even after another access faulted a new page in there.
/// Linux allows both: a translation a call removes lives on in other
/// CPUs' TLBs until the call's flush, which comes before it returns.
/// Such a load is placed with no effect once the search has passed the
/// moment its page went with the value it read.
///
/// The model is a value: each branch of the search applies a call to its
/// own copy, and a (calls placed, zaps placed, model state) triple already
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
    /// mprotect or a MADV_DONTNEED stopped by a failed allocation): it adopts what the
    /// machine did, or throws.  `present` says whether the machine has a
    /// page at (mm, address) in the end: it orders what is tried first,
    /// never decides.
    public func check(_ events: [HistoryEvent], from model: Model, mayFailAllocation: Bool,
                      settle: (inout Model) throws(Divergence) -> Void = { _ throws(Divergence) in },
                      present: (Int32, UInt64) -> Bool = { _, _ in true },
                      steps machineSteps: EffectSteps = EffectSteps(),
                      accept: (Model, [Int]) -> Bool) -> Verdict {
        precondition(events.count <= 64, "a batch has at most 64 calls")
        let events = Self.hintingDontneedsAfterHugeFaults(events, machineSteps)
        let loose = Loose(events, hugeFaults: machineSteps.hugeFaults, copies: machineSteps.copies)
        // Most often the machine's own order explains the batch: one pass,
        // no copies of the model, before any search.  Each loose effect
        // goes where the machine made it: a zap when its CPU cleared the
        // pte (one the machine never cleared did nothing: it is left
        // out), a fault each time its CPU made the pte present (likewise
        // left out when it made none; without the machine's log, when it
        // held mmap_sem).  Then the same with losable stores lost: every
        // combination, fewest first, up to 12 of them; each one and each
        // pair beyond.
        var callsAndFaults: [(hint: UInt64, end: UInt64, event: Int, effect: LooseEffect?)] =
            events.indices.map { (events[$0].hint, events[$0].end, $0, nil) }
        for f in loose.faults {
            let key = EffectSteps.Key(event: f.owner, mm: f.mm, page: f.addr)
            let fallback = machineSteps.complete ? [] : events[f.owner].faultHint.map { [$0] } ?? []
            // A huge fault's own page is its effect's (placed below).
            let huge = machineSteps.hugeFaults[f.owner] ?? []
            for t in machineSteps.installed[key] ?? fallback where t < events[f.owner].hint && !huge.contains(t) {
                callsAndFaults.append((t, events[f.owner].end, f.owner, f))
            }
        }
        for z in loose.zaps {
            if case .hugeFault(_, let t) = z.kind {
                callsAndFaults.append((t, events[z.owner].end, z.owner, z))
            } else if let t = machineSteps.cleared[EffectSteps.Key(event: z.owner, mm: z.mm, page: z.addr)] {
                callsAndFaults.append((t, events[z.owner].end, z.owner, z))
            }
        }
        callsAndFaults.sort {
            ($0.hint, $0.end, $0.effect == nil ? 1 : 0) < ($1.hint, $1.end, $1.effect == nil ? 1 : 0)
        }
        func pass(lost: Set<Int> = []) -> (Model, [Int])? {
            var m = model
            var witnessed: UInt64 = 0
            for step in callsAndFaults {
                let before = loose.removesReadPages(step.effect, step.event) ? m : nil
                if let effect = step.effect {
                    effect.apply(to: &m)
                } else if lost.contains(step.event) {
                    loose.stray(step.event, in: &m)
                } else {
                    do {
                        try loose.apply(step.event, to: &m, mayFail: mayFailAllocation, settle: settle)
                    } catch {
                        guard witnessed & (1 << step.event) != 0 else { return nil }
                    }
                }
                if let before {
                    witnessed |= loose.witness(step.effect, step.event, before: before, after: m)
                }
            }
            let order = callsAndFaults.filter { $0.effect == nil }.map(\.event)
            return accept(m, order) ? (m, order) : nil
        }
        if let (m, order) = pass() {
            return .linearizable(m, order)
        }
        let n = loose.losable.count
        var flips: [[Int]]
        if n <= 12 {
            flips = (1 ..< (1 << n)).map { mask in (0 ..< n).filter { mask & (1 << $0) != 0 } }
            flips.sort { $0.count < $1.count }
        } else {
            flips = (0 ..< n).map { [$0] } + (0 ..< n).flatMap { a in (a + 1 ..< n).map { [a, $0] } }
        }
        for flip in flips {
            if let (m, order) = pass(lost: Set(flip.map { loose.losable[$0] })) {
                return .linearizable(m, order)
            }
        }
        return withoutActuallyEscaping(accept) { accept in withoutActuallyEscaping(settle) { settle in
            var search = Search(events: events, loose: loose, mayFail: mayFailAllocation, budget: budget,
                                settle: settle, accept: accept)
            // A huge fault first: it came before what split or zapped it.
            search.earlyZaps = loose.zaps.map {
                if case .hugeFault = $0.kind { return true }
                return present($0.mm, $0.addr)
            }
            search.earlyFaults = loose.faults.map { present($0.mm, $0.addr & ~0xfff) }
            if let (m, order) = search.explore(model, placed: 0, zapped: 0, witnessed: 0, order: []) {
                return .linearizable(m, order)
            }
            if search.applied >= budget {
                return .undecided(explored: search.applied, deepest: search.deepest,
                                  refusal: search.refusal)
            }
            return .notLinearizable(deepest: search.deepest, refusal: search.refusal)
        } }
    }

    /// `events` with the hint of each MADV_DONTNEED moved past the huge
    /// faults it zapped.  A MADV_DONTNEED reads each pmd of its range
    /// once: a 2 MiB page a fault maps there after the call took mmap_sem
    /// but before it reached that pmd goes with the call, which so took
    /// effect there after the fault; its hint (when it took mmap_sem)
    /// would place it before.  It goes where it first cleared a page of
    /// that 2 MiB after the fault.  (Only the order tried first changes.)
    static func hintingDontneedsAfterHugeFaults(_ events: [HistoryEvent],
                                                _ steps: EffectSteps) -> [HistoryEvent] {
        guard !steps.hugeFaults.isEmpty else { return events }
        var hinted = events
        for (i, e) in events.enumerated() {
            guard case .madvise(let start, let length, .dontneed) = e.call.request, let mm = e.call.mm else {
                continue
            }
            let end = start &+ length
            for (j, faults) in steps.hugeFaults {
                guard let (owner, addr, _) = events[j].call.access, owner == mm else { continue }
                let region = addr & ~(hugeSize - 1)
                guard region < end, region &+ hugeSize > start else { continue }
                for t in faults where t > hinted[i].hint && t < e.end {
                    var page = max(region, start & ~0xfff)
                    var first = UInt64.max
                    while page < min(region &+ hugeSize, end) {
                        if let c = steps.cleared[EffectSteps.Key(event: i, mm: mm, page: page)], c > t {
                            first = min(first, c)
                        }
                        page += 0x1000
                    }
                    if first != .max { hinted[i].hint = first }
                }
            }
        }
        return hinted
    }

    /// An effect placed apart from the call that had it.
    struct LooseEffect {
        enum Kind {
            /// A fault; `copies`: a write fault that copied its page.
            case fault(write: Bool, copies: Bool)
            case zap
            /// A fault that mapped the whole 2 MiB, at `step` in the
            /// machine: placed exactly once, as a zap is.
            case hugeFault(write: Bool, step: UInt64)
        }
        var kind: Kind
        var mm: Int32
        var addr: UInt64
        /// The call it belongs to, in whose interval it falls.
        var owner: Int

        /// Applies the effect; false when it changed nothing (or a huge
        /// fault is not possible there).
        @discardableResult
        func apply(to model: inout Model) -> Bool {
            switch kind {
            case .fault(let write, let copies):
                if model.fault(mm: mm, addr: addr, write: write) { return true }
                return copies && model.copyExclusivePage(mm: mm, addr: addr)
            case .zap: return model.zap(mm: mm, addr: addr)
            case .hugeFault(let write, _):
                // Only where the model's 2 MiB may still have an empty pmd.
                guard model.presentWord(mm: mm, addr: addr) == nil else { return false }
                var next = model
                guard next.fault(mm: mm, addr: addr, write: write),
                      (try? next.adoptHugePage(mm: mm, start: addr & ~(Linearizer.hugeSize - 1))) != nil
                else { return false }
                model = next
                return true
            }
        }
    }

    /// Bytes of a 2 MiB page.
    static let hugeSize: UInt64 = 1 << 21

    /// The loose effects of a batch, and how its madvises spare the pages
    /// zapped on their own.
    struct Loose {
        let events: [HistoryEvent]
        /// Stores that copied their page (``EffectSteps/copies``).
        let copies: Set<Int>
        /// Faults of accesses that overlap, in the same mm, a call changing
        /// mappings, and of accesses that mapped a 2 MiB page.
        var faults: [LooseEffect] = []
        /// Zaps of the pages such accesses touch in an overlapping
        /// MADV_DONTNEED's range, one per page and madvise (at most 64).
        var zaps: [LooseEffect] = []
        /// Page numbers each madvise leaves to its zaps, by event.
        var sparing: [Int: Set<UInt64>] = [:]
        /// Stores that completed while a call took their page away: one
        /// may have gone through a TLB entry not flushed yet, into the
        /// page on its way out, and be lost.
        var losable: [Int] = []
        /// Loads that returned a value while a call took their page away
        /// (the call, by event): one may have read the page on its way
        /// out.
        var stale: [(load: Int, remover: Int)] = []
        /// The loads of `stale`, each once.
        var staleLoads: [Int] = []
        /// For a stale-read candidate, values that stores may have left in
        /// the page on its way out (stores to its word that may be
        /// strays, begun before the load ended).
        var strayValues: [Int: Set<UInt64>] = [:]

        init(_ events: [HistoryEvent], hugeFaults: [Int: [UInt64]] = [:], copies: Set<Int> = []) {
            self.events = events
            self.copies = copies
            for (i, e) in events.enumerated() {
                guard let (mm, addr, write) = e.call.access else { continue }
                var overlapped = false
                for (k, other) in events.enumerated()
                where other.call.changesMappings(of: mm) && !(other.end < e.start || e.end < other.start) {
                    overlapped = true
                    // Only a MADV_DONTNEED that ran: valid, and done or
                    // stopped by a hole (it zaps the mapped parts).
                    guard case .madvise(let start, let length, .dontneed) = other.call.request,
                          other.outcome == .ok || other.outcome == .errno(12),
                          addr >= start, addr - start < length, zaps.count < 64,
                          sparing[k, default: []].insert(addr >> 12).inserted else { continue }
                    zaps.append(LooseEffect(kind: .zap, mm: mm, addr: addr & ~0xfff, owner: k))
                }
                // A store that copied its page decided to when it faulted,
                // which may be well before it wrote: placed on its own too.
                if overlapped || copies.contains(i) {
                    faults.append(LooseEffect(kind: .fault(write: write, copies: copies.contains(i)),
                                              mm: mm, addr: addr, owner: i))
                }
                // A fault that mapped a 2 MiB page is placed on its own,
                // once for each time it did: another access may use the
                // pages it populated before this one completes.
                for step in hugeFaults[i] ?? [] where zaps.count < 64 {
                    zaps.append(LooseEffect(kind: .hugeFault(write: write, step: step), mm: mm, addr: addr,
                                            owner: i))
                }
                if write, case .value = e.outcome, events.contains(where: { other in
                    other.call.removes(mm: mm, addr: addr) && !(other.end < e.start || e.end < other.start)
                }) {
                    losable.append(i)
                }
                if !write, case .value = e.outcome {
                    for (k, other) in events.enumerated()
                    where other.call.removes(mm: mm, addr: addr) && !(other.end < e.start || e.end < other.start) {
                        stale.append((i, k))
                    }
                    if stale.last?.load == i { staleLoads.append(i) }
                }
            }
            for i in staleLoads {
                let (mm, addr, _) = events[i].call.access!
                for j in losable {
                    if case .store(addr, let value) = events[j].call.request, events[j].call.mm == mm,
                       events[j].start <= events[i].end {
                        strayValues[i, default: []].insert(value)
                    }
                }
            }
        }

        /// Store `i` as a stray store (see ``Model/strayStore(mm:addr:value:)``).
        func stray(_ i: Int, in model: inout Model) {
            if case .store(let addr, let value) = events[i].call.request {
                model.strayStore(mm: events[i].call.mmID, addr: addr, value: value)
            }
        }

        /// Whether applying `effect` (or, when nil, event `event`) may
        /// take away a page a stale-read candidate read.
        func removesReadPages(_ effect: LooseEffect?, _ event: Int) -> Bool {
            guard !stale.isEmpty else { return false }
            if let effect {
                guard case .zap = effect.kind else { return false }
                return stale.contains { $0.remover == effect.owner && events[$0.load].call.access?.mm == effect.mm
                    && events[$0.load].call.access!.addr & ~0xfff == effect.addr }
            }
            return stale.contains { $0.remover == event }
        }

        /// The stale-read candidates (bits by event) that applying
        /// `effect` (or event `event`), from `before` to `after`, lets
        /// read what they returned: their page went, holding their value.
        func witness(_ effect: LooseEffect?, _ event: Int, before: Model, after: Model) -> UInt64 {
            var bits: UInt64 = 0
            let remover = effect?.owner ?? event
            for (load, k) in stale where k == remover {
                guard let (mm, addr, _) = events[load].call.access,
                      case .value(let v) = events[load].outcome,
                      effect.map({ $0.mm == mm && $0.addr == addr & ~0xfff }) ?? true,
                      let old = before.presentWord(mm: mm, addr: addr),
                      old.value == v || strayValues[load]?.contains(v) == true,
                      after.presentWord(mm: mm, addr: addr)?.frame != old.frame else { continue }
                bits |= 1 << UInt64(load)
            }
            return bits
        }

        /// Applies event `i` (a madvise sparing its zapped pages; an access
        /// whose fault maps a 2 MiB page adopting it when it faults here).
        func apply(_ i: Int, to model: inout Model, mayFail: Bool,
                   settle: (inout Model) throws(Divergence) -> Void) throws(Divergence) {
            if copies.contains(i), let (mm, addr, _) = events[i].call.access {
                let before = model.presentWord(mm: mm, addr: addr)?.frame
                try model.apply(events[i].call, outcome: events[i].outcome, mayFailAllocation: mayFail)
                if let before, model.presentWord(mm: mm, addr: addr)?.frame == before {
                    model.copyExclusivePage(mm: mm, addr: addr)
                }
                return
            }
            if let spared = sparing[i] {
                try model.applyDontneed(events[i].call, outcome: events[i].outcome,
                                        mayFailAllocation: mayFail, sparing: spared)
            } else {
                try model.apply(events[i].call, outcome: events[i].outcome, mayFailAllocation: mayFail)
            }
            if model.undecidedProtection != nil || model.undecidedPages != nil { try settle(&model) }
        }
    }

    private struct Key: Hashable {
        var placed: UInt64
        var zapped: UInt64
        var witnessed: UInt64
        var state: Int
    }

    private struct Search {
        let events: [HistoryEvent]
        let loose: Loose
        let mayFail: Bool
        let budget: Int
        let settle: (inout Model) throws(Divergence) -> Void
        let accept: (Model, [Int]) -> Bool
        var applied = 0
        var seen: Set<Key> = []
        var deepest: [Int] = []
        var refusal = ""
        /// Calls by the machine's hint of when they took effect: tried in
        /// this order first, as the most likely to explain them.
        let byHint: [Int]
        /// Zaps of pages the machine kept, and faults of pages it has:
        /// tried before the calls (the others after).
        var earlyZaps: [Bool] = []
        var earlyFaults: [Bool] = []
        let allZapped: UInt64

        init(events: [HistoryEvent], loose: Loose, mayFail: Bool, budget: Int,
             settle: @escaping (inout Model) throws(Divergence) -> Void,
             accept: @escaping (Model, [Int]) -> Bool) {
            self.events = events
            self.loose = loose
            self.mayFail = mayFail
            self.budget = budget
            self.settle = settle
            self.accept = accept
            byHint = events.indices.sorted {
                (events[$0].hint, events[$0].end) < (events[$1].hint, events[$1].end)
            }
            allZapped = loose.zaps.count == 64 ? ~0 : (1 << UInt64(loose.zaps.count)) - 1
        }

        /// `latestStart`: the latest start of a call placed (an effect of
        /// a call that ended before it can no longer come).
        mutating func explore(_ model: Model, placed: UInt64, zapped: UInt64, witnessed: UInt64,
                              order: [Int], latestStart: UInt64 = 0) -> (Model, [Int])? {
            if order.count == events.count && zapped == allZapped {
                if accept(model, order) { return (model, order) }
                if deepest.count <= order.count {
                    deepest = order
                    refusal = "every call placed, but the state differs from the machine's"
                }
                // Faults may still come after the last call.
            }
            guard applied < budget, !stranded(model, placed: placed, zapped: zapped, latestStart: latestStart),
                  seen.insert(Key(placed: placed, zapped: zapped, witnessed: witnessed,
                                  state: model.canonicalHash)).inserted
            else {
                return nil
            }
            // Calls that may come next: not placed, and not preceded in
            // real time by another call not placed yet.
            var firstEnd = UInt64.max
            for i in events.indices where placed & (1 << i) == 0 {
                firstEnd = min(firstEnd, events[i].end)
            }
            let window = (firstEnd: firstEnd, latestStart: latestStart)
            if let found = exploreEffects(model, placed: placed, zapped: zapped, witnessed: witnessed,
                                          order: order, window: window, early: true) {
                return found
            }
            for i in byHint where placed & (1 << i) == 0 && events[i].start <= firstEnd {
                var next = model
                applied += 1
                do {
                    try loose.apply(i, to: &next, mayFail: mayFail, settle: settle)
                } catch {
                    if deepest.count <= order.count {
                        deepest = order + [i]
                        refusal = "\(events[i]): \(error.message)"
                    }
                    continue
                }
                let seen = loose.removesReadPages(nil, i)
                    ? loose.witness(nil, i, before: model, after: next) : 0
                if let found = explore(next, placed: placed | (1 << i), zapped: zapped,
                                       witnessed: witnessed | seen, order: order + [i],
                                       latestStart: max(latestStart, events[i].start)) {
                    return found
                }
                if applied >= budget { return nil }
            }
            // A store into a page on its way out (lost, unless the page
            // is a shared object's), a load that read one (its page went
            // with its value): placed, with no effect on the page tables.
            for i in loose.losable + loose.staleLoads
            where placed & (1 << i) == 0 && events[i].start <= firstEnd
                && (events[i].call.access!.write || witnessed & (1 << i) != 0) {
                applied += 1
                var next = model
                loose.stray(i, in: &next)
                if let found = explore(next, placed: placed | (1 << i), zapped: zapped, witnessed: witnessed,
                                       order: order + [i],
                                       latestStart: max(latestStart, events[i].start)) {
                    return found
                }
                if applied >= budget { return nil }
            }
            return exploreEffects(model, placed: placed, zapped: zapped, witnessed: witnessed, order: order,
                                  window: window, early: false)
        }

        /// Whether a loose effect that must still be placed no longer can
        /// be, so that nothing below this node can explain the batch (every
        /// zap and huge fault is placed for an order to be complete):
        /// - its call ended before a call already placed began (it only
        ///   goes inside its call's interval, and `latestStart` only grows);
        /// - a huge fault needs its 2 MiB empty in the model
        ///   (``LooseEffect/apply(to:)``), and a page there stays unless a
        ///   zap of that page or a call that may free pages of its mm (an
        ///   mmap, munmap or madvise) is still to be placed.
        /// Without it a load placed after the zap of its page (it faults the
        /// page back, where the machine read it through a stale TLB entry)
        /// sends the search through every order below it.
        func stranded(_ model: Model, placed: UInt64, zapped: UInt64, latestStart: UInt64) -> Bool {
            for (j, h) in loose.zaps.enumerated() where zapped & (1 << j) == 0 {
                if events[h.owner].end < latestStart { return true }
                guard case .hugeFault = h.kind else { continue }
                if events.indices.contains(where: { i in
                    placed & (1 << i) == 0 && events[i].call.mm == h.mm && events[i].call.request.kind.mayFreeRange
                }) {
                    continue
                }
                let region = h.addr & ~(Linearizer.hugeSize - 1)
                for page in model.presentPages(mm: h.mm, start: region, end: region &+ Linearizer.hugeSize) {
                    let zappable = loose.zaps.indices.contains { k in
                        guard zapped & (1 << k) == 0, case .zap = loose.zaps[k].kind else { return false }
                        return loose.zaps[k].mm == h.mm && loose.zaps[k].addr == page
                    }
                    if !zappable { return true }
                }
            }
            return false
        }

        /// Loose effects that may come next, inside their call's interval.
        mutating func exploreEffects(_ model: Model, placed: UInt64, zapped: UInt64, witnessed: UInt64,
                                     order: [Int], window: (firstEnd: UInt64, latestStart: UInt64),
                                     early: Bool) -> (Model, [Int])? {
            func fits(_ e: LooseEffect) -> Bool {
                events[e.owner].start <= window.firstEnd && window.latestStart <= events[e.owner].end
            }
            for (j, z) in loose.zaps.enumerated()
            where zapped & (1 << j) == 0 && earlyZaps[j] == early && fits(z) {
                var next = model
                applied += 1
                if !z.apply(to: &next), case .hugeFault = z.kind { continue }
                let seen = loose.removesReadPages(z, z.owner)
                    ? loose.witness(z, z.owner, before: model, after: next) : 0
                if let found = explore(next, placed: placed, zapped: zapped | (1 << j),
                                       witnessed: witnessed | seen, order: order,
                                       latestStart: window.latestStart) {
                    return found
                }
                if applied >= budget { return nil }
            }
            for (j, f) in loose.faults.enumerated()
            where earlyFaults[j] == early && placed & (1 << f.owner) == 0 && fits(f) {
                var next = model
                applied += 1
                guard f.apply(to: &next) else { continue }
                if let found = explore(next, placed: placed, zapped: zapped, witnessed: witnessed,
                                       order: order, latestStart: window.latestStart) {
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
        switch request {
        case .load(let addr): (mmID, addr, false)
        case .store(let addr, _): (mmID, addr, true)
        default: nil
        }
    }

    /// Whether the call may free the page at `addr` of `mm` (munmap,
    /// MADV_DONTNEED, an mmap over it); mprotect keeps the page, and so
    /// does any other advice (MADV_HUGEPAGE changes no data).
    func removes(mm: Int32, addr: UInt64) -> Bool {
        guard request.kind.mayFreeRange, self.mm == mm, let (start, length) = request.range else {
            return false
        }
        if case .madvise(_, _, let advice) = request, advice != .dontneed { return false }
        return addr >= start && addr - start < length
    }

    /// Whether the call may take mappings, pages or write permission of
    /// `mm` away (fork write-protects private pages).
    func changesMappings(of mm: Int32) -> Bool {
        request.kind.mayReduceMappings && self.mm == mm
    }
}
