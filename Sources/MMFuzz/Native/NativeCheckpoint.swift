#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MMModel

/// One process of a native case: the mm the model knows it by, its pid
/// and the child that makes its calls.
public typealias NativeProcess = (mm: Int32, pid: Int32, child: NativeChild)

/// The comparisons of a native checkpoint.
public enum NativeCheck: String, Hashable, Sendable, CaseIterable {
    /// `/proc/PID/maps` inside the case's windows against the model's
    /// mappings (ranges, protection, shared or private).
    case maps
    /// Present pages (pagemap bit 63, and `mincore()` in the process)
    /// against the model's populated pages.
    case residency
    /// Frame identity: host PFNs equal exactly where the model's frames
    /// are; a host zero page where the model's page holds 0.
    case identity
    /// pagemap bit 56 (exclusively mapped) against the model's frame
    /// being mapped once.
    case exclusive
    /// The resident set of the arena's vmas (`/proc/PID/smaps`) against
    /// the model's populated pages.
    case rss
    /// The first word of every page both have (`/proc/PID/mem`) against
    /// the model's.
    case contents
    /// A fault mapped a whole 2 MiB where the model allows no huge page.
    case huge
}

/// A difference a checkpoint found between the host and the model.
public struct NativeCheckFinding: Hashable, Sendable, CustomStringConvertible {
    public var check: NativeCheck
    public var mm: Int32
    public var message: String
    public var description: String { "checkpoint \(check.rawValue): mm \(mm): \(message)" }
}

/// Checkpoints of a native case: every `interval` requests, and at the
/// end of the case before its exits, the host state of every live process
/// is compared with the model's state of its mm (see ``NativeCheck``).
///
/// One value per case (it remembers where MADV_HUGEPAGE went and which
/// pages each mm loaded); the runner calls ``before(_:mm:model:)`` and
/// ``after(_:index:mm:outcome:windowWasEmpty:model:processes:)`` around
/// each request and ``checkpoint(after:_:model:processes:)`` at the end,
/// each time with the live processes only (an exited one left out).  The
/// comparison itself is ``check(model:processes:)``: it takes any number
/// of processes, each with the mm the model knows it by (every live mm of
/// the model must have one), and compares frame identity across all of
/// them, so a runner with a process per mm (a real fork) calls it as it
/// is.  A difference is looked at again once, 2 ms later, before it is
/// reported: the host may be moving a page (a migration, a collapse).
///
/// The kernel and the simulator differ in ways the comparisons know, each
/// counted in ``adaptations`` (see ``NativeAdaptation``):
/// - ``NativeAdaptation/zeroPage``: a read fault of private anonymous
///   memory maps the shared zero page (the huge zero page in a
///   VM_HUGEPAGE range); the model's page must be populated and hold 0,
///   and is left out of identity, exclusivity and the resident count.
/// - ``NativeAdaptation/hostHugePage``: a fault in a VM_HUGEPAGE range
///   mapped a whole 2 MiB (a THP, or the huge zero page on a read): found
///   right after the access (all 512 pages of its window present where
///   the model had none) and adopted into the model with
///   `Model.adoptHugePage(mm:start:)`, as the engine does for the
///   simulator's huge faults.
/// - ``NativeAdaptation/khugepagedCollapse``: khugepaged collapses a
///   VM_HUGEPAGE window on its own schedule; pages the host has there in
///   a THP and the model not, or whose frame a collapse copied, are let
///   through, but only in a window MADV_HUGEPAGE was given to in the
///   case, only for pages in a THP, and only once `/proc/vmstat`'s
///   `thp_collapse_alloc` moved since the case began.
/// - ``NativeAdaptation/shmemFaultAround``: a read fault of shared
///   anonymous memory (shmem) also maps neighbours the object holds
///   (16 pages, `fault_around_bytes`); present pages of a shared mapping
///   the model lacks are let through where a load of the mm in the case
///   may have mapped them (``mayFaultAround(_:_:)``).
/// - ``NativeAdaptation/shmemCacheResident``: `mincore()` of a shared
///   mapping reports the pages its object holds, mapped here or not; there
///   it is only required to report the model's pages.
/// - ``NativeAdaptation/protImpliedRead``: `/proc/PID/maps` shows the
///   vma's flags (`-w-` for PROT_WRITE), the model the protection x86
///   gives (PROT_READ implied); the host's is normalized.
/// - ``NativeAdaptation/pagemapWithoutPFNs``: without CAP_SYS_ADMIN
///   pagemap's PFNs read 0 (and kpageflags cannot be read): identity is
///   not checked; a private page not exclusively mapped whose model page
///   holds 0 may be a zero page, and is left out of exclusivity, and the
///   resident count may or may not include it.
public struct NativeCheckpoint: Sendable {
    /// Ops between checkpoints (a touch is one), unless told otherwise.
    public static let defaultInterval = 50
    static let window = NativeRelocation.window
    static let windowPages = Int(NativeRelocation.window >> 12)

    public let relocation: NativeRelocation
    /// Ops between checkpoints (a touch is one).
    public let interval: Int
    /// Adaptations made, by name (``NativeAdaptation`` raw values).
    public private(set) var adaptations: [String: Int] = [:]
    /// Checkpoints run (a look again after a difference not counted).
    public private(set) var checkpoints = 0
    /// Test-only: read pagemap as a process without CAP_SYS_ADMIN does
    /// (PFNs 0, no page flags).
    public var pretendNoPFNs = false

    /// Case windows (`addr >> 21`) some MADV_HUGEPAGE was given to.
    var hugeWindows: Set<UInt64> = []
    /// Pages an mm loaded a value from: where a read fault of shmem may
    /// have mapped more than its own page (see ``mayFaultAround(_:_:)``).
    var loads: Set<Load> = []

    struct Load: Hashable, Sendable {
        var mm: Int32
        var page: UInt64
    }
    /// Frames the model gave a read fault of private memory (the host
    /// mapped its zero page, small or huge) that no store has written
    /// since: see ``NativeAdaptation/zeroPageNotCopied``.
    var readFaultFrames: Set<FrameKey> = []
    /// The page of the access being made, when the model had none there
    /// (set by ``before(_:mm:model:)``).
    var absentPage: (mm: Int32, page: UInt64)?

    /// Case windows (`addr >> 21`) where a batch's fault mapped a huge
    /// page the model, after the order the linearizer found, does not map
    /// whole (``NativeAdaptation/batchHugeFault``).
    var batchHugeWindows: Set<UInt64> = []

    /// Case windows (`addr >> 21`) a batch's calls touched
    /// (``NativeAdaptation/batchResidency``).
    var batchWindows: Set<UInt64> = []

    /// Notes windows where a batch's huge fault could not be placed in
    /// the model (``NativeAdaptation/batchHugeFault``).
    public mutating func tolerate(batchHugeWindows windows: Set<UInt64>) {
        for w in windows where batchHugeWindows.count < 1 << 12 {
            batchHugeWindows.insert(w >> NativeRelocation.windowShift)
        }
    }

    /// `thp_collapse_alloc` when the case began.
    let collapsesAtStart: UInt64?
    var sinceLast = 0
    /// The op of the last request counted in ``sinceLast``.
    var lastOp: Int?
    var lastChecked: Int?

    public init(relocation: NativeRelocation, interval: Int = Self.defaultInterval) {
        self.relocation = relocation
        self.interval = max(1, interval)
        collapsesAtStart = NativeHost.vmstat("thp_collapse_alloc")
    }

    mutating func count(_ a: NativeAdaptation, _ n: Int = 1) {
        if n > 0 { adaptations[a.rawValue, default: 0] += n }
    }

    // MARK: The runner's hooks

    /// Call before applying `request` of `mm`: whether it is an access
    /// whose 2 MiB window the model has no page in (a fault there may map
    /// the whole window).
    public mutating func before(_ request: Request, mm: Int32, model: Model) -> Bool {
        absentPage = nil
        switch request {
        case .load(let a), .store(let a, _):
            if model.presentWord(mm: mm, addr: a) == nil { absentPage = (mm, a >> 12) }
            let start = a & ~(Self.window - 1)
            return model.presentPages(mm: mm, start: start, end: start + Self.window).isEmpty
        default:
            return false
        }
    }

    /// Call after request `index` (of `mm`, with host `outcome`) was
    /// applied to `model`: notes where MADV_HUGEPAGE goes, adopts a huge
    /// page an access's fault mapped, and runs a checkpoint every
    /// ``interval`` requests.  Returns the difference found, if any.
    public mutating func after(_ request: Request, index: Int, opIndex: Int, mm: Int32, outcome: Outcome,
                               windowWasEmpty: Bool, model: inout Model,
                               processes: [NativeProcess]) throws(NativeChild.Failure) -> NativeDifference? {
        note(request)
        if case .load(let a) = request, case .value = outcome, loads.count < 1 << 16 {
            loads.insert(Load(mm: mm, page: a >> 12))
        }
        switch (request, outcome) {
        case (.load(let a), .value), (.store(let a, _), .value):
            defer { noteFrames(request, mm: mm, model: model, huge: windowWasEmpty) }
            if windowWasEmpty, let p = processes.first(where: { $0.mm == mm }),
               let finding = adoptHugeFault(model: &model, mm: mm, pid: p.pid, base: p.child.base, address: a) {
                return NativeDifference(index: index, opIndex: opIndex, request: request,
                                        check: finding.check.rawValue, host: "a 2 MiB page",
                                        message: finding.description)
            }
        default:
            break
        }
        // Ops, not requests, as the engine counts: a touch is one op
        // however many pages it stores to.
        if lastOp != opIndex {
            lastOp = opIndex
            sinceLast += 1
        }
        guard sinceLast >= interval else { return nil }
        return try checkpoint(after: index, opIndex: opIndex, request, model: model, processes: processes)
    }

    /// A checkpoint after request `index` (`request`): nothing when one
    /// ran there already.  Call it at the end of a case, before its exits.
    public mutating func checkpoint(after index: Int, opIndex: Int, _ request: Request, model: Model,
                                    processes: [NativeProcess]) throws(NativeChild.Failure) -> NativeDifference? {
        guard lastChecked != index else { return nil }
        lastChecked = index
        sinceLast = 0
        let findings = try check(model: model, processes: processes)
        guard !findings.isEmpty else { return nil }
        return NativeDifference(index: index, opIndex: opIndex, request: request,
                                check: findings[0].check.rawValue, host: "checkpoint",
                                message: findings.prefix(4).map(\.description).joined(separator: "; ")
                                    + (findings.count > 4 ? "; and \(findings.count - 4) more" : ""))
    }

    /// What a batch's accesses found in the model before it ran
    /// (``beforeBatch(_:mm:model:)``): pages with none, 2 MiB windows with
    /// none.
    public struct BatchAccesses: Sendable {
        var mm: Int32
        var absentPages: Set<UInt64> = []
        var emptyWindows: Set<UInt64> = []
        /// Windows of the accesses the model mapped whole already.
        var fullWindows: Set<UInt64> = []
    }

    /// Call before a batch of `mm` runs, with its requests.
    public func beforeBatch(_ requests: [Request], mm: Int32, model: Model) -> BatchAccesses {
        var b = BatchAccesses(mm: mm)
        for r in requests {
            switch r {
            case .load(let a), .store(let a, _):
                if model.presentWord(mm: mm, addr: a) == nil { b.absentPages.insert(a >> 12) }
                let start = a & ~(Self.window - 1)
                let present = model.presentPages(mm: mm, start: start, end: start + Self.window).count
                if present == 0 { b.emptyWindows.insert(start) }
                if present == Self.windowPages { b.fullWindows.insert(start) }
            default:
                break
            }
        }
        return b
    }

    /// The 2 MiB windows of a batch's completed accesses that the host
    /// now maps whole where the model did not before the batch (or where
    /// a call of the batch changed the window's mappings): a fault of the
    /// batch mapped a huge page there.  The runner hands them to the
    /// linearizer, which adopts each into the model where its fault goes,
    /// as the engine does the simulator's.  Call before the batch is
    /// judged.
    public func hugeWindows(_ calls: [(Request, Outcome)], _ before: BatchAccesses,
                            processes: [NativeProcess]) -> Set<UInt64> {
        guard let p = processes.first(where: { $0.mm == before.mm }) else { return [] }
        var changed = Set<UInt64>()
        for (r, _) in calls {
            switch r {
            case .mmap(let a, let l, _, _), .munmap(let a, let l), .mprotect(let a, let l, _), .madvise(let a, let l, _):
                guard let ws = NativeRelocation.windows(a, l) else { continue }
                for w in ws where changed.count < 1 << 12 { changed.insert(w << NativeRelocation.windowShift) }
            default:
                break
            }
        }
        var out = Set<UInt64>()
        for (r, o) in calls {
            guard case .value = o else { continue }
            switch r {
            case .load(let a), .store(let a, _):
                let w = a & ~(Self.window - 1)
                guard !before.fullWindows.contains(w) || changed.contains(w), !out.contains(w),
                      let off = relocation.offset(w),
                      let entries = NativeHost.pagemap(pid: p.pid, address: p.child.base + off,
                                                       pages: Self.windowPages),
                      entries.allSatisfy({ $0 & NativeHost.Pagemap.present != 0 }) else { continue }
                out.insert(w)
            default:
                break
            }
        }
        return out
    }

    /// Call after the batch's calls were applied to `model` (in the order
    /// the linearizer found, the huge pages of ``hugeWindows(_:_:processes:)``
    /// adopted), with each call's host outcome: a page a completed load
    /// found absent that no completed store of the batch wrote is a read
    /// fault's (``readFaultFrames``; every page of its window when that
    /// was a huge fault no store of the batch wrote to); a completed
    /// store's page is not.  The batch's calls count towards the next
    /// checkpoint.
    public mutating func afterBatch(_ calls: [(Request, Outcome)], _ before: BatchAccesses, huge: Set<UInt64>,
                                    model: Model) {
        let mm = before.mm
        sinceLast += 1   // a batch is one op
        count(.hostHugePage, huge.count)
        // The windows the batch's calls touched: which order of its
        // racing faults and zaps the host took, values and mappings do not
        // always tell (``NativeAdaptation/batchResidency``).
        for (r, o) in calls {
            note(r)
            if case .load(let a) = r, case .value = o, loads.count < 1 << 16 {
                loads.insert(Load(mm: mm, page: a >> 12))
            }
            switch r {
            case .load(let a), .store(let a, _):
                if batchWindows.count < 1 << 12 { batchWindows.insert(a >> NativeRelocation.windowShift) }
            case .mmap(let a, let l, _, _), .munmap(let a, let l), .mprotect(let a, let l, _),
                 .madvise(let a, let l, _):
                for w in NativeRelocation.windows(a, l) ?? 1 ... 0 where batchWindows.count < 1 << 12 {
                    batchWindows.insert(w)
                }
            default:
                break
            }
        }
        var loaded: [UInt64: UInt64] = [:]   // page -> an address loaded
        var stored = Set<UInt64>()
        for (r, o) in calls {
            guard case .value = o else { continue }
            switch r {
            case .load(let a): loaded[a >> 12] = a
            case .store(let a, _): stored.insert(a >> 12)
            default: break
            }
        }
        guard let state = model.state(of: mm) else { return }
        let storedWindows = Set(stored.map { $0 << 12 & ~(Self.window - 1) })
        for (page, a) in loaded where before.absentPages.contains(page) && !stored.contains(page)
            && readFaultFrames.count < 1 << 16
            && state.mappings.contains(where: { $0.start <= a && a < $0.end && !$0.shared }) {
            let w = a & ~(Self.window - 1)
            if huge.contains(w), !storedWindows.contains(w) {
                for q in model.presentPages(mm: mm, start: w, end: w + Self.window) {
                    if let f = state.pages[q]?.frame { readFaultFrames.insert(f) }
                }
            } else if let f = state.pages[page << 12]?.frame {
                readFaultFrames.insert(f)
            }
        }
        for page in stored {
            if let f = state.pages[page << 12]?.frame { readFaultFrames.remove(f) }
        }
    }

    /// Keeps ``readFaultFrames`` after an access that completed: a load
    /// that faulted a page of private memory in adds its frame (every
    /// frame of its 2 MiB when the fault was huge); a store takes its
    /// frame out (a store to a shared frame gets a copy of its own: the
    /// other mms keep the old one).
    mutating func noteFrames(_ request: Request, mm: Int32, model: Model, huge: Bool) {
        switch request {
        case .load(let a):
            guard let absent = absentPage, absent == (mm, a >> 12), readFaultFrames.count < 1 << 16,
                  let state = model.state(of: mm),
                  state.mappings.contains(where: { $0.start <= a && a < $0.end && !$0.shared }) else { return }
            let start = huge ? a & ~(Self.window - 1) : a & ~0xfff
            for p in model.presentPages(mm: mm, start: start, end: huge ? start + Self.window : start + 0x1000) {
                if let f = state.pages[p]?.frame { readFaultFrames.insert(f) }
            }
        case .store(let a, _):
            if let f = model.presentWord(mm: mm, addr: a)?.frame { readFaultFrames.remove(f) }
        default:
            break
        }
    }

    /// Fault-around pages: may a read fault of `mm` have mapped the page
    /// at `a` with its own?  Linux's do_fault_around() maps the pages the
    /// object holds among the 16 (64 KiB, the default `fault_around_bytes`)
    /// from the greater of the fault's 64 KiB-aligned block and the vma's
    /// start, inside the fault's 2 MiB and vma: so pages from that block's
    /// start to 15 pages past the fault's.
    func mayFaultAround(_ mm: Int32, _ a: UInt64) -> Bool {
        let page = a >> 12
        return loads.contains { l in
            l.mm == mm && l.page >> 9 == page >> 9 && page >= l.page & ~15 && page < l.page + 16
        }
    }

    /// Notes the windows MADV_HUGEPAGE is given to (whether or not it
    /// succeeds: a failed one may have marked part of its range).
    public mutating func note(_ request: Request) {
        guard case .madvise(let a, let l, let advice) = request, advice == .hugepage,
              let windows = NativeRelocation.windows(a, l) else { return }
        for w in windows where hugeWindows.count < 1 << 16 { hugeWindows.insert(w) }
    }

    /// After an access at `address` of `mm` faulted in a window where the
    /// model had no page: when the host has all 512 pages of the window
    /// present, the fault mapped a 2 MiB page (a THP, or the huge zero
    /// page on a read): the model adopts it.  A finding when the model
    /// allows none there.
    mutating func adoptHugeFault(model: inout Model, mm: Int32, pid: Int32, base: UInt64,
                                 address: UInt64) -> NativeCheckFinding? {
        let start = address & ~(Self.window - 1)
        guard let off = relocation.offset(start),
              let entries = NativeHost.pagemap(pid: pid, address: base + off, pages: Self.windowPages),
              entries.allSatisfy({ $0 & NativeHost.Pagemap.present != 0 }) else { return nil }
        do {
            try model.adoptHugePage(mm: mm, start: start)
        } catch {
            return NativeCheckFinding(check: .huge, mm: mm, message: "the access to \(hex(address)) mapped the "
                + "2 MiB at \(hex(start)) whole on the host: \(error.message)")
        }
        count(.hostHugePage)
        return nil
    }

    // MARK: The comparison

    /// What the host has of one process, in case addresses.
    struct HostView {
        var mm: Int32
        /// The vmas inside the case's windows, their protection as
        /// the kernel shows it, not merged.
        var vmas: [NativeHost.Vma]
        /// pagemap entries that are not empty, by page address.
        var entries: [UInt64: UInt64]
        /// mincore() of the windows read, by case window.
        var resident: [UInt64: [UInt64]]
        /// The first word of each present page, by page address.
        var words: [UInt64: UInt64]
        /// smaps Rss of the arena's vmas, in pages.
        var rssPages: Int
    }

    /// Compares the host state of `processes` with the model's state of
    /// their mms (see ``NativeCheck``), every process's pages with every
    /// other's for frame identity.  A difference found is looked at again
    /// once, after a moment, before it is reported (the host may be in
    /// the middle of moving a page: a migration, a collapse).
    ///
    /// - Throws: when the host cannot be read (a process gone, its child
    ///   not answering).
    public mutating func check(model: Model, processes: [NativeProcess]) throws(NativeChild.Failure)
        -> [NativeCheckFinding] {
        checkpoints += 1
        var (findings, counts) = compare(model, try observe(model, processes))
        if !findings.isEmpty {
            usleep(2000)
            (findings, counts) = compare(model, try observe(model, processes))
        }
        for (k, n) in counts { adaptations[k, default: 0] += n }
        return findings
    }

    /// The case ranges of arena range [start, end) (inside the case's
    /// runs), in order.
    func caseRanges(_ start: UInt64, _ end: UInt64) -> [(UInt64, UInt64)] {
        var out: [(UInt64, UInt64)] = []
        for (w, n) in relocation.runs {
            let s = max(start, w << NativeRelocation.windowShift)
            let e = min(end, (w + n) << NativeRelocation.windowShift)
            if s < e, let a = relocation.address(s) { out.append((a, a + (e - s))) }
        }
        return out
    }

    func observe(_ model: Model, _ processes: [NativeProcess]) throws(NativeChild.Failure) -> [HostView] {
        var views: [HostView] = []
        for p in processes {
            let base = p.child.base
            guard let raw = NativeHost.vmas(pid: p.pid, from: base, to: base + NativeChild.arenaSize) else {
                throw NativeChild.Failure(description: "cannot read /proc/\(p.pid)/maps")
            }
            var vmas: [NativeHost.Vma] = []
            for v in raw {
                for (s, e) in caseRanges(v.start - min(v.start, base), v.end - base) {
                    vmas.append(NativeHost.Vma(start: s, end: e, prot: v.prot, shared: v.shared))
                }
            }
            // The windows to read: every one a vma or the model's
            // mappings or pages meet.
            var windows = Set<UInt64>()
            func add(_ s: UInt64, _ e: UInt64) {
                guard s < e else { return }
                for w in (s >> NativeRelocation.windowShift) ... ((e - 1) >> NativeRelocation.windowShift)
                    where relocation.offset(w << NativeRelocation.windowShift) != nil {
                    windows.insert(w)
                }
            }
            for v in vmas { add(v.start, v.end) }
            if let state = model.state(of: p.mm) {
                for m in state.mappings { add(m.start, m.end) }
            }
            // pagemap, by runs of consecutive arena windows.
            var entries: [UInt64: UInt64] = [:]
            let arena = windows.map { relocation.offset($0 << NativeRelocation.windowShift)! >> NativeRelocation.windowShift }
                .sorted()
            var i = 0
            while i < arena.count {
                var j = i + 1
                while j < arena.count, arena[j] == arena[j - 1] + 1 { j += 1 }
                let off = arena[i] << NativeRelocation.windowShift
                guard let got = NativeHost.pagemap(pid: p.pid, address: base + off,
                                                   pages: (j - i) * Self.windowPages) else {
                    throw NativeChild.Failure(description: "cannot read /proc/\(p.pid)/pagemap")
                }
                let caseStart = relocation.address(off)!
                for (k, e) in got.enumerated() where e != 0 {
                    entries[caseStart + UInt64(k) << 12] = pretendNoPFNs ? e & ~NativeHost.Pagemap.pfnMask : e
                }
                i = j
            }
            // mincore, in the windows where either side has a page.
            var busy = Set<UInt64>()
            for (a, e) in entries where e & NativeHost.Pagemap.present != 0 { busy.insert(a >> NativeRelocation.windowShift) }
            if let state = model.state(of: p.mm) {
                for a in state.pages.keys { busy.insert(a >> NativeRelocation.windowShift) }
            }
            var resident: [UInt64: [UInt64]] = [:]
            // One mincore() for each piece of a vma in a window (a range
            // with a hole would take the child many).
            for w in busy.sorted() where windows.contains(w) {
                let ws = w << NativeRelocation.windowShift, we = ws + Self.window
                var bits = [UInt64](repeating: 0, count: Self.windowPages / 64)
                for v in vmas where v.start < we && v.end > ws {
                    let s = max(v.start, ws), e = min(v.end, we)
                    let got = try p.child.residency(offset: relocation.offset(s)!, pages: Int((e - s) >> 12))
                    for k in bits.indices { bits[k] |= got[k] }
                }
                resident[w] = bits
            }
            let present = entries.filter { $0.value & NativeHost.Pagemap.present != 0 }.keys
            guard let words = NativeHost.firstWords(pid: p.pid, present.map { base + relocation.offset($0)! }) else {
                throw NativeChild.Failure(description: "cannot read /proc/\(p.pid)/mem")
            }
            guard let rss = NativeHost.rss(pid: p.pid, from: base, to: base + NativeChild.arenaSize) else {
                throw NativeChild.Failure(description: "cannot read /proc/\(p.pid)/smaps")
            }
            var byPage: [UInt64: UInt64] = [:]
            for a in present { byPage[a] = words[base + relocation.offset(a)!] }
            views.append(HostView(mm: p.mm, vmas: vmas, entries: entries, resident: resident, words: byPage,
                                  rssPages: rss / 4))
        }
        return views
    }

    func compare(_ model: Model, _ views: [HostView]) -> (findings: [NativeCheckFinding], counts: [String: Int]) {
        var findings: [NativeCheckFinding] = []
        var counts: [String: Int] = [:]
        func count(_ a: NativeAdaptation, _ n: Int = 1) { if n > 0 { counts[a.rawValue, default: 0] += n } }
        func found(_ check: NativeCheck, _ mm: Int32, _ message: String) {
            findings.append(NativeCheckFinding(check: check, mm: mm, message: message))
        }

        // PFNs and page flags.
        var pfns = Set<UInt64>()
        for v in views {
            for e in v.entries.values where e & NativeHost.Pagemap.present != 0 {
                pfns.insert(e & NativeHost.Pagemap.pfnMask)
            }
        }
        let withPFNs = !(pfns.count == 1 && pfns.contains(0))
        let flags = withPFNs ? NativeHost.pageFlags(pfns) : nil
        if !withPFNs { count(.pagemapWithoutPFNs) }
        let collapses = NativeHost.vmstat("thp_collapse_alloc")
        let collapseSeen = collapses != nil && collapsesAtStart != nil && collapses! > collapsesAtStart!
        /// Could khugepaged have put the page at `a`, in frame `pfn`, where
        /// it is?
        func mayBeCollapsed(_ a: UInt64, _ pfn: UInt64) -> Bool {
            collapseSeen && hugeWindows.contains(a >> NativeRelocation.windowShift)
                && (flags?[pfn] ?? 0) & NativeHost.PageFlags.thp != 0
        }

        // Every model frame's mappings, over every live mm.
        var states: [Int32: MMState] = [:]
        var mapped: [FrameKey: Int] = [:]
        for mm in model.liveMMs {
            guard let s = model.state(of: mm) else { continue }
            states[mm] = s
            for page in s.pages.values { mapped[page.frame, default: 0] += 1 }
        }

        /// A page both sides have.
        struct Pair {
            var mm: Int32
            var address: UInt64
            var model: PageView
            /// The host's PFN, or nil for a zero page.
            var pfn: UInt64?
            var entry: UInt64
        }
        var pairs: [Pair] = []
        for mm in model.liveMMs where !views.contains(where: { $0.mm == mm }) {
            found(.maps, mm, "the model's mm is live, no host process stands for it")
        }
        /// Host mappings of a PFN the model does not have (let through).
        var extraMaps: [UInt64: Int] = [:]

        for v in views {
            let mm = v.mm
            guard let state = states[mm] else {
                found(.maps, mm, "the host process is alive, the model's mm has no users")
                continue
            }
            // Maps.
            var host: [Mapping] = []
            for vma in v.vmas {
                let prot = vma.prot == 0 ? 0 : vma.prot | Prot.read.rawValue
                if prot != vma.prot { count(.protImpliedRead) }
                if let last = host.last, last.end == vma.start, last.prot == prot, last.shared == vma.shared {
                    host[host.count - 1].end = vma.end
                } else {
                    host.append(Mapping(start: vma.start, end: vma.end, prot: prot, shared: vma.shared))
                }
            }
            var modelMaps: [Mapping] = []
            for m in state.mappings {
                let off = relocation.offset(m.start) ?? 0
                let inside = caseRanges(off, off + (m.end - m.start))
                if inside.count == 1, inside[0] == (m.start, m.end) {
                    modelMaps.append(m)
                } else {
                    found(.maps, mm, "the model maps \(m), not inside the case's arena windows")
                }
            }
            if host != modelMaps {
                var k = 0
                while k < host.count, k < modelMaps.count, host[k] == modelMaps[k] { k += 1 }
                let h: String = k < host.count ? host[k].description : "nothing more"
                let m: String = k < modelMaps.count ? modelMaps[k].description : "nothing more"
                found(.maps, mm, "host has \(h), model has \(m) (mapping \(k) of host \(host.count), model "
                    + "\(modelMaps.count))")
            }
            func sharedAt(_ a: UInt64) -> Bool? {
                var lo = 0, hi = host.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if host[mid].end <= a { lo = mid + 1 } else { hi = mid }
                }
                return lo < host.count && host[lo].start <= a ? host[lo].shared : nil
            }

            // Residency by pagemap.
            var hostExtra = Set<UInt64>()
            // Zero pages let through (resident, not in Rss).
            var hostExtraZero = Set<UInt64>()
            var zeroPages = 0
            for (a, e) in v.entries {
                let m = state.pages[a]
                if e & NativeHost.Pagemap.present == 0 {
                    found(.residency, mm, "the host has a swap entry at \(hex(a)) (0x\(String(e, radix: 16))), "
                        + "the model " + (m == nil ? "no page" : "a page"))
                    continue
                }
                let pfn = e & NativeHost.Pagemap.pfnMask
                let isZero: Bool
                if withPFNs {
                    isZero = (flags?[pfn] ?? 0) & NativeHost.PageFlags.zeroPage != 0
                } else {
                    // Without PFNs: a private page the host does not map
                    // exclusively, holding 0 in the model, may be a zero
                    // page (or a page shared copy-on-write).
                    isZero = m.map { e & NativeHost.Pagemap.exclusive == 0 && $0.word0 == 0 } ?? false
                        && sharedAt(a) == false
                }
                if let m {
                    pairs.append(Pair(mm: mm, address: a, model: m, pfn: isZero ? nil : pfn, entry: e))
                    if isZero {
                        zeroPages += 1
                    } else if let w = v.words[a], w != m.word0 {
                        found(.contents, mm, "the page at \(hex(a)) holds word0 0x\(String(w, radix: 16)) on the host "
                            + "(\(describe(e, flags))), 0x\(String(m.word0, radix: 16)) in the model")
                    }
                    continue
                }
                if !isZero, sharedAt(a) == true, mayFaultAround(mm, a) {
                    count(.shmemFaultAround)
                } else if !isZero, mayBeCollapsed(a, pfn) {
                    count(.khugepagedCollapse)
                } else if batchHugeWindows.contains(a >> NativeRelocation.windowShift)
                            || batchWindows.contains(a >> NativeRelocation.windowShift) {
                    count(batchHugeWindows.contains(a >> NativeRelocation.windowShift) ? .batchHugeFault : .batchResidency)
                    if isZero {
                        hostExtraZero.insert(a)
                        continue
                    }
                } else {
                    found(.residency, mm, "the host has a page at \(hex(a)) (\(describe(e, flags))), the model none")
                    continue
                }
                hostExtra.insert(a)
                extraMaps[pfn, default: 0] += 1
            }
            // A zero page fork did not copy (the model's copy is there).
            var notCopied = Set<UInt64>()
            for (a, m) in state.pages where v.entries[a] == nil {
                if readFaultFrames.contains(m.frame), m.word0 == 0 {
                    count(.zeroPageNotCopied)
                    notCopied.insert(a)
                    continue
                }
                if batchWindows.contains(a >> NativeRelocation.windowShift) {
                    count(.batchResidency)
                    notCopied.insert(a)
                    continue
                }
                found(.residency, mm, "the model has a page at \(hex(a)) (word0 0x\(String(m.word0, radix: 16))), "
                    + "the host none")
            }

            // Residency by mincore.
            for (w, bits) in v.resident {
                let start = w << NativeRelocation.windowShift
                for i in 0 ..< Self.windowPages {
                    let a = start + UInt64(i) << 12
                    guard let shared = sharedAt(a) else { continue }
                    let r = bits[i >> 6] >> UInt64(i & 63) & 1 != 0
                    if r == ((state.pages[a] != nil && !notCopied.contains(a)) || hostExtra.contains(a)
                        || hostExtraZero.contains(a)) { continue }
                    if shared, r {
                        count(.shmemCacheResident)
                        continue
                    }
                    found(.residency, mm, "mincore says the page at \(hex(a)) is " + (r ? "" : "not ")
                        + "resident, the model " + (state.pages[a] == nil ? "has none" : "has it"))
                }
            }

            // Resident set: the model's pages less the host's zero pages,
            // plus the pages let through.  (Without PFNs a page taken for
            // a zero page may be a shared one, which Rss counts.)
            let expected = state.pages.count - notCopied.count - zeroPages + hostExtra.count
            if withPFNs ? v.rssPages != expected : v.rssPages < expected || v.rssPages > expected + zeroPages {
                found(.rss, mm, "smaps Rss of the arena is \(v.rssPages * 4) kB (\(v.rssPages) pages); the model has "
                    + "\(state.anonRSS) private + \(state.fileRSS) shared pages, \(zeroPages) of them zero pages "
                    + "on the host, and \(hostExtra.count) host pages were let through: \(expected)")
            }
        }

        // Zero pages, identity and exclusivity, over all processes.  A
        // difference that involves a page khugepaged may have collapsed,
        // or a frame such a page had, is let through.
        var collapsedFrames = Set<FrameKey>(), collapsedPFNs = Set<UInt64>()
        var racedFrames = Set<FrameKey>(), racedPFNs = Set<UInt64>()
        for p in pairs {
            if let pfn = p.pfn, mayBeCollapsed(p.address, pfn) {
                collapsedFrames.insert(p.model.frame)
                collapsedPFNs.insert(pfn)
            }
            if batchHugeWindows.contains(p.address >> NativeRelocation.windowShift)
                || batchWindows.contains(p.address >> NativeRelocation.windowShift) {
                racedFrames.insert(p.model.frame)
                if let pfn = p.pfn { racedPFNs.insert(pfn) }
            }
        }
        func differ(_ check: NativeCheck, _ ps: [Pair], _ message: String) {
            if ps.contains(where: { collapsedFrames.contains($0.model.frame) || $0.pfn.map(collapsedPFNs.contains) == true }) {
                count(.khugepagedCollapse)
            } else if ps.contains(where: { racedFrames.contains($0.model.frame) || $0.pfn.map(racedPFNs.contains) == true }) {
                count(.batchHugeFault)
            } else {
                found(check, ps[0].mm, message)
            }
        }
        // The mms mapping some page of each THP (2 MiB folios: the
        // host's only THP size in its `madvise` mode), by pfn >> 9.
        var folioMMs: [UInt64: Set<Int32>] = [:]
        for p in pairs {
            if let pfn = p.pfn, (flags?[pfn] ?? 0) & NativeHost.PageFlags.thp != 0 {
                folioMMs[pfn >> 9, default: []].insert(p.mm)
            }
        }
        func at(_ p: Pair) -> String { "mm \(p.mm) \(hex(p.address))" }
        func frame(_ p: Pair) -> String { p.pfn.map { "pfn 0x" + String($0, radix: 16) } ?? "the zero page" }
        var byFrame: [FrameKey: Pair] = [:]
        var byPFN: [UInt64: Pair] = [:]
        for p in pairs {
            guard let pfn = p.pfn else {
                count(.zeroPage)
                if p.model.word0 != 0 {
                    found(.identity, p.mm, "the host maps the zero page at \(hex(p.address)), the model's page "
                        + "holds word0 0x\(String(p.model.word0, radix: 16))")
                }
                if let q = byFrame[p.model.frame] {
                    if q.pfn != nil {
                        differ(.identity, [p, q], "the model has one frame at \(at(q)) and \(at(p)); the host "
                            + "\(frame(q)) and \(frame(p))")
                    }
                } else {
                    byFrame[p.model.frame] = p
                }
                continue
            }
            // A page the host's zero page stood for, now a page of its
            // own holding zeros: identity and sharing are the host's.
            if readFaultFrames.contains(p.model.frame), p.model.word0 == 0 {
                count(.zeroPageReplaced)
                continue
            }
            let times = mapped[p.model.frame, default: 0] + extraMaps[pfn, default: 0]
            let exclusive = p.entry & NativeHost.Pagemap.exclusive != 0
            if exclusive != (times == 1), folioMMs[pfn >> 9, default: []].count > 1 {
                count(.thpExclusivePerFolio)
            } else if exclusive != (times == 1) {
                differ(.exclusive, [p], "the page at \(hex(p.address)) is " + (exclusive ? "" : "not ")
                    + "exclusively mapped on the host (\(describe(p.entry, flags))), the model's frame is mapped "
                    + "\(mapped[p.model.frame, default: 0]) time(s)"
                    + (extraMaps[pfn] != nil ? " and the host's \(extraMaps[pfn]!) more that were let through" : ""))
            }
            guard withPFNs else { continue }
            if let q = byFrame[p.model.frame] {
                if q.pfn != pfn {
                    differ(.identity, [p, q], "the model has one frame at \(at(q)) and \(at(p)); the host "
                        + "\(frame(q)) and \(frame(p))")
                }
            } else {
                byFrame[p.model.frame] = p
            }
            if let q = byPFN[pfn] {
                if q.model.frame != p.model.frame {
                    differ(.identity, [p, q], "the host maps \(frame(p)) at \(at(q)) and \(at(p)); the model two "
                        + "frames")
                }
            } else {
                byPFN[pfn] = p
            }
        }
        return (findings, counts)
    }
}

/// A pagemap entry, for a message.
private func describe(_ e: UInt64, _ flags: [UInt64: UInt64]?) -> String {
    let pfn = e & NativeHost.Pagemap.pfnMask
    var s = "pfn 0x\(String(pfn, radix: 16))"
    if e & NativeHost.Pagemap.exclusive != 0 { s += " exclusive" }
    if e & NativeHost.Pagemap.file != 0 { s += " file/shmem" }
    if let f = flags?[pfn] { s += " kpageflags 0x\(String(f, radix: 16))" }
    return s
}
