import MMFuzz
import MMModel
import MMSim
import Testing

/// Transparent huge pages through the engine: the model adopts what a
/// 2 MiB fault populated, sequentially and after a batch, and the
/// generators reach the huge paths.
@Suite struct HugeEngineTests {
    static let huge: UInt64 = 1 << 21
    static let page: UInt64 = 4096
    /// Two 2 MiB, aligned.
    static let base: UInt64 = 0x4000_0000
    static let private_ = MapFlags.anonymousPrivate.union(.fixed)

    /// newMM, 4 MiB mapped privately at `base`, MADV_HUGEPAGE over it.
    static let setUp: [Op] = [
        .newMM,
        .mmap(cpu: 0, slot: 0, addr: base, length: 2 * huge, prot: .readWrite, flags: private_),
        .madvise(cpu: 0, slot: 0, addr: base, length: 2 * huge, advice: .hugepage),
    ]

    static func run(_ ops: [Op], variant: Variant = .baseline, cpus: Int = 4,
                    frames: Int = 4096) -> CaseResult {
        CaseRunner.run(FuzzCase(config: CaseConfig(cpus: cpus, frames: frames), variant: variant, seed: 0,
                                ops: ops))
    }

    /// A store into the advised 4 MiB maps its 2 MiB by one page; the model
    /// adopts the other 511, and every check (state, frames, user pages,
    /// leaks) passes.
    @Test(arguments: acceptedVariants)
    func aHugeFaultIsAdopted(variant: Variant) throws {
        let ops = Self.setUp + [
            .store(cpu: 1, slot: 0, addr: Self.base + 0x5008, value: 0x77),
            .load(cpu: 2, slot: 0, addr: Self.base + Self.huge - Self.page),
            .load(cpu: 0, slot: 0, addr: Self.base + 0x5008),
        ]
        let r = Self.run(ops, variant: variant)
        #expect(r.failure == nil, "\(String(describing: r.failure))")
        #expect(r.stats.thpFaults == 1)
        #expect(r.outcomes.adoptedHugePages == 1)
        #expect(r.stats.thpFreed == 1)

        // The machine's view: every page of the 2 MiB, huge, its own pfn.
        let runner = try CaseRunner(config: CaseConfig(cpus: 4, frames: 4096), variant: variant)
        for (i, op) in ops.enumerated() { #expect(runner.step(op, index: i) == nil) }
        let mm = MMID(rawValue: runner.live[0])
        let first = try #require(try runner.machine.lookup(mm: mm, addr: Self.base))
        let last = try #require(try runner.machine.lookup(mm: mm, addr: Self.base + Self.huge - Self.page))
        #expect(first.huge && last.huge && last.pfn == first.pfn + 511)
        #expect(try runner.machine.lookup(mm: mm, addr: Self.base + Self.huge) == nil)
        #expect(runner.model.state(of: runner.live[0])?.anonRSS == 512)
        #expect(runner.checkpoint() == nil)
        #expect(runner.finish() == nil)
    }

    /// MADV_HUGEPAGE over a range whose first vma, once marked, merges
    /// with the next (marked already) is not ENOMEM: the range is mapped
    /// and no allocation failed.  (do_madvise() once stepped to the
    /// merged vma's vm_next, past the rest of it, and reported a hole:
    /// the fuzzer found it within seconds.)
    @Test func hugeAdviceOverAMergeIsNotENOMEM() throws {
        let m = try Machine(.default(cpus: 1, frames: 256))
        let mm = try m.newMM()
        let b = Self.base, p = Self.page
        _ = try m.mmap(cpu: 0, mm: mm, addr: b, length: 16 * p, prot: .readWrite, flags: Self.private_)
        try m.madvise(cpu: 0, mm: mm, addr: b + 4 * p, length: p, advice: .hugepage)
        #expect(try m.vmas(of: mm).count == 3)
        let failures = m.allocFailures
        #expect(throws: Never.self) { try m.madvise(cpu: 0, mm: mm, addr: b, length: 8 * p, advice: .hugepage) }
        #expect(try m.vmas(of: mm).count == 2)
        #expect(m.allocFailures == failures)
        try m.exit(cpu: 0, mm: mm)
    }

    /// Without MADV_HUGEPAGE, or after MADV_NOHUGEPAGE, faults map 4 KiB.
    @Test func noAdviceNoHugePage() {
        let r = Self.run([
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: Self.base, length: 2 * Self.huge, prot: .readWrite, flags: Self.private_),
            .store(cpu: 0, slot: 0, addr: Self.base, value: 1),
            .madvise(cpu: 0, slot: 0, addr: Self.base, length: 2 * Self.huge, advice: .hugepage),
            .madvise(cpu: 0, slot: 0, addr: Self.base + Self.huge, length: Self.huge, advice: .nohugepage),
            .store(cpu: 0, slot: 0, addr: Self.base + Self.huge, value: 2),
        ])
        #expect(r.failure == nil, "\(String(describing: r.failure))")
        #expect(r.stats.thpFaults == 0 && r.outcomes.adoptedHugePages == 0)
    }

    /// An allocation failure at the huge fault (the pud and pmd tables
    /// come first, then the deposited pte table, then the 2 MiB page):
    /// it falls back to a 4 KiB page, or runs out of memory, and the
    /// model (which adopts nothing then) agrees.
    @Test func aFailedHugeAllocationFallsBack() {
        var fallbacks: UInt64 = 0
        for n: UInt64 in 1 ... 5 {
            let r = Self.run(Self.setUp + [
                .failNthAlloc(n: n),
                .store(cpu: 0, slot: 0, addr: Self.base + 0x1000, value: 5),
                .load(cpu: 0, slot: 0, addr: Self.base + 0x1000),
                .load(cpu: 0, slot: 0, addr: Self.base + 0x2000),
            ])
            #expect(r.failure == nil, "n \(n): \(String(describing: r.failure))")
            #expect(r.stats.thpFallbacks + r.stats.thpFaults <= 1)
            fallbacks += r.stats.thpFallbacks
        }
        #expect(fallbacks >= 2)
    }

    /// A small machine has no room for a 2 MiB page: every huge fault
    /// falls back.
    @Test func aSmallMachineFallsBack() {
        let r = Self.run(Self.setUp + [.store(cpu: 0, slot: 0, addr: Self.base, value: 5)], frames: 256)
        #expect(r.failure == nil, "\(String(describing: r.failure))")
        #expect(r.stats.thpFaults == 0 && r.stats.thpFallbacks == 1)
    }

    /// Ranges that start or end inside a huge page split it; whole ones
    /// zap it; the data stays as the model says, on every variant.
    @Test(arguments: acceptedVariants)
    func edgesSplitAndZap(variant: Variant) {
        let b = Self.base, h = Self.huge, p = Self.page
        let fault = Op.store(cpu: 1, slot: 0, addr: b + 0x3000, value: 9)
        let fault2 = Op.store(cpu: 2, slot: 0, addr: b + h + 0x8000, value: 10)
        let ops = Self.setUp + [
            fault, fault2,
            .madvise(cpu: 0, slot: 0, addr: b + 16 * p, length: 4 * p, advice: .dontneed),  // split
            .load(cpu: 3, slot: 0, addr: b + 0x3000),
            .madvise(cpu: 0, slot: 0, addr: b + h, length: h, advice: .dontneed),           // whole: zap
            fault2,
            .munmap(cpu: 1, slot: 0, addr: b + h + 100 * p, length: 8 * p),                // split
            .madvise(cpu: 0, slot: 0, addr: b, length: 2 * h, advice: .hugepage),
            .munmap(cpu: 0, slot: 0, addr: b, length: h),                                   // whole: zap
            .mmap(cpu: 0, slot: 0, addr: b, length: h, prot: .readWrite, flags: Self.private_),
            .madvise(cpu: 0, slot: 0, addr: b, length: h, advice: .hugepage),
            fault,
            .mprotect(cpu: 2, slot: 0, addr: b + h - 8 * p, length: 16 * p, prot: .read),  // split both
            .mmap(cpu: 0, slot: 0, addr: b + 0x200000 - 4 * p, length: 2 * p, prot: .readWrite,
                  flags: MapFlags.anonymousShared.union(.fixed)),                         // over part
            .load(cpu: 0, slot: 0, addr: b + 0x3000),
        ]
        let r = Self.run(ops, variant: variant)
        #expect(r.failure == nil, "\(String(describing: r.failure))")
        #expect(r.stats.thpFaults == 4)
        #expect(r.stats.thpSplits >= 3)
        #expect(r.stats.thpZapsVector + r.stats.thpZapsInplace >= 1)
        if variant.gather == .vector { #expect(r.stats.thpZapsInplace == 0) }
        if variant.gather == .inplace { #expect(r.stats.thpZapsVector == 0) }
    }

    /// Fork copies a huge pmd; writes on either side copy one page or
    /// reuse the 2 MiB in place; the model's copy-on-write agrees.
    @Test(arguments: acceptedVariants)
    func forkThenWrites(variant: Variant) {
        let b = Self.base
        let r = Self.run(Self.setUp + [
            .store(cpu: 0, slot: 0, addr: b + 0x10, value: 1),
            .fork(cpu: 0, slot: 0),
            .store(cpu: 1, slot: 1, addr: b + 0x2000, value: 2),
            .store(cpu: 0, slot: 0, addr: b + 0x10, value: 3),
            .load(cpu: 1, slot: 1, addr: b + 0x10),
            .exit(cpu: 1, slot: 1),
            .store(cpu: 0, slot: 0, addr: b + 0x7000, value: 4),
            .fork(cpu: 2, slot: 0),
            .exit(cpu: 2, slot: 1),
            .store(cpu: 0, slot: 0, addr: b + 0x9000, value: 5),
        ], variant: variant)
        #expect(r.failure == nil, "\(String(describing: r.failure))")
        #expect(r.stats.thpForkCopies >= 1)
    }

    /// Batches on one 2 MiB, under many schedules: two MADV_DONTNEEDs of it
    /// and a fault; a partial MADV_DONTNEED beside accesses; a fork beside
    /// writes.  Whatever order the machine took, the model explains it.
    @Test(arguments: acceptedVariants)
    func batchesOnOneHugePage(variant: Variant) {
        let b = Self.base, h = Self.huge, p = Self.page
        let batches: [[Op]] = [
            [.madvise(cpu: 0, slot: 0, addr: b, length: h, advice: .dontneed),
             .madvise(cpu: 1, slot: 0, addr: b, length: h, advice: .dontneed),
             .store(cpu: 2, slot: 0, addr: b + 0x4000, value: 7)],
            [.madvise(cpu: 0, slot: 0, addr: b + 8 * p, length: 4 * p, advice: .dontneed),
             .load(cpu: 1, slot: 0, addr: b + 9 * p), .store(cpu: 2, slot: 0, addr: b + 0x100000, value: 8),
             .store(cpu: 1, slot: 0, addr: b + 10 * p, value: 9)],
            [.fork(cpu: 0, slot: 0), .store(cpu: 1, slot: 0, addr: b + 0x3000, value: 10),
             .load(cpu: 2, slot: 0, addr: b + 0x5000)],
            // The load's fault maps the 2 MiB; the store writes it before
            // the load reads.
            [.load(cpu: 0, slot: 0, addr: b + 0x1db000), .store(cpu: 1, slot: 0, addr: b + 0x1db000, value: 1)],
            [.munmap(cpu: 0, slot: 0, addr: b + h - 2 * p, length: 4 * p),
             .store(cpu: 1, slot: 0, addr: b + h - p, value: 11), .load(cpu: 2, slot: 0, addr: b + 0x6000)],
        ]
        var faults: UInt64 = 0
        for (k, batch) in batches.enumerated() {
            for seed: UInt64 in 0 ..< 12 {
                for prefault in [false, true] {
                    let schedule: Scheduler = seed % 3 == 0 ? .random(seed: seed, switchPermille: 300)
                        : seed % 3 == 1 ? .window(seed: seed, switchPermille: 10, windowPermille: 1000)
                        : .pct(seed: seed, depth: 3, steps: 400)
                    var ops = Self.setUp
                    if prefault { ops.append(.load(cpu: 3, slot: 0, addr: b)) }
                    ops.append(.parallel(Batch(ops: batch, schedule: schedule)))
                    let r = Self.run(ops, variant: variant)
                    faults += r.stats.thpFaults
                    let what: Comment = "batch \(k) seed \(seed) prefault \(prefault): \(String(describing: r.failure))"
                    #expect(r.failure == nil, what)
                }
            }
        }
        #expect(faults > 0)
    }
}

@Suite struct HugeGeneratorTests {
    let generator = CaseGenerator(settings: GeneratorSettings())

    /// One case in eight has huge areas: mmaps of whole 2 MiB given
    /// MADV_HUGEPAGE, then accesses; ranges at their edges; huge batches.
    @Test func casesReachTheHugePaths() {
        var advised = 0, unadvised = 0, alignedMaps = 0, hugeBatches = 0, edges = 0
        var casesWithAdvice = 0
        for seed in 0 ..< 300 {
            let c = generator.generate(seed: UInt64(seed), variant: .baseline)
            var any = false
            func look(_ op: Op) {
                switch op.request {
                case .madvise(_, _, .hugepage)?:
                    advised += 1
                    any = true
                case .madvise(_, _, .nohugepage)?:
                    unadvised += 1
                case .mmap(let a, let l, _, let f)? where f.contains(.fixed) && a % (1 << 21) == 0
                    && l % (1 << 21) == 0:
                    alignedMaps += 1
                case .madvise(let a, let l, .dontneed)?, .munmap(let a, let l)?, .mprotect(let a, let l, _)?:
                    // Across a 2 MiB boundary, or one whole 2 MiB.
                    let across = l > 0 && l < 1 << 32 && (a & ~0x1f_ffff) != ((a &+ l &- 1) & ~0x1f_ffff)
                    if across || a % (1 << 21) == 0 && l == 1 << 21 {
                        edges += 1
                    }
                default:
                    break
                }
            }
            for op in c.ops {
                look(op)
                if case .parallel(let b) = op {
                    b.ops.forEach(look)
                    if b.ops.contains(where: {
                        if case .madvise(let a, let l, .dontneed)? = $0.request { return a % (1 << 21) == 0 && l == 1 << 21 }
                        return false
                    }) { hugeBatches += 1 }
                }
            }
            if any { casesWithAdvice += 1 }
        }
        #expect(casesWithAdvice > 20 && casesWithAdvice < 60)
        #expect(advised > 60 && unadvised > 3)
        #expect(alignedMaps > 30)
        #expect(edges > 60)
        #expect(hugeBatches > 1)
    }

    /// One race case in eight races on a 2 MiB page, on a machine
    /// with room for it.
    @Test func raceCasesOnAHugePage() {
        let races = RaceGenerator(settings: GeneratorSettings())
        var huge = 0
        for seed in 0 ..< 200 {
            let c = races.generate(seed: UInt64(seed), variant: .baseline)
            let advised = c.ops.contains { if case .madvise(_, _, .hugepage)? = $0.request { return true }; return false }
            if advised {
                huge += 1
                #expect(c.config.frames >= 2048)
            }
            #expect(c.ops.last?.kind == .parallel)
        }
        #expect(huge > 10 && huge < 45)
    }
}
