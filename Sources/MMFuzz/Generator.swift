import MMSim

/// What the generator may choose from.
public struct GeneratorSettings: Hashable, Sendable {
    /// CPUs of the machine (most cases use exactly these).
    public var cpus: Int
    /// Frames of the machine (most cases use exactly these).
    public var frames: Int
    /// Ops per case.
    public var minOps: Int
    public var maxOps: Int
    /// Let some cases use a small machine (out-of-memory paths), one CPU
    /// (the gather's fast mode), or small TLBs (evictions).
    public var varyHardware: Bool
    /// Whether cases run ops on several CPUs at once.
    public var concurrency: Concurrency

    /// The regimes a case's ops run in.
    public enum Concurrency: String, Hashable, Sendable, CaseIterable {
        /// One call at a time (the sequential regime).
        case off
        /// Mostly one at a time, with some batches run at once.
        case mixed
        /// Mostly batches run at once (the concurrent regime).
        case only
    }

    public init(cpus: Int = 4, frames: Int = 4096, minOps: Int = 50, maxOps: Int = 300,
                varyHardware: Bool = true, concurrency: Concurrency = .mixed) {
        self.cpus = cpus
        self.frames = frames
        self.minOps = minOps
        self.maxOps = max(minOps, maxOps)
        self.varyHardware = varyHardware
        self.concurrency = concurrency
    }
}

/// Generates fuzz cases from a seed, deterministically (its own PRNG; the
/// same seed and settings give the same case on every run and platform).
///
/// - Weighted op kinds, with swarm testing: each case turns a random subset
///   of kinds off, so that rare interleavings (many forks and no exits,
///   stores and munmaps and nothing else, ...) get whole cases to
///   themselves.
/// - Addresses concentrated in a few *arenas* per case, around pmd (2 MiB),
///   pud (1 GiB) and pgd (512 GiB) boundaries, at the top and the bottom
///   of user space and where mmap searches from; ranges straddle the
///   boundaries, so page tables fill, empty and are freed.  Most ranges
///   are 1-16 pages, some up to 600 (more than a 506-page gather vector);
///   most mmaps are MAP_FIXED, so the generator knows where mappings are
///   and aims loads and stores at them.
/// - Fault injection (`failNthAlloc`) at random points, and bad calls of
///   every kind at a small rate (among them an mmap without MAP_FIXED
///   longer than the room above TASK_UNMAPPED_BASE).
/// - Reclaim (kswapd on a CPU) of a few pages, sometimes of everything, so
///   that faults, forks, unmaps and zaps meet pages in swap.
/// - On variants where fork shares pte tables, forks three times as often
///   and a quarter of the mmaps map a whole 2 MiB pte table privately, so
///   that tables are shared, and then unshared by the next change.
/// - Transparent huge pages: one case in eight has one or two *huge
///   areas*, 2 MiB-aligned, of 2 to 8 MiB, which mmaps map privately and
///   give MADV_HUGEPAGE (sometimes with an allocation failure injected at
///   the fault that follows: the fallback to 4 KiB) before loads and
///   stores fault them in as 2 MiB pages; munmaps, mprotects,
///   MADV_DONTNEEDs and mmaps over aim at their edges (ranges starting or
///   ending inside a 2 MiB, one whole 2 MiB, all of it), forks are
///   followed by writes to them, some madvises are MADV_HUGEPAGE or
///   MADV_NOHUGEPAGE, and a third of its batches race on one 2 MiB (two
///   MADV_DONTNEEDs of it and a fault; a partial MADV_DONTNEED, munmap or
///   mprotect beside accesses; a fork beside writes).
public struct CaseGenerator {
    public var settings: GeneratorSettings

    public init(settings: GeneratorSettings) {
        self.settings = settings
    }

    /// Base weights of the op kinds.
    public static let weights: [OpKind: UInt32] = [
        .call(.newMM): 3, .call(.fork): 5, .call(.mmGet): 2, .call(.exit): 3, .call(.exec): 2,
        .call(.mmap): 16, .call(.munmap): 9, .call(.mprotect): 8, .call(.madvise): 6,
        .call(.switchMM): 7, .call(.load): 20, .call(.store): 26, .touch: 2, .failNthAlloc: 3,
        .call(.reclaim): 4,
    ]

    /// Weight of a batch run at once, by regime.
    static func parallelWeight(_ c: GeneratorSettings.Concurrency) -> UInt32 {
        switch c {
        case .off: 0
        case .mixed: 8
        case .only: 150
        }
    }

    /// Weights of the ops inside a batch.
    static let batchWeights: [(OpKind, UInt32)] = [
        (.call(.mmap), 3), (.call(.munmap), 3), (.call(.mprotect), 3), (.call(.madvise), 5),
        (.call(.fork), 1), (.call(.switchMM), 1), (.call(.load), 8), (.call(.store), 8), (.touch, 3),
        (.call(.reclaim), 2),
    ]
    static let batchWeightValues = batchWeights.map(\.1)
    static let batchWeightTotal = batchWeightValues.reduce(UInt64(0)) { $0 + UInt64($1) }

    /// Kinds swarm testing never turns off (without mmap nothing happens).
    static let alwaysOn: Set<OpKind> = [.call(.mmap)]

    private static let pmdSize: UInt64 = 1 << 21
    private static let pudSize: UInt64 = 1 << 30
    private static let pgdSize: UInt64 = 1 << 39
    private static let page = Machine.pageSize
    private static let taskSize = Machine.taskSize
    private static let unmappedBase = (Machine.taskSize / 3 + Machine.pageSize - 1) & ~(Machine.pageSize - 1)

    /// A place where the case's addresses cluster.
    struct Arena {
        /// The boundary, in pages.
        var page: UInt64
        /// How far below it ranges may start, in pages.
        var below: UInt64
        /// How far above it ranges may start, in pages.
        var above: UInt64
    }

    /// The case for `seed` on `variant`.
    public func generate(seed: UInt64, variant: Variant) -> FuzzCase {
        var g = State(seed: seed, settings: settings)
        g.sharing = variant.share == .fork
        let config = g.chooseConfig()
        g.config = config
        g.prepare()
        var count = g.rng.int(settings.minOps ... settings.maxOps)
        if settings.concurrency == .only {
            count = max(2, count / 4)   // a batch holds several ops
        }
        var ops: [Op] = [.newMM]
        g.follow(.newMM)
        ops.reserveCapacity(count)
        while ops.count < count {
            ops.append(g.nextOp())
        }
        return FuzzCase(config: config, variant: variant, seed: seed, ops: ops)
    }

    /// What the generator expects of one live mm.
    struct Shadow {
        var users = 1
        /// Recent MAP_FIXED ranges (start page, pages), most recent last.
        var recent: [(UInt64, UInt64)] = []
    }

    /// The generator's working state for one case.
    struct State {
        var rng: Xoshiro256
        let settings: GeneratorSettings
        var config: CaseConfig
        var kinds: [OpKind] = []
        var weights: [UInt32] = []
        var totalWeight: UInt64 = 0
        var cpuSet: [Int] = []
        var arenas: [Arena] = []
        /// What the generator expects the live mms to be (assuming calls
        /// succeed), in the engine's slot order: so that a slot names the
        /// mm meant, and loads and stores go where that mm has mappings.
        var shadows: [Shadow] = []
        /// The shadow the op being made targets (-1: none).
        var current = -1
        var lastSlot = 0
        var storeCounter: UInt64 = 0
        /// Per mille of ops made bad on purpose.
        var badRate: UInt64 = 30
        var slots = 8
        /// A case of big ranges.
        var big = false
        /// Fork shares pte tables on the case's variant.
        var sharing = false
        /// A case of transparent huge pages: it has huge areas.
        var thp = false
        /// The case's huge areas (start page, pages): 2 MiB-aligned, 512
        /// to 2048 pages.
        var hugeAreas: [(UInt64, UInt64)] = []
        /// Ops made ahead (a huge area's set-up, writes after a fork),
        /// issued before any new one.
        var queued: [Op] = []
        /// Making a batch's ops: nothing is queued then.
        var inBatch = false

        init(seed: UInt64, settings: GeneratorSettings) {
            rng = Xoshiro256(seed: seed)
            self.settings = settings
            config = CaseConfig(cpus: settings.cpus, frames: settings.frames)
        }

        mutating func chooseConfig() -> CaseConfig {
            let defaults = MachineConfig.default
            var c = CaseConfig(cpus: settings.cpus, frames: settings.frames,
                               tlb: defaults.tlbEntries, psc: defaults.pscEntries)
            guard settings.varyHardware else { return c }
            let r = rng.below(100)
            if settings.cpus > 1 {
                if r < 12, settings.concurrency != .only {
                    c.cpus = 1
                } else if r < 20, settings.cpus > 2 {
                    c.cpus = rng.int(2 ... settings.cpus - 1)
                }
            }
            if settings.frames > 256, settings.concurrency != .only, rng.chance(1, in: 10) {
                c.frames = rng.element([64, 96, 128, 192, 256])
            }
            if rng.chance(1, in: 8) {
                c.tlb = rng.element([4, 8, 16, 32])
                c.psc = rng.int(1 ... 8)
            }
            return c
        }

        mutating func prepare() {
            // Swarm: turn some kinds off.
            for kind in OpKind.allCases {
                var w = CaseGenerator.weights[kind] ?? 1
                if kind == .parallel {
                    w = CaseGenerator.parallelWeight(settings.concurrency)
                    if w == 0 { continue }
                }
                let on = CaseGenerator.alwaysOn.contains(kind)
                    || (kind == .parallel && settings.concurrency == .only)
                if !on, rng.chance(3, in: 10) {
                    continue
                }
                // And shake the weights a little.
                let scaled = UInt32(rng.int(1 ... 3)) * w
                kinds.append(kind)
                weights.append(scaled)
            }
            totalWeight = weights.reduce(0) { $0 + UInt64($1) }

            // The CPUs this case uses.
            var all = Array(0 ..< config.cpus)
            let used = rng.int(1 ... config.cpus)
            for i in 0 ..< used {
                all.swapAt(i, rng.int(i ..< all.count))
            }
            cpuSet = Array(all[0 ..< used])

            badRate = rng.element([0, 10, 30, 30, 60])
            // A quarter of the cases map, fill and free big ranges (more
            // pages than a gather vector holds), where frames allow.
            big = config.frames >= 1024 && rng.chance(1, in: 4)
            if big, let t = kinds.firstIndex(of: .touch) {
                totalWeight += UInt64(weights[t]) * 3
                weights[t] *= 4
            }
            // Tables are shared by forks: three times as many.
            if sharing, let f = kinds.firstIndex(of: .call(.fork)) {
                totalWeight += UInt64(weights[f]) * 2
                weights[f] *= 3
            }
            slots = rng.int(1 ... Op.aliasingSlots)

            let n = rng.int(1 ... 4)
            for _ in 0 ..< n {
                arenas.append(newArena())
            }
            // Not more: a case's machine is fresh, and each 2 MiB page
            // it maps is host memory touched for the first time (a huge
            // case costs the machine about eight plain ones).
            thp = rng.chance(1, in: 8)
            if thp {
                for _ in 0 ..< rng.int(1 ... 2) {
                    hugeAreas.append(newHugeArea())
                }
            }
        }

        /// A huge area (start page, pages): 1 to 4 whole 2 MiB, at an
        /// arena's pmd boundary.
        mutating func newHugeArea() -> (UInt64, UInt64) {
            let perTable = CaseGenerator.pmdSize / CaseGenerator.page
            let pmds = UInt64(rng.int(1 ... 4))
            var (start, _) = tableRange()
            let top = CaseGenerator.taskSize / CaseGenerator.page / perTable * perTable
            if start + pmds * perTable > top { start = top - pmds * perTable }
            return (start, pmds * perTable)
        }

        mutating func newArena() -> Arena {
            let page = CaseGenerator.page
            // Near another arena: tables shared between arenas.
            if let other = arenas.last, rng.chance(1, in: 3) {
                let step = rng.chance(1, in: 2) ? CaseGenerator.pmdSize * UInt64(rng.int(1 ... 3))
                                                : CaseGenerator.pudSize
                let b = other.page * page + step
                if b < CaseGenerator.taskSize - CaseGenerator.pudSize {
                    return Arena(page: b / page, below: 24, above: 40)
                }
            }
            switch rng.below(100) {
            case 0 ..< 45:
                let k = 1 + rng.below((CaseGenerator.taskSize / CaseGenerator.pmdSize) - 2)
                return Arena(page: k * CaseGenerator.pmdSize / page, below: 24, above: 40)
            case 45 ..< 75:
                let k = 1 + rng.below((CaseGenerator.taskSize / CaseGenerator.pudSize) - 2)
                return Arena(page: k * CaseGenerator.pudSize / page, below: 24, above: 40)
            case 75 ..< 88:
                let k = 1 + rng.below(254)
                return Arena(page: k * CaseGenerator.pgdSize / page, below: 24, above: 40)
            case 88 ..< 93:
                // The top of user space: ranges that end exactly there.
                return Arena(page: CaseGenerator.taskSize / page, below: 64, above: 0)
            case 93 ..< 96:
                // The bottom of user space, from address 0: the first
                // 2 MiB, where a pte table's ceiling rounds down to 0.
                return Arena(page: 0, below: 0, above: 64)
            default:
                // Where mmap without MAP_FIXED starts looking.
                return Arena(page: CaseGenerator.unmappedBase / page, below: 0, above: 64)
            }
        }

        // MARK: Pieces

        mutating func cpu() -> Int {
            rng.element(cpuSet)
        }

        /// A slot, mostly naming a live mm exactly, often the one the
        /// previous op used; sets `current`.
        mutating func slot() -> Int {
            let n = shadows.count
            var s: Int
            if n == 0 {
                s = rng.int(0 ..< slots)
            } else if rng.chance(1, in: 2) {
                s = min(lastSlot, n - 1)
            } else if rng.chance(4, in: 5) {
                s = rng.int(0 ..< n)
            } else {
                s = rng.int(0 ..< max(slots, n))
            }
            lastSlot = s
            current = n == 0 ? -1 : s % n
            return s
        }

        /// Recent MAP_FIXED ranges (start page, pages) of the current mm,
        /// most recent last.
        var recent: [(UInt64, UInt64)] {
            current >= 0 && current < shadows.count ? shadows[current].recent : []
        }

        /// Follows an op (made well) on the shadows.
        mutating func follow(_ op: Op) {
            func index(_ slot: Int) -> Int? {
                slot >= 0 && !shadows.isEmpty ? slot % shadows.count : nil
            }
            func drop(_ i: Int) {
                shadows[i].users -= 1
                if shadows[i].users <= 0 { shadows.remove(at: i) }
            }
            guard case .call(_, let slot, let request) = op else { return }
            switch request.kind.lifetime {
            case .creates:
                if let slot {
                    // fork: the child starts as a copy of the parent.
                    if let i = index(slot) {
                        var child = shadows[i]
                        child.users = 1
                        shadows.append(child)
                    }
                } else {
                    shadows.append(Shadow())
                }
            case .addsUser:
                if let slot, let i = index(slot) { shadows[i].users += 1 }
            case .dropsUser:
                if let slot, let i = index(slot) { drop(i) }
            case .replaces:
                if let slot, let i = index(slot) {
                    drop(i)
                    shadows.append(Shadow())
                }
            case .none:
                break
            }
        }

        /// Pages of a range: mostly 1-16, sometimes up to 64, rarely up to
        /// 600.
        mutating func pages() -> UInt64 {
            let r = rng.below(100)
            if big, r < 25 { return UInt64(rng.int(400 ... 600)) }
            switch r {
            case 0 ..< 75: return UInt64(rng.int(1 ... 16))
            case 75 ..< 93: return UInt64(rng.int(17 ... 64))
            default: return UInt64(rng.int(400 ... 600))
            }
        }

        /// The largest recent range of the current mm.
        var largestRecent: (UInt64, UInt64)? {
            recent.max { $0.1 < $1.1 }
        }

        /// A range in an arena (start page, pages), straddling its boundary
        /// more often than not.
        mutating func arenaRange() -> (UInt64, UInt64) {
            let a = rng.element(arenas)
            let n = pages()
            let lo = a.page - a.below
            var start = lo + rng.below(a.below + a.above + 1)
            if rng.chance(1, in: 3), n > 1, a.below > 0 {
                // Exactly across the boundary.
                start = a.page - min(a.below, 1 + rng.below(n - 1))
            }
            if a.above == 0 {
                // The top arena: keep most ranges below TASK_SIZE.
                let top = CaseGenerator.taskSize / CaseGenerator.page
                if start + n > top, rng.chance(7, in: 8) {
                    start = top - n
                }
            }
            return (start, n)
        }

        /// A range for munmap/mprotect/madvise: in a recent mapping (part
        /// of it, all of it, or a bit around it) or anywhere in an arena.
        mutating func targetRange() -> (UInt64, UInt64) {
            if big, let largest = largestRecent, largest.1 > 64, rng.chance(1, in: 3) {
                // The whole of a big range: a gather vector's worth.
                return largest
            }
            if !recent.isEmpty, rng.chance(6, in: 10) {
                let (s, n) = rng.element(recent)
                switch rng.below(4) {
                case 0:
                    return (s, n)
                case 1:
                    let off = rng.below(n)
                    return (s + off, 1 + rng.below(n - off))
                case 2:
                    let before = min(s, UInt64(rng.int(1 ... 4)))
                    return (s - before, n + before + UInt64(rng.int(0 ... 4)))
                default:
                    let off = rng.below(n)
                    return (s + off, pages())
                }
            }
            return arenaRange()
        }

        /// A page to load from or store to.
        mutating func targetPage() -> UInt64 {
            if thp, rng.chance(1, in: 4) {
                let (s, n) = rng.element(hugeAreas)
                return s + rng.below(n)
            }
            if !recent.isEmpty, rng.chance(7, in: 10) {
                let (s, n) = rng.element(recent.suffix(6))
                return s + rng.below(n)
            }
            let (s, n) = arenaRange()
            return s + rng.below(n)
        }

        /// An 8-byte-aligned address in the page, mostly its first word.
        mutating func wordAddress(page: UInt64) -> UInt64 {
            let base = page &* CaseGenerator.page
            if rng.chance(17, in: 20) { return base }
            return base + rng.below(512) * 8
        }

        mutating func length(pages n: UInt64) -> UInt64 {
            let bytes = n &* CaseGenerator.page
            // Sometimes a length that is not a page multiple (rounded up).
            if rng.chance(1, in: 10) { return bytes - rng.below(CaseGenerator.page - 1) }
            return bytes
        }

        mutating func prot() -> Int32 {
            // rw- mostly, then r--, ---, and the rest.
            switch rng.below(100) {
            case 0 ..< 50: 3
            case 50 ..< 65: 1
            case 65 ..< 75: 0
            case 75 ..< 82: 7
            case 82 ..< 89: 5
            case 89 ..< 95: 2
            default: 4
            }
        }

        /// Pages for a reclaim: mostly 1-64, sometimes a few hundred,
        /// rarely everything the machine has (twice over).
        mutating func reclaimPages() -> UInt64 {
            switch rng.below(20) {
            case 0 ..< 16: UInt64(rng.int(1 ... 64))
            case 16 ..< 19: UInt64(rng.int(65 ... 600))
            default: UInt64(config.frames) * UInt64(rng.int(1 ... 2))
            }
        }

        /// A range (start page, pages) at the edge of a huge area: starting
        /// or ending inside one of its 2 MiB (a huge pmd there is split),
        /// inside one, across two, one whole 2 MiB or all of the area
        /// (a huge pmd is zapped whole).
        mutating func hugeEdgeRange() -> (UInt64, UInt64) {
            let perTable = CaseGenerator.pmdSize / CaseGenerator.page
            let (s, n) = rng.element(hugeAreas)
            let pmd = s + perTable * rng.below(n / perTable)
            switch rng.below(7) {
            case 0:
                return (pmd, perTable)
            case 1:
                return (s, n)
            case 2:
                // From inside to past the 2 MiB's end.
                let off = 1 + rng.below(perTable - 1)
                return (pmd + off, perTable - off + rng.below(32))
            case 3:
                // From before the 2 MiB into it.
                let before = min(pmd, rng.below(32))
                return (pmd - before, before + 1 + rng.below(perTable - 1))
            case 4:
                // Inside it, a few pages.
                let off = rng.below(perTable - 16)
                return (pmd + off, 1 + rng.below(16))
            case 5:
                // Across two of the area's 2 MiB (or its end).
                let across = pmd + perTable
                return (across - 1 - rng.below(64), 2 + rng.below(128))
            default:
                // Whole 2 MiB and a bit.
                return (pmd, perTable + 1 + rng.below(perTable))
            }
        }

        /// A whole 2 MiB pte table's range (start page, 512 pages) in an
        /// arena: fork shares a table only when every vma in it is
        /// private.
        mutating func tableRange() -> (UInt64, UInt64) {
            let a = rng.element(arenas)
            let perTable = CaseGenerator.pmdSize / CaseGenerator.page
            var start = a.page / perTable * perTable
            if rng.chance(1, in: 3), start >= perTable { start -= perTable }
            let top = CaseGenerator.taskSize / CaseGenerator.page
            if start + perTable > top { start = top / perTable * perTable - perTable }
            return (start, perTable)
        }

        mutating func value() -> UInt64 {
            switch rng.below(20) {
            case 0: return 0
            case 1 ..< 4: return UInt64(rng.int(1 ... 255))
            default:
                storeCounter &+= 1
                return (rng.next() & ~0xffff) | (storeCounter & 0xffff)
            }
        }

        mutating func remember(_ start: UInt64, _ n: UInt64) {
            guard current >= 0, current < shadows.count else { return }
            shadows[current].recent.append((start, n))
            if shadows[current].recent.count > 12 { shadows[current].recent.removeFirst() }
        }

        // MARK: Ops

        mutating func nextOp() -> Op {
            if !queued.isEmpty {
                let op = queued.removeFirst()
                follow(op)
                return op
            }
            let kind = kinds[rng.weighted(weights, total: totalWeight)]
            current = -1
            var op = make(kind)
            if badRate > 0, rng.below(1000) < badRate {
                op = corrupt(op)
            } else {
                follow(op)
            }
            return op
        }

        mutating func make(_ kind: OpKind) -> Op {
            let mapShared = MapFlags.shared.rawValue
            let mapPrivate = MapFlags.private.rawValue
            let mapFixed = MapFlags.fixed.rawValue
            let mapAnon = MapFlags.anonymous.rawValue
            switch kind {
            case .call(.newMM):
                return .newMM
            case .call(.fork):
                let m = slot()
                if thp, !inBatch, !shadows.isEmpty, rng.chance(1, in: 2) {
                    // Then writes to a huge area, by parent and child:
                    // copy-on-write of a huge pmd fork copied.
                    let child = shadows.count
                    for _ in 0 ..< rng.int(1 ... 3) {
                        let (s, n) = rng.element(hugeAreas)
                        queued.append(.store(cpu: cpu(), slot: rng.chance(1, in: 2) ? m : child,
                                             addr: wordAddress(page: s + rng.below(n)), value: value()))
                    }
                }
                return .fork(cpu: cpu(), slot: m)
            case .call(.mmGet):
                return .mmGet(slot: slot())
            case .call(.exit):
                let m = slot()
                return .exit(cpu: cpu(), slot: m)
            case .call(.exec):
                let m = slot()
                return .exec(cpu: cpu(), slot: m)
            case .call(.mmap):
                let m = slot()
                if thp, !inBatch, rng.chance(1, in: 4) {
                    return hugeSetUp(slot: m)
                }
                if thp, rng.chance(1, in: 8) {
                    // Over part of a huge area.
                    let (s, n) = hugeEdgeRange()
                    let flags = (rng.chance(1, in: 4) ? mapShared : mapPrivate) | mapAnon | mapFixed
                    return .mmap(cpu: cpu(), slot: m, addr: s &* CaseGenerator.page,
                                 length: n &* CaseGenerator.page, prot: prot(), flags: flags)
                }
                if sharing, rng.chance(1, in: 4) {
                    // A whole pte table, private: one fork may share.
                    let (s, n) = tableRange()
                    remember(s, n)
                    return .mmap(cpu: cpu(), slot: m, addr: s &* CaseGenerator.page,
                                 length: n &* CaseGenerator.page, prot: rng.chance(7, in: 8) ? 3 : prot(),
                                 flags: mapPrivate | mapAnon | mapFixed)
                }
                let (s, n) = arenaRange()
                var flags = (rng.chance(1, in: 4) ? mapShared : mapPrivate) | mapAnon
                var addr = s &* CaseGenerator.page
                if rng.chance(17, in: 20) {
                    flags |= mapFixed
                    remember(s, n)
                } else if rng.chance(1, in: 2) {
                    addr = 0
                }
                if rng.chance(1, in: 20) {
                    flags |= rng.element([MapFlags.denyWrite, .noReserve, .stack]).rawValue
                }
                return .mmap(cpu: cpu(), slot: m, addr: addr, length: length(pages: n),
                             prot: prot(), flags: flags)
            case .call(.munmap):
                let m = slot()
                let (s, n) = thp && rng.chance(1, in: 3) ? hugeEdgeRange() : targetRange()
                return .munmap(cpu: cpu(), slot: m, addr: s &* CaseGenerator.page,
                               length: length(pages: n))
            case .call(.mprotect):
                let m = slot()
                let (s, n) = thp && rng.chance(1, in: 3) ? hugeEdgeRange() : targetRange()
                return .mprotect(cpu: cpu(), slot: m, addr: s &* CaseGenerator.page,
                                 length: length(pages: n), prot: prot())
            case .call(.madvise):
                let m = slot()
                var advice = Advice.dontneed
                var (s, n) = targetRange()
                if thp {
                    switch rng.below(20) {
                    case 0 ..< 5:
                        advice = .hugepage
                        if rng.chance(1, in: 2) { (s, n) = rng.element(hugeAreas) }
                    case 5:
                        advice = .nohugepage
                        if rng.chance(1, in: 2) { (s, n) = hugeEdgeRange() }
                    case 6 ..< 12:
                        (s, n) = hugeEdgeRange()
                    default:
                        break
                    }
                }
                return .madvise(cpu: cpu(), slot: m, addr: s &* CaseGenerator.page,
                                length: length(pages: n), advice: advice)
            case .call(.switchMM):
                return .switchMM(cpu: cpu(), slot: rng.chance(1, in: 4) ? nil : slot())
            case .call(.load):
                let m = slot()
                return .load(cpu: cpu(), slot: m, addr: wordAddress(page: targetPage()))
            case .call(.store):
                let m = slot()
                return .store(cpu: cpu(), slot: m, addr: wordAddress(page: targetPage()),
                              value: value())
            case .touch:
                let m = slot()
                var start: UInt64
                var n: UInt64
                if big, let largest = largestRecent, rng.chance(3, in: 4) {
                    (start, n) = largest
                } else if !recent.isEmpty, rng.chance(4, in: 5) {
                    (start, n) = rng.element(recent)
                } else {
                    (start, n) = arenaRange()
                }
                // Big touches only where frames allow.
                n = min(n, UInt64(max(1, config.frames / 2)))
                if sharing, !big, n > 64, rng.chance(3, in: 4) {
                    // Some of a whole table's pages, anywhere in it.
                    let k = UInt64(rng.int(4 ... 64))
                    start += rng.below(n - k + 1)
                    n = k
                }
                if !big || rng.chance(1, in: 4), rng.chance(1, in: 2) {
                    let off = rng.below(n)
                    start += off
                    n -= off
                }
                return .touch(cpu: cpu(), slot: m, addr: start &* CaseGenerator.page,
                              pages: Int(n), value: value())
            case .call(.reclaim):
                return .reclaim(cpu: cpu(), pages: reclaimPages())
            case .failNthAlloc:
                return .failNthAlloc(n: UInt64(rng.int(1 ... 8)))
            case .parallel:
                // Not on small machines: a batch that runs out of frames
                // in an mprotect leaves the model guessing.
                guard config.frames >= 512 else { return make(.call(.store)) }
                if thp, !inBatch, rng.chance(1, in: 3) { return hugeBatch() }
                return makeBatch()
            }
        }

        /// A huge area (or a 2 MiB of it) mapped privately, given
        /// MADV_HUGEPAGE and accessed: the mmap now, the rest queued.
        /// Sometimes an allocation fails at the first access (a huge fault
        /// falls back to a 4 KiB page), or the advice covers only part.
        mutating func hugeSetUp(slot m: Int) -> Op {
            let perTable = CaseGenerator.pmdSize / CaseGenerator.page
            let page = CaseGenerator.page
            var (s, n) = rng.element(hugeAreas)
            if rng.chance(1, in: 4) {
                s += perTable * rng.below(n / perTable)
                n = perTable
            }
            remember(s, n)
            let c = cpu()
            var (a, l) = (s, n)
            if rng.chance(1, in: 6) {
                // Only part advised: the 2 MiB around it are not one vma.
                let off = rng.below(n)
                (a, l) = (s + off, 1 + rng.below(n - off))
            }
            queued.append(.madvise(cpu: c, slot: m, addr: a &* page, length: l &* page, advice: .hugepage))
            if rng.chance(1, in: 4) {
                queued.append(.failNthAlloc(n: UInt64(rng.int(1 ... 3))))
            }
            for _ in 0 ..< rng.int(1 ... 4) {
                let addr = wordAddress(page: s + rng.below(n))
                queued.append(rng.chance(2, in: 3) ? .store(cpu: cpu(), slot: m, addr: addr, value: value())
                                                   : .load(cpu: cpu(), slot: m, addr: addr))
            }
            return .mmap(cpu: c, slot: m, addr: s &* page, length: n &* page,
                         prot: rng.chance(9, in: 10) ? 3 : prot(),
                         flags: MapFlags.anonymousPrivate.union(.fixed).rawValue)
        }

        /// A batch racing on one 2 MiB of a huge area: two MADV_DONTNEEDs
        /// of it and a fault on it; a partial MADV_DONTNEED, munmap or
        /// mprotect beside loads and stores in it; a fork beside writes to
        /// it.  Half the time the 2 MiB is mapped and given MADV_HUGEPAGE
        /// just before (queued), so that the batch's fault maps it huge.
        mutating func hugeBatch() -> Op {
            let perTable = CaseGenerator.pmdSize / CaseGenerator.page
            let page = CaseGenerator.page
            let process = slot()
            let (s, n) = rng.element(hugeAreas)
            let pmd = s + perTable * rng.below(n / perTable)
            var cpus = Array(0 ..< config.cpus)
            for i in cpus.indices.reversed() { cpus.swapAt(i, rng.int(0 ... i)) }
            func on(_ i: Int) -> Int { cpus[i % cpus.count] }
            func access(_ c: Int) -> Op {
                let addr = wordAddress(page: pmd + rng.below(perTable))
                return rng.chance(1, in: 2) ? .store(cpu: c, slot: process, addr: addr, value: value())
                                            : .load(cpu: c, slot: process, addr: addr)
            }
            func part() -> (UInt64, UInt64) {
                let off = rng.below(perTable - 1)
                return ((pmd + off) &* page, (1 + rng.below(min(64, perTable - off - 1))) &* page)
            }
            var ops: [Op] = []
            switch rng.below(5) {
            case 0 ..< 2:
                ops = [.madvise(cpu: on(0), slot: process, addr: pmd &* page, length: perTable &* page,
                                advice: .dontneed),
                       .madvise(cpu: on(1), slot: process, addr: pmd &* page, length: perTable &* page,
                                advice: .dontneed),
                       access(on(2))]
            case 2:
                let (a, l) = part()
                ops = [.madvise(cpu: on(0), slot: process, addr: a, length: l, advice: .dontneed), access(on(1)),
                       access(on(2))]
                if rng.chance(1, in: 2) { ops.append(access(on(1))) }
            case 3:
                let (a, l) = part()
                ops = [rng.chance(1, in: 2) ? .munmap(cpu: on(0), slot: process, addr: a, length: l)
                                            : .mprotect(cpu: on(0), slot: process, addr: a, length: l,
                                                        prot: rng.element([0, 1, 3])),
                       access(on(1)), access(on(2))]
            default:
                let fork = Op.fork(cpu: on(0), slot: process)
                follow(fork)
                ops = [fork, access(on(1)), access(on(2))]
            }
            let batch = Op.parallel(Batch(ops: ops, schedule: batchSchedule(calls: ops.count)))
            guard rng.chance(1, in: 2) else { return batch }
            let c = cpu()
            queued.append(.madvise(cpu: c, slot: process, addr: pmd &* page, length: perTable &* page,
                                   advice: .hugepage))
            queued.append(batch)
            return .mmap(cpu: c, slot: process, addr: pmd &* page, length: perTable &* page, prot: 3,
                         flags: MapFlags.anonymousPrivate.union(.fixed).rawValue)
        }

        /// A batch's schedule: random, window or PCT over its length.
        mutating func batchSchedule(calls: Int) -> Scheduler {
            switch rng.below(3) {
            case 0:
                .random(seed: rng.next(), switchPermille: rng.element([20, 100, 300, 700, 1000]))
            case 1:
                .window(seed: rng.next(), switchPermille: rng.element([0, 2, 10]),
                        windowPermille: rng.element([1000, 1000, 700]))
            default:
                .pct(seed: rng.next(), depth: rng.int(1 ... 4), steps: 40 * calls)
            }
        }

        /// A batch: some CPUs, each with a few ops, most on one mm (threads
        /// of one process), under a random, window or PCT schedule.
        mutating func makeBatch() -> Op {
            let process = slot()
            var cpus = Array(0 ..< config.cpus)
            let n = config.cpus > 1 ? rng.int(2 ... config.cpus) : 1
            for i in 0 ..< n {
                cpus.swapAt(i, rng.int(i ..< cpus.count))
            }
            // Small batches: races need few ops, and the linearizability
            // check searches orders of all of them.
            let perCPU = rng.int(1 ... 4)
            var ops: [Op] = []
            inBatch = true
            defer { inBatch = false }
            for c in cpus[0 ..< n] {
                for _ in 0 ..< rng.int(1 ... perCPU) {
                    let kind = CaseGenerator.batchWeights[
                        rng.weighted(CaseGenerator.batchWeightValues,
                                     total: CaseGenerator.batchWeightTotal)].0
                    current = -1
                    var sub = make(kind)
                    if rng.chance(3, in: 4) { sub = sub.with(slot: process) }
                    if case .touch(let tc, let s, let a, let pages, let v) = sub {
                        sub = .touch(cpu: tc, slot: s, addr: a, pages: min(pages, 4), value: v)
                    }
                    if badRate > 0, rng.below(1000) < badRate, sub.kind != .touch {
                        sub = corrupt(sub)
                    }
                    if sub.kind == .call(.fork) { follow(sub) }
                    ops.append(sub.with(cpu: c))
                }
            }
            return .parallel(Batch(ops: ops, schedule: batchSchedule(calls: ops.count)))
        }

        /// The op made bad in one way it can be.
        mutating func corrupt(_ op: Op) -> Op {
            let page = CaseGenerator.page
            let taskSize = CaseGenerator.taskSize
            switch rng.below(4) {
            case 0:
                // A CPU out of range.
                if op.cpu != nil {
                    let bad = rng.chance(1, in: 3) ? -1 : config.cpus + rng.int(0 ... 3)
                    return op.with(cpu: bad)
                }
            case 1:
                // An mm nobody uses: dead or never handed out.
                let bad = -rng.int(1 ... 6)
                if case .call(let c, _, let r) = op, r.kind.who.namesMM {
                    return .call(r, cpu: c, slot: bad)
                }
            default:
                break
            }
            // Bad arguments of the call itself.
            func badRange(_ addr: UInt64, _ length: UInt64) -> (UInt64, UInt64) {
                switch rng.below(5) {
                case 0: return (addr | (1 + rng.below(page - 1)), length)    // unaligned
                case 1: return (addr, 0)                                     // empty
                case 2: return (UInt64.max - page * rng.below(4) - page + 1, // wraps
                                page * UInt64(rng.int(2 ... 8)))
                case 3: return (addr, UInt64.max - rng.below(page))          // huge
                default:                                                     // past TASK_SIZE
                    return (rng.chance(1, in: 2) ? taskSize + page * rng.below(16)
                                                 : (1 << 47) + page * rng.below(16) | ((1 << rng.below(16)) << 48),
                            length)
                }
            }
            switch op.request {
            case .mmap(let a, let l, let prot, let flags)?:
                let (p, f) = (prot.rawValue, flags.rawValue)
                switch rng.below(5) {
                case 0:
                    return op.with(.mmap(addr: a, length: l,
                                         prot: Prot(rawValue: p | Int32(rng.element([0x8, 0x10, 0x100, 0x1000000]))),
                                         flags: flags))
                case 1:
                    let bad: Int32 = rng.element([
                        f | 0x40, f | 0x1000, f & ~MapFlags.anonymous.rawValue,
                        f & ~(MapFlags.shared.rawValue | MapFlags.private.rawValue),
                        f | MapFlags.shared.rawValue | MapFlags.private.rawValue, f | 0x0f,
                    ])
                    return op.with(.mmap(addr: a, length: l, prot: prot, flags: MapFlags(rawValue: bad)))
                case 2:
                    // Placed (no MAP_FIXED, no hint) and longer than the
                    // room above TASK_UNMAPPED_BASE, but not than user
                    // space: the search finds no room (ENOMEM).
                    let room = taskSize - CaseGenerator.unmappedBase
                    return op.with(.mmap(addr: 0, length: room + page * UInt64(rng.int(1 ... 16)), prot: prot,
                                         flags: flags.subtracting(.fixed)))
                default:
                    let (ba, bl) = badRange(a, l)
                    return op.with(.mmap(addr: ba, length: bl, prot: prot, flags: flags.union(.fixed)))
                }
            case .munmap(let a, let l)?:
                let (ba, bl) = badRange(a, l)
                return op.with(.munmap(addr: ba, length: bl))
            case .mprotect(let a, let l, let prot)?:
                if rng.chance(1, in: 3) {
                    return op.with(.mprotect(addr: a, length: l, prot: Prot(
                        rawValue: prot.rawValue | Int32(rng.element([0x8, 0x20, 0x1000000, 0x2000000])))))
                }
                let (ba, bl) = badRange(a, l)
                return op.with(.mprotect(addr: ba, length: bl, prot: prot))
            case .madvise(let a, let l, let adv)?:
                if rng.chance(1, in: 2) {
                    return op.with(.madvise(addr: a, length: l,
                                            advice: Advice(rawValue: rng.element([0, 1, 2, 3, 9, 100, -1]))))
                }
                let (ba, bl) = badRange(a, l)
                return op.with(.madvise(addr: ba, length: bl, advice: adv))
            case .load(let a)?:
                if rng.chance(1, in: 2) {
                    return op.with(.load(addr: a | (1 + rng.below(7))))
                }
                return op.with(.load(addr: rng.chance(1, in: 2) ? taskSize + rng.below(512) * 8
                                                                : UInt64.max & ~7))
            case .store(let a, let v)?:
                if rng.chance(1, in: 2) {
                    return op.with(.store(addr: a | (1 + rng.below(7)), value: v))
                }
                return op.with(.store(addr: taskSize + rng.below(512) * 8, value: v))
            default:
                if op.cpu != nil {
                    return op.with(cpu: config.cpus + rng.int(0 ... 3))
                }
                return op
            }
        }
    }
}
