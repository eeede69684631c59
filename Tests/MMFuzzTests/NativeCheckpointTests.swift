import Testing
@testable import MMFuzz
import MMModel

/// A model and host processes side by side, driven by hand: a request is
/// made on both (``both(_:mm:)``), on the host only (``host(_:mm:)``: the
/// host changed behind the model's back) or told to the model only
/// (``tell(_:mm:_:)``: the model's view corrupted), so that each checker
/// of ``NativeCheckpoint`` can be shown to fire from its invariant.
final class CheckpointRig {
    /// Case address of window 512 (1 GiB): the rig's windows are 512 ... 515.
    static let base: UInt64 = 512 << 21
    let relocation: NativeRelocation
    var model = Model(cpus: 1)
    var children: [Int32: NativeChild] = [:]
    /// Hooks only (huge faults, MADV_HUGEPAGE noted): checks are explicit.
    var checkpoint: NativeCheckpoint

    init() throws {
        relocation = NativeRelocation(caseWindows: Set(512 ... 515))!
        checkpoint = NativeCheckpoint(relocation: relocation, interval: .max)
        try newProcess(mm: 1)
    }

    /// A host process for `mm` (and a new mm in the model, unless
    /// `modelToo` is false).
    func newProcess(mm: Int32, modelToo: Bool = true) throws {
        let c = try NativeChild()
        for (s, n) in relocation.runs {
            let r = try c.call(kind: 2, offset: s << 21, length: n << 21)
            #expect(r == .ok(0))
        }
        children[mm] = c
        if modelToo { try model.apply(.newMM, outcome: .mm(mm), mayFailAllocation: false) }
    }

    var processes: [NativeProcess] {
        children.sorted { $0.key < $1.key }.map { ($0.key, $0.value.pid, $0.value) }
    }

    /// Makes `request` on the host process of `mm` only.
    @discardableResult
    func host(_ request: Request, mm: Int32 = 1) throws -> Outcome {
        let abi = request.abi
        let c = children[mm]!
        let reply = try c.call(kind: abi.kind, offset: relocation.offset(abi.addr)!, length: abi.len,
                               prot: abi.prot, flags: abi.flags, value: abi.value)
        var o = try NativeRunner.outcome(of: reply, request, 0, relocation)
        if case .store(_, let v) = request, o == .value(0) { o = .value(v) }
        return o
    }

    /// Tells the model `request` of `mm` had `outcome`.
    func tell(_ request: Request, mm: Int32 = 1, _ outcome: Outcome) throws {
        try model.apply(Call(cpu: 0, mm: mm, request), outcome: outcome, mayFailAllocation: false)
    }

    /// Makes `request` on the host and tells the model, with the
    /// checkpoint's hooks around it; returns a difference the hooks found.
    @discardableResult
    func both(_ request: Request, mm: Int32 = 1) throws -> NativeDifference? {
        let empty = checkpoint.before(request, mm: mm, model: model)
        let o = try host(request, mm: mm)
        try tell(request, mm: mm, o)
        return try checkpoint.after(request, index: 0, opIndex: 0, mm: mm, outcome: o, windowWasEmpty: empty, model: &model,
                                    processes: processes)
    }

    func check() throws -> [NativeCheckFinding] {
        try checkpoint.check(model: model, processes: processes)
    }

    static func mmap(_ a: UInt64, _ l: UInt64, prot: Prot = .readWrite, shared: Bool = false) -> Request {
        .mmap(addr: a, length: l, prot: prot, flags: [shared ? .shared : .private, .anonymous, .fixed])
    }
}

/// Findings' checks, for expectations.
private func checks(_ f: [NativeCheckFinding]) -> Set<NativeCheck> { Set(f.map(\.check)) }

/// Checkpoints of `mmfuzz native`: the host's state of every process
/// (`/proc/PID/maps`, `mincore`, `/proc/PID/pagemap`, `/proc/kpageflags`,
/// `/proc/PID/smaps`, `/proc/PID/mem`) against the model's.  Each checker
/// is shown to fire on a host changed behind the model's back, or a model
/// view corrupted, and to stay quiet on generated cases.
@Suite("NativeCheckpoint", .enabled(if: nativeHost, "the host is not Linux"))
struct NativeCheckpointTests {
    typealias Rig = CheckpointRig
    static let base = CheckpointRig.base

    @Test("a state both agree on passes: private, shared, zero pages, write-only protection")
    func agreement() throws {
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 0x4000))
        try rig.both(.store(addr: Self.base + 8, value: 0))
        try rig.both(.store(addr: Self.base + 0x1000, value: 42))
        try rig.both(.load(addr: Self.base + 0x2000))                          // the zero page
        try rig.both(Rig.mmap(Self.base + 0x10000, 0x2000, shared: true))
        try rig.both(.store(addr: Self.base + 0x10000, value: 7))
        try rig.both(.load(addr: Self.base + 0x11000))                         // shmem: a page of its own
        try rig.both(.mprotect(addr: Self.base + 0x1000, length: 0x1000, prot: .read))
        try rig.both(Rig.mmap(Self.base + 0x20000, 0x1000, prot: .write))      // -w- on the host
        try rig.both(.madvise(addr: Self.base + 0x10000, length: 0x1000, advice: .dontneed))
        let findings = try rig.check()
        #expect(findings.isEmpty, "\(findings)")
        #expect(rig.checkpoint.adaptations[NativeAdaptation.zeroPage.rawValue] == 1)
        #expect(rig.checkpoint.adaptations[NativeAdaptation.protImpliedRead.rawValue] == 1)
        // The shared page DONTNEED dropped stays in its object: mincore
        // says resident, the model's state has no page there.
        #expect(rig.checkpoint.adaptations[NativeAdaptation.shmemCacheResident.rawValue] == 1)
    }

    @Test("maps: an mmap, an mprotect, a shared mapping the model was not told of")
    func mapsFire() throws {
        for extra: Request in [Rig.mmap(Self.base + 0x100000, 0x1000),
                               .mprotect(addr: Self.base, length: 0x1000, prot: .read),
                               Rig.mmap(Self.base + 0x1000, 0x1000, shared: true)] {
            let rig = try Rig()
            try rig.both(Rig.mmap(Self.base, 0x4000))
            #expect(try rig.check().isEmpty)
            try rig.host(extra)
            let findings = try rig.check()
            #expect(checks(findings) == [.maps], "\(extra): \(findings)")
        }
    }

    @Test("residency and rss: a page the host dropped, a page only the host has")
    func residencyFires() throws {
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 0x4000))
        try rig.both(.store(addr: Self.base, value: 1))
        try rig.host(.madvise(addr: Self.base, length: 0x1000, advice: .dontneed))
        var findings = try rig.check()
        #expect(checks(findings) == [.residency, .rss], "\(findings)")
        #expect(findings.contains { $0.message.contains("the model has a page at 0x40000000") })
        #expect(findings.contains { $0.message.contains("mincore says the page at 0x40000000 is not resident") })

        let other = try Rig()
        try other.both(Rig.mmap(Self.base, 0x4000))
        try other.host(.store(addr: Self.base + 0x3000, value: 1))
        findings = try other.check()
        #expect(checks(findings) == [.residency, .rss], "\(findings)")
        #expect(findings.contains { $0.message.contains("the host has a page at 0x40003000") })
    }

    @Test("residency by mincore alone, on a host view changed by hand")
    func mincoreFires() throws {
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 0x4000))
        try rig.both(.store(addr: Self.base + 0x1000, value: 1))
        let views = try rig.checkpoint.observe(rig.model, rig.processes)
        #expect(rig.checkpoint.compare(rig.model, views).findings.isEmpty)
        let window = Self.base >> 21
        for flip in [1, 2] {   // page 1 not resident; page 2 resident
            var changed = views
            changed[0].resident[window]![0] ^= 1 << UInt64(flip)
            let findings = rig.checkpoint.compare(rig.model, changed).findings
            #expect(findings.count == 1 && findings[0].check == .residency && findings[0].message.contains("mincore"),
                    "\(findings)")
        }
    }

    @Test("contents: a store made on the host only, to a page it had read (the zero page)")
    func contentsFire() throws {
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 0x4000))
        try rig.both(.load(addr: Self.base + 0x1000))
        #expect(try rig.check().isEmpty)
        try rig.host(.store(addr: Self.base + 0x1000, value: 7))
        let findings = try rig.check()
        #expect(checks(findings) == [.contents], "\(findings)")
        #expect(findings.first?.message.contains("holds word0 0x7 on the host") == true)
    }

    @Test("the zero page: the model's page must hold 0")
    func zeroPageRule() throws {
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 0x4000))
        try rig.both(.load(addr: Self.base + 0x1000))
        try rig.tell(.store(addr: Self.base + 0x1000, value: 5), .value(5))
        let findings = try rig.check()
        #expect(checks(findings) == [.identity], "\(findings)")
        #expect(findings.first?.message.contains("the zero page") == true)
    }

    @Test("identity: the model shares a frame the host does not; the host shares one the model does not")
    func identityFires() throws {
        // Two host processes, each with a page of its own; the model's
        // mm 2 a fork of mm 1, sharing its frame.
        let rig = try Rig()
        try rig.newProcess(mm: 2, modelToo: false)
        for mm: Int32 in [1, 2] {
            try rig.host(Rig.mmap(Self.base, 0x2000), mm: mm)
            try rig.host(.store(addr: Self.base, value: 9), mm: mm)
        }
        try rig.tell(Rig.mmap(Self.base, 0x2000), .address(Self.base))
        try rig.tell(.store(addr: Self.base, value: 9), .value(9))
        try rig.tell(.fork, .mm(2))
        var findings = try rig.check()
        #expect(checks(findings) == [.identity, .exclusive], "\(findings)")
        #expect(findings.contains { $0.check == .identity && $0.message.contains("the model has one frame") })

        // One host process standing for two mms the model keeps apart.
        let one = try Rig()
        try one.tell(.newMM, .mm(2))
        one.children[2] = one.children[1]
        try one.host(Rig.mmap(Self.base, 0x2000))
        try one.host(.store(addr: Self.base, value: 9))
        for mm: Int32 in [1, 2] {
            try one.tell(Rig.mmap(Self.base, 0x2000), mm: mm, .address(Self.base))
            try one.tell(.store(addr: Self.base, value: 9), mm: mm, .value(9))
        }
        findings = try one.check()
        #expect(checks(findings) == [.identity], "\(findings)")
        #expect(findings.first?.message.contains("the model two frames") == true)
    }

    @Test("exclusive: the model's frame mapped twice, the host's page once")
    func exclusiveFires() throws {
        // One host process stands for mm 1 and its fork in the model: the
        // same page, the same frame, but mapped once on the host.
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 0x2000))
        try rig.both(.store(addr: Self.base, value: 3))
        try rig.tell(.fork, .mm(2))
        rig.children[2] = rig.children[1]
        let findings = try rig.check()
        #expect(checks(findings) == [.exclusive], "\(findings)")
        #expect(findings.count == 2)   // the page, seen from each mm
    }

    @Test("rss alone, on a host view changed by hand")
    func rssFires() throws {
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 0x4000))
        try rig.both(.store(addr: Self.base, value: 1))
        try rig.both(.load(addr: Self.base + 0x1000))   // a zero page: not in Rss
        var views = try rig.checkpoint.observe(rig.model, rig.processes)
        #expect(views[0].rssPages == 1)
        #expect(rig.checkpoint.compare(rig.model, views).findings.isEmpty)
        views[0].rssPages = 2
        let findings = rig.checkpoint.compare(rig.model, views).findings
        #expect(checks(findings) == [.rss], "\(findings)")
    }

    @Test("huge faults: a THP at a store and the huge zero page at a load are adopted")
    func hugeFaultsAdopted() throws {
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 4 << 20))
        try rig.both(.madvise(addr: Self.base, length: 4 << 20, advice: .hugepage))
        #expect(try rig.both(.store(addr: Self.base + 0x3008, value: 11)) == nil)
        #expect(try rig.both(.load(addr: Self.base + (2 << 20) + 0x5000)) == nil)
        #expect(rig.checkpoint.adaptations[NativeAdaptation.hostHugePage.rawValue] == 2)
        #expect(rig.model.state(of: 1)!.pages.count == 1024)
        var findings = try rig.check()
        #expect(findings.isEmpty, "\(findings)")
        #expect(rig.checkpoint.adaptations[NativeAdaptation.zeroPage.rawValue] == 512)
        // A store into the huge zero page: a THP of its own (or, when
        // none can be had, the pmd split into zero pages and one page).
        try rig.both(.store(addr: Self.base + (2 << 20) + 0x7000, value: 12))
        // Part of the THP dropped: its pmd split.
        try rig.both(.madvise(addr: Self.base + 0x10000, length: 0x3000, advice: .dontneed))
        findings = try rig.check()
        #expect(findings.isEmpty, "\(findings)")
    }

    @Test("huge: a 2 MiB page where the model allows none (MADV_HUGEPAGE on the host only)")
    func hugeFires() throws {
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 2 << 20))
        try rig.host(.madvise(addr: Self.base, length: 2 << 20, advice: .hugepage))
        let d = try #require(try rig.both(.store(addr: Self.base, value: 1)))
        #expect(d.message.contains("checkpoint huge"), "\(d)")
        #expect(d.message.contains("not one accessible private anonymous mapping given MADV_HUGEPAGE"))
    }

    /// MADV_COLLAPSE: khugepaged's collapse, made at once.
    static let madvCollapse: Int32 = 25

    @Test("khugepaged: a collapse is let through where MADV_HUGEPAGE went, and not elsewhere")
    func collapse() throws {
        for advised in [true, false] {
            let rig = try Rig()
            try rig.both(Rig.mmap(Self.base, 2 << 20))
            try rig.both(.store(addr: Self.base + 0x1000, value: 5))   // a small page: no MADV_HUGEPAGE yet
            if advised { try rig.both(.madvise(addr: Self.base, length: 2 << 20, advice: .hugepage)) }
            #expect(try rig.check().isEmpty)
            let r = try rig.children[1]!.call(kind: 4, offset: rig.relocation.offset(Self.base)!, length: 2 << 20,
                                              flags: Self.madvCollapse)
            guard r == .ok(0) else {
                print("NativeCheckpointTests: MADV_COLLAPSE answered \(r): collapse not tested")
                return
            }
            let findings = try rig.check()
            if advised {
                #expect(findings.isEmpty, "\(findings)")
                #expect(rig.checkpoint.adaptations[NativeAdaptation.khugepagedCollapse.rawValue, default: 0] >= 511)
            } else {
                #expect(checks(findings).contains(.residency), "\(findings)")
            }
        }
    }

    @Test("shmem fault-around: let through where a load of the mm may have mapped it, not elsewhere")
    func faultAround() throws {
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 0x20000, shared: true))
        for page: UInt64 in [0, 1, 0x10, 0x11] { try rig.both(.store(addr: Self.base + page << 12, value: page + 1)) }
        try rig.both(.madvise(addr: Self.base, length: 0x20000, advice: .dontneed))   // the object keeps them
        #expect(try rig.check().isEmpty)
        // A read fault at page 2 maps pages 0 and 1 as well, from the object.
        try rig.both(.load(addr: Self.base + 0x2000))
        var findings = try rig.check()
        #expect(findings.isEmpty, "\(findings)")
        #expect(rig.checkpoint.adaptations[NativeAdaptation.shmemFaultAround.rawValue] == 2)
        // A fault made behind the model's back in the next 64 KiB: its
        // own page is found (pages 0x10 and 0x11 it mapped around it lie
        // within reach of the load at page 2).
        try rig.host(.load(addr: Self.base + 0x12000))
        findings = try rig.check()
        #expect(checks(findings) == [.residency, .rss], "\(findings)")
        #expect(findings.contains { $0.message.contains("the host has a page at 0x40012000") })

        // A vma starting inside a 64 KiB block: fault-around's 16 pages
        // start at the vma and reach into the next block (seed 892).
        let shifted = try Rig()
        try shifted.both(Rig.mmap(Self.base + 0xb000, 0x8000, shared: true))
        try shifted.both(.store(addr: Self.base + 0x12000, value: 1))
        try shifted.both(.madvise(addr: Self.base + 0xb000, length: 0x8000, advice: .dontneed))
        try shifted.both(.load(addr: Self.base + 0xf000))
        findings = try shifted.check()
        #expect(findings.isEmpty, "\(findings)")
        #expect(shifted.checkpoint.adaptations[NativeAdaptation.shmemFaultAround.rawValue] == 1)
    }

    @Test("without PFNs: identity is not checked, exclusivity still is")
    func withoutPFNs() throws {
        let rig = try Rig()
        rig.checkpoint.pretendNoPFNs = true
        try rig.both(Rig.mmap(Self.base, 0x4000))
        try rig.both(.store(addr: Self.base, value: 3))
        try rig.both(.load(addr: Self.base + 0x1000))
        #expect(try rig.check().isEmpty)
        #expect(rig.checkpoint.adaptations[NativeAdaptation.pagemapWithoutPFNs.rawValue] == 1)
        try rig.tell(.fork, .mm(2))
        rig.children[2] = rig.children[1]
        let findings = try rig.check()
        #expect(checks(findings) == [.exclusive], "\(findings)")
    }

    @Test("maps: a live mm without a host process, a host process for an mm the model has not")
    func processesAndMMs() throws {
        let rig = try Rig()
        try rig.both(Rig.mmap(Self.base, 0x2000))
        var findings = try rig.checkpoint.check(model: rig.model, processes: [])
        #expect(checks(findings) == [.maps] && findings[0].message.contains("no host process"), "\(findings)")
        let c = rig.children[1]!
        findings = try rig.checkpoint.check(model: rig.model, processes: [(1, c.pid, c), (9, c.pid, c)])
        #expect(checks(findings) == [.maps] && findings[0].mm == 9, "\(findings)")
    }

    @Test("exec-only: PROT_EXEC alone is asked of the host with PROT_READ, counted")
    func execOnly() throws {
        let base: UInt64 = 0x4000_0000
        let ops: [Op] = [
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: base, length: 0x2000, prot: .exec, flags: [.private, .anonymous, .fixed]),
            .load(cpu: 0, slot: 0, addr: base),
            .mprotect(cpu: 0, slot: 0, addr: base, length: 0x2000, prot: .readWrite),
            .store(cpu: 0, slot: 0, addr: base + 0x1000, value: 1),
            .mprotect(cpu: 0, slot: 0, addr: base, length: 0x1000, prot: .exec),
            .load(cpu: 0, slot: 0, addr: base + 8),
        ]
        let c = try #require(NativeCase(FuzzCase(config: CaseConfig(cpus: 1, frames: 64), variant: .baseline,
                                                 seed: 0, ops: ops)))
        let result = try NativeRunner(checkpointInterval: 1).run(c)
        #expect(result.difference == nil, "\(result.difference.map(\.description) ?? "")")
        #expect(result.adaptations[NativeAdaptation.protExecReadable.rawValue] == 2)
    }

    @Test("the runner reports a checkpoint's difference on the request after which it ran")
    func runnerReports() throws {
        let base: UInt64 = 0x4000_0000
        let ops: [Op] = [
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: base, length: 0x4000, prot: .readWrite, flags: [.private, .anonymous, .fixed]),
            .store(cpu: 0, slot: 0, addr: base, value: 1),
            .load(cpu: 0, slot: 0, addr: base + 0x1000),
            .load(cpu: 0, slot: 0, addr: base),
            .store(cpu: 0, slot: 0, addr: base + 0x2000, value: 2),
            .exit(cpu: 0, slot: 0),
        ]
        let c = try #require(NativeCase(FuzzCase(config: CaseConfig(cpus: 1, frames: 64), variant: .baseline,
                                                 seed: 0, ops: ops)))
        let clean = try NativeRunner(checkpointInterval: 2).run(c)
        #expect(clean.difference == nil)
        // Requests: 0 newMM, 1 mmap, 2 store, 3 load, 4 load, 5 store, 6
        // exit.  Checkpoints after requests 2 and 4, and before the exit.
        #expect(clean.checkpoints == 3)
        // An mprotect the model is not told of, after request 1: found by
        // the checkpoint after request 2.
        var runner = NativeRunner(checkpointInterval: 2)
        runner.hostOnly = [1: [.mprotect(addr: base + 0x3000, length: 0x1000, prot: .read)]]
        var d = try #require(try runner.run(c).difference)
        #expect(d.index == 2 && d.host == "checkpoint" && d.message.contains("checkpoint maps"), "\(d)")
        #expect(d.check == "maps" && d.opIndex == 2, "\(d)")
        // After request 5: found before the exit, after request 5.
        runner.hostOnly = [5: [.mprotect(addr: base + 0x3000, length: 0x1000, prot: .read)]]
        d = try #require(try runner.run(c).difference)
        #expect(d.index == 5, "\(d)")
        // Without checkpoints nothing is found.
        runner.checkpointInterval = nil
        #expect(try runner.run(c).difference == nil)
    }

    @Test("generated cases agree with the host at every checkpoint", arguments: 0 ..< 4)
    func generated(chunk: Int) throws {
        var cases = 0, checkpoints = 0
        var adaptations: [String: Int] = [:]
        for i in 0 ..< 8 {
            let seed = UInt64(7000 + chunk * 8 + i)
            guard let c = NativeCase.generate(seed: seed) else { continue }
            let result = try NativeRunner(checkpointInterval: 5).run(c)
            #expect(result.difference == nil, "seed \(seed): \(result.difference.map(\.description) ?? "")")
            cases += 1
            checkpoints += result.checkpoints
            for (k, n) in result.adaptations { adaptations[k, default: 0] += n }
        }
        #expect(cases >= 6)
        #expect(checkpoints > cases * 3)
        print("NativeCheckpointTests chunk \(chunk): \(cases) cases, \(checkpoints) checkpoints, "
            + "\(adaptations.filter { !$0.key.hasPrefix("not-native") }.sorted { $0.key < $1.key })")
    }
}
