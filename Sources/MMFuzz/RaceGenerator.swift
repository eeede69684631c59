import MMSim

/// Race cases: a short set-up and one batch built around a conflict, run
/// under many schedules (``FuzzSession`` tries each one ``tries`` times).
///
/// Races need several CPUs on the same state at once: one page, one pte
/// table, one range.  A batch of random ops rarely has that, and a race
/// with a narrow window needs many interleavings of the same batch.  So
/// the set-up maps a few pages around a page-table boundary, fills them,
/// often forks (copy-on-write pages shared by parent and child), and
/// loads the target page on some CPUs (their TLBs then hold it, as a
/// thread that used the page a moment ago would); the batch gives two to
/// four CPUs each one or two ops aimed at that page or a range holding
/// it: stores and loads of parent or child, MADV_DONTNEED, munmap,
/// mprotect, an mmap over it, fork, touches, switches, and reclaim
/// (kswapd taking pages to swap under the others; in a third of the
/// cases the set-up has sent the pages to swap already, so that the
/// batch's faults are swap-ins).  Every pattern the
/// races of Linux's history need comes out of that menu: two writers to a
/// copy-on-write page with a reader, a store against a zap, two zaps of
/// one range with a fault, a fault against munmap or mprotect.
///
/// One race case in eight is about one 2 MiB page instead
/// (``generateHuge(seed:variant:rng:)``): on a machine with room for
/// 2 MiB pages, the set-up maps one or two whole 2 MiB privately and gives
/// them MADV_HUGEPAGE, faults the target's 2 MiB in (as one huge page)
/// half the time and forks over it, and the batch races faults, writes,
/// whole and partial MADV_DONTNEEDs, partial munmaps, mprotects and mmaps
/// over, and forks on it.
///
/// On variants whose fork shares pte tables, a quarter of the others are
/// about one shared table (``generateSharedTable(seed:variant:rng:)``):
/// the set-up maps a few pages, the only mapping of their 2 MiB, fills
/// them and forks (once or twice: the table is shared, its entries
/// write-protected); in the batch one mm unmaps the whole 2 MiB, which
/// lets go of the table without a copy, while another unshares it (a
/// store, or a MADV_DONTNEED, mprotect or munmap of one page): the
/// munmap may find the table its own again by the time it holds the
/// table's lock, and then zaps it as its own.
public struct RaceGenerator {
    /// Schedules tried per race case.
    public static let tries = 12

    /// Frames of a race case's machine: a few pages, their copies and
    /// tables need no more, and a small machine is quick to set up (each
    /// try has a fresh one).
    static let frames = 256
    /// Frames of a huge race case's machine: room for two 2 MiB pages
    /// and their copies besides.
    static let hugeFrames = 2048

    public var settings: GeneratorSettings

    public init(settings: GeneratorSettings) {
        self.settings = settings
    }

    /// The race case for `seed` on `variant` (its batch under a first
    /// schedule; see ``schedule(_:try:steps:)`` for the others).
    public func generate(seed: UInt64, variant: Variant) -> FuzzCase {
        var rng = Xoshiro256(seed: seed)
        if rng.chance(1, in: 8) { return generateHuge(seed: seed, variant: variant, rng: &rng) }
        if variant.share == .fork, rng.chance(1, in: 4) {
            return generateSharedTable(seed: seed, variant: variant, rng: &rng)
        }
        let cpus = max(1, settings.cpus)
        let config = CaseConfig(cpus: cpus, frames: Self.frames)
        let page = Machine.pageSize
        // A few pages across a page-table boundary, or inside one table.
        let boundary: UInt64 = rng.chance(1, in: 2) ? 1 << 21 : 1 << 30
        let k = 1 + rng.below((Machine.taskSize / boundary) - 2)
        let pages = UInt64(rng.int(1 ... 6))
        let start = k * boundary - page * rng.below(pages)
        let length = pages * page
        let target = start + page * rng.below(pages)
        let shared = rng.chance(1, in: 5)
        let flags = (shared ? MapFlags.shared : MapFlags.private).rawValue
            | MapFlags.anonymous.rawValue | MapFlags.fixed.rawValue
        var counter: UInt64 = rng.next() & ~0xffff
        func value() -> UInt64 {
            counter &+= 1
            return counter
        }
        func cpu() -> Int { rng.int(0 ..< cpus) }

        var ops: [Op] = [
            .newMM,
            .mmap(cpu: cpu(), slot: 0, addr: start, length: length, prot: 3, flags: flags),
            .touch(cpu: cpu(), slot: 0, addr: start, pages: Int(pages), value: value()),
        ]
        let forked = rng.chance(3, in: 5)
        if forked {
            ops.append(.fork(cpu: cpu(), slot: 0))
            if rng.chance(1, in: 4) {
                // The child has copied some pages already.
                ops.append(.store(cpu: cpu(), slot: 1, addr: start + page * rng.below(pages), value: value()))
            }
        }
        let mms = forked ? 2 : 1
        // Warm TLBs: these CPUs last ran a thread that used the page.
        var order = Array(0 ..< cpus)
        for i in order.indices.reversed() { order.swapAt(i, rng.int(0 ... i)) }
        let n = cpus > 1 ? rng.int(2 ... min(4, cpus)) : 1
        let inBatch = Array(order[0 ..< n])
        for c in inBatch where rng.chance(2, in: 3) {
            ops.append(.load(cpu: c, slot: rng.int(0 ..< mms), addr: target))
        }
        if rng.chance(1, in: 3) {
            // The pages go to swap before the batch (a second pass of the
            // clock takes even the ones just used).
            ops.append(.reclaim(cpu: cpu(), pages: pages))
        }

        // The batch: each CPU one or two ops on the target.
        func range() -> (UInt64, UInt64) {
            switch rng.below(4) {
            case 0: return (start, length)                       // the mapping
            case 1: return (target, page)                        // the page
            case 2:                                              // from a hole
                let before = page * UInt64(rng.int(1 ... 4))
                return (start - before, length + before)
            default:                                             // part of it
                let lo = start + page * rng.below((target - start) / page + 1)
                let hi = target + page * (1 + rng.below((start + length - target) / page))
                return (lo, hi - lo)
            }
        }
        var batch: [Op] = []
        for c in inBatch {
            for _ in 0 ..< (rng.chance(1, in: 3) ? 2 : 1) {
                let slot = rng.int(0 ..< mms)
                let addr = rng.chance(4, in: 5) ? target : start + page * rng.below(pages)
                let op: Op
                switch rng.below(37) {
                case 0 ..< 9:
                    op = .store(cpu: c, slot: slot, addr: addr, value: value())
                case 9 ..< 16:
                    op = .load(cpu: c, slot: slot, addr: addr)
                case 16 ..< 22:
                    let (a, l) = range()
                    op = .madvise(cpu: c, slot: slot, addr: a, length: l, advice: Advice.dontneed.rawValue)
                case 22 ..< 25:
                    let (a, l) = range()
                    op = .munmap(cpu: c, slot: slot, addr: a, length: l)
                case 25 ..< 28:
                    let (a, l) = range()
                    op = .mprotect(cpu: c, slot: slot, addr: a, length: l, prot: rng.element([0, 1, 1, 3]))
                case 28 ..< 30:
                    op = .fork(cpu: c, slot: slot)
                case 30:
                    let (a, l) = range()
                    op = .mmap(cpu: c, slot: slot, addr: a, length: l, prot: 3, flags: flags)
                case 31 ..< 33:
                    op = .touch(cpu: c, slot: slot, addr: start, pages: Int(min(pages, 4)), value: value())
                case 33 ..< 36:
                    op = .reclaim(cpu: c, pages: UInt64(rng.int(1 ... 8)))
                default:
                    op = .switchMM(cpu: c, slot: rng.chance(1, in: 2) ? nil : rng.int(0 ..< mms))
                }
                batch.append(op)
            }
        }
        ops.append(.parallel(Batch(ops: batch, schedule: Self.schedule(seed, try: 0, steps: 40 * batch.count))))
        return FuzzCase(config: config, variant: variant, seed: seed, ops: ops)
    }

    /// A race case on one 2 MiB page (see the type's discussion).
    func generateHuge(seed: UInt64, variant: Variant, rng: inout Xoshiro256) -> FuzzCase {
        let cpus = max(1, settings.cpus)
        let config = CaseConfig(cpus: cpus, frames: Self.hugeFrames)
        let page = Machine.pageSize
        let huge: UInt64 = 1 << 21
        let pmds = UInt64(rng.int(1 ... 2))
        let start = (1 + rng.below((Machine.taskSize / huge) - 4)) * huge
        let length = pmds * huge
        let pmd = start + huge * rng.below(pmds)
        let target = pmd + page * rng.below(huge / page)
        var counter: UInt64 = rng.next() & ~0xffff
        func value() -> UInt64 {
            counter &+= 1
            return counter
        }
        func cpu() -> Int { rng.int(0 ..< cpus) }
        let flags = MapFlags.anonymousPrivate.union(.fixed)

        var ops: [Op] = [
            .newMM,
            .mmap(cpu: cpu(), slot: 0, addr: start, length: length, prot: .readWrite, flags: flags),
            .madvise(cpu: cpu(), slot: 0, addr: start, length: length, advice: .hugepage),
        ]
        // Half the time the 2 MiB is there before the batch (a huge
        // page, a fork may share it); else the batch's fault maps it.
        let faulted = rng.chance(1, in: 2)
        var mms = 1
        if faulted {
            ops.append(.store(cpu: cpu(), slot: 0, addr: target, value: value()))
            if rng.chance(3, in: 5) {
                ops.append(.fork(cpu: cpu(), slot: 0))
                mms = 2
                if rng.chance(1, in: 4) {
                    ops.append(.store(cpu: cpu(), slot: rng.int(0 ..< 2),
                                      addr: pmd + page * rng.below(huge / page), value: value()))
                }
            }
        }
        var order = Array(0 ..< cpus)
        for i in order.indices.reversed() { order.swapAt(i, rng.int(0 ... i)) }
        let n = cpus > 1 ? rng.int(2 ... min(4, cpus)) : 1
        let inBatch = Array(order[0 ..< n])
        if faulted {
            // Warm TLBs, as in the other race cases.
            for c in inBatch where rng.chance(1, in: 2) {
                ops.append(.load(cpu: c, slot: rng.int(0 ..< mms), addr: target))
            }
        }

        func range() -> (UInt64, UInt64) {
            switch rng.below(5) {
            case 0: return (pmd, huge)                               // the whole 2 MiB
            case 1: return (target, page)                            // the page
            case 2:                                                  // from inside to past its end
                let lo = pmd + page * (1 + rng.below(huge / page - 1))
                return (lo, pmd + huge - lo + page * rng.below(4))
            case 3:                                                  // from before into it
                let hi = pmd + page * (1 + rng.below(huge / page - 1))
                return (pmd - page * rng.below(4), hi - pmd + page * rng.below(4))
            default:                                                 // a few pages around the target
                let lo = max(pmd, target - page * rng.below(8))
                return (lo, page * UInt64(rng.int(1 ... 16)))
            }
        }
        func near() -> UInt64 {
            rng.chance(3, in: 5) ? target : pmd + page * rng.below(huge / page) + 8 * rng.below(512)
        }
        var batch: [Op] = []
        for c in inBatch {
            for _ in 0 ..< (rng.chance(1, in: 3) ? 2 : 1) {
                let slot = rng.int(0 ..< mms)
                let op: Op
                switch rng.below(34) {
                case 0 ..< 9:
                    op = .store(cpu: c, slot: slot, addr: near(), value: value())
                case 9 ..< 16:
                    op = .load(cpu: c, slot: slot, addr: near())
                case 16 ..< 23:
                    let (a, l) = range()
                    op = .madvise(cpu: c, slot: slot, addr: a, length: l, advice: .dontneed)
                case 23 ..< 26:
                    let (a, l) = range()
                    op = .munmap(cpu: c, slot: slot, addr: a, length: l)
                case 26 ..< 28:
                    let (a, l) = range()
                    op = .mprotect(cpu: c, slot: slot, addr: a, length: l, prot: rng.element([0, 1, 1, 3]))
                case 28 ..< 30:
                    op = .fork(cpu: c, slot: slot)
                case 30:
                    let (a, l) = range()
                    op = .mmap(cpu: c, slot: slot, addr: a, length: l, prot: .readWrite, flags: flags)
                case 31:
                    op = .madvise(cpu: c, slot: slot, addr: pmd, length: huge,
                                  advice: rng.chance(1, in: 2) ? .hugepage : .nohugepage)
                case 32:
                    op = .reclaim(cpu: c, pages: UInt64(rng.int(1 ... 8)))
                default:
                    op = .touch(cpu: c, slot: slot, addr: target, pages: 4, value: value())
                }
                batch.append(op)
            }
        }
        ops.append(.parallel(Batch(ops: batch, schedule: Self.schedule(seed, try: 0, steps: 40 * batch.count))))
        return FuzzCase(config: config, variant: variant, seed: seed, ops: ops)
    }

    /// A race case on a pte table that fork shared (see the type's
    /// discussion): one mm lets go of the table, the other unshares it.
    func generateSharedTable(seed: UInt64, variant: Variant, rng: inout Xoshiro256) -> FuzzCase {
        let cpus = max(1, settings.cpus)
        let config = CaseConfig(cpus: cpus, frames: Self.frames)
        let page = Machine.pageSize
        let huge: UInt64 = 1 << 21
        let perTable = huge / page
        let pmd = (1 + rng.below((Machine.taskSize / huge) - 2)) * huge
        let pages = UInt64(rng.int(1 ... 8))
        let start = pmd + page * rng.below(perTable - pages + 1)
        let target = start + page * rng.below(pages)
        var counter: UInt64 = rng.next() & ~0xffff
        func value() -> UInt64 {
            counter &+= 1
            return counter
        }
        func cpu() -> Int { rng.int(0 ..< cpus) }

        // The only mapping of its 2 MiB, private: fork shares the table.
        var ops: [Op] = [
            .newMM,
            .mmap(cpu: cpu(), slot: 0, addr: start, length: pages * page, prot: .readWrite,
                  flags: MapFlags.anonymousPrivate.union(.fixed)),
            .touch(cpu: cpu(), slot: 0, addr: start, pages: Int(pages), value: value()),
            .fork(cpu: cpu(), slot: 0),
        ]
        var mms = 2
        if rng.chance(1, in: 4) {
            // A third sharer: the count stays above one after the race.
            ops.append(.fork(cpu: cpu(), slot: rng.int(0 ..< 2)))
            mms = 3
        }
        var order = Array(0 ..< cpus)
        for i in order.indices.reversed() { order.swapAt(i, rng.int(0 ... i)) }
        let n = cpus > 1 ? rng.int(2 ... min(3, cpus)) : 1
        let inBatch = Array(order[0 ..< n])
        let leaver = rng.int(0 ..< mms)
        var other = rng.int(0 ..< mms - 1)
        if other >= leaver { other += 1 }
        for c in inBatch where rng.chance(1, in: 2) {
            ops.append(.load(cpu: c, slot: rng.chance(1, in: 2) ? leaver : other, addr: target))
        }

        // The leaver unmaps the whole 2 MiB (lets go of the table without
        // a copy); the other changes a pte of it (unshares it first).
        func unshare(_ c: Int, _ slot: Int) -> Op {
            switch rng.below(6) {
            case 0 ..< 3:
                return .store(cpu: c, slot: slot, addr: target, value: value())
            case 3:
                return .madvise(cpu: c, slot: slot, addr: target, length: page, advice: .dontneed)
            case 4:
                return .mprotect(cpu: c, slot: slot, addr: target, length: page, prot: .read)
            default:
                return .munmap(cpu: c, slot: slot, addr: target, length: page)
            }
        }
        var batch: [Op] = [
            rng.chance(4, in: 5) ? .munmap(cpu: inBatch[0], slot: leaver, addr: pmd, length: huge)
                                 : .munmap(cpu: inBatch[0], slot: leaver, addr: pmd - page, length: huge + 2 * page),
        ]
        if n > 1 { batch.append(unshare(inBatch[1], other)) }
        if n > 2 {
            batch.append(rng.chance(1, in: 2) ? unshare(inBatch[2], rng.int(0 ..< mms))
                                              : .load(cpu: inBatch[2], slot: leaver, addr: target))
        }
        ops.append(.parallel(Batch(ops: batch, schedule: Self.schedule(seed, try: 0, steps: 40 * batch.count))))
        return FuzzCase(config: config, variant: variant, seed: seed, ops: ops)
    }

    /// The schedule of try `t` of the race case generated from `seed`,
    /// for a batch of about `steps` scheduling points, in turn: random,
    /// from rare switches (a CPU runs far into its op before another
    /// runs: narrow windows in the middle of a call) to a switch at every
    /// point; window, strict priorities whose change points are where a
    /// CPU enters a TLB shootdown's window (it changed a pte and has not
    /// flushed it), letting every other CPU run as far as it can into it;
    /// and PCT of depth 2 to 4 over the batch's real length.
    public static func schedule(_ seed: UInt64, try t: Int, steps: Int) -> Scheduler {
        var rng = Xoshiro256(seed: seed ^ SplitMix64.mix(UInt64(t) &+ 0x7ace))
        switch t % 3 {
        case 0:
            return .random(seed: rng.next(), switchPermille: rng.element([10, 30, 100, 300, 700, 1000]))
        case 1:
            return .window(seed: rng.next(), switchPermille: rng.element([0, 0, 2, 10]),
                           windowPermille: rng.element([1000, 1000, 700]))
        default:
            return .pct(seed: rng.next(), depth: rng.int(2 ... 4), steps: max(1, steps))
        }
    }
}

extension FuzzCase {
    /// The case with its last batch run under `schedule`.
    func withLastBatch(schedule: Scheduler) -> FuzzCase {
        var c = self
        if let i = c.ops.lastIndex(where: { $0.kind == .parallel }), case .parallel(var b) = c.ops[i] {
            b.schedule = schedule
            c.ops[i] = .parallel(b)
        }
        return c
    }
}
