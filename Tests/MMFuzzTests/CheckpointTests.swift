@testable import MMFuzz
@testable import MMModel
import MMSim
import Testing

/// The checkpoint's frame-identity check: pages the model says share a
/// frame must have one pfn, pages it says differ must have distinct pfns.
/// The model is edited behind the machine's back (a test-only
/// `@testable` edit) so that exactly one of the two rules breaks.
@Suite struct CheckpointTests {
    /// A runner whose mm 0 has two private pages written, at 0x10000 and
    /// 0x11000, and a fork (mm 1) sharing both copy-on-write.
    func runner() throws -> CaseRunner {
        let r = try CaseRunner(config: CaseConfig(cpus: 1, frames: 256), variant: .baseline)
        let ops: [Op] = [
            .newMM,
            .mmap(cpu: 0, slot: 0, addr: 0x10000, length: 0x2000, prot: [.read, .write],
                  flags: [.private, .anonymous, .fixed]),
            .store(cpu: 0, slot: 0, addr: 0x10000, value: 7),
            .store(cpu: 0, slot: 0, addr: 0x11000, value: 7),
            .fork(cpu: 0, slot: 0),
        ]
        for (i, op) in ops.enumerated() {
            #expect(r.step(op, index: i) == nil)
        }
        #expect(r.checkpoint() == nil)
        return r
    }

    @Test("two pages of one frame in the model, two frames in the machine")
    func keySharedByTwoPfns() throws {
        let r = try runner()
        let mm = r.live[0]
        // Page 0x11 of mm 0 takes the frame of page 0x10 (equal words, so
        // only identity differs).
        let key = r._model.spaces[mm]!.pages[0x10]!
        let old = r._model.spaces[mm]!.pages[0x11]!
        r._model.frames[key].users += 1
        r._model.release(old)
        r._model.spaces[mm]!.pages[0x11] = key
        let f = try #require(r.checkpoint())
        #expect(f.kind == "state:frames")
        #expect(f.message.contains("shares its frame"))
    }

    @Test("one frame in the machine, two in the model")
    func pfnSharedByTwoKeys() throws {
        let r = try runner()
        let child = r.live[1]
        // The child's page 0x10 gets a copy of its own in the model; the
        // machine still shares the frame copy-on-write.
        let key = r._model.spaces[child]!.pages[0x10]!
        let words = r._model.frames[key].words
        r._model.release(key)
        let copy = r._model.newFrame(users: 1, object: 0)
        r._model.frames[copy].words = words
        r._model.spaces[child]!.pages[0x10] = copy
        let f = try #require(r.checkpoint())
        // The user-page count differs as well, but pages are compared
        // first.
        #expect(f.kind == "state:frames")
        #expect(f.message.contains("are both pfn"))
    }

    @Test("frame identity by arrays: both rules, and a fresh start forgets")
    func identityArrays() {
        var ids = FrameIdentity()
        let a = FrameKey(raw: 1 << 32 | 3), b = FrameKey(raw: 1 << 32 | 5)
        ids.start(frames: 8, slots: 6)
        var ok = ids.agree(pfn: 2, key: a)
        #expect(ok)
        ok = ids.agree(pfn: 2, key: a)
        #expect(ok)
        ok = ids.agree(pfn: 2, key: b)
        #expect(!ok)   // one pfn, two keys
        ids.start(frames: 8, slots: 6)
        ok = ids.agree(pfn: 2, key: a)
        #expect(ok)
        ok = ids.agree(pfn: 4, key: a)
        #expect(!ok)   // one key, two pfns
        ids.start(frames: 8, slots: 6)
        ok = ids.agree(pfn: 4, key: a)
        #expect(ok)
        ok = ids.agree(pfn: 2, key: b)
        #expect(ok)
        ok = ids.agree(pfn: 4, key: b)
        #expect(!ok)
        ok = ids.agree(pfn: 2, key: a)
        #expect(!ok)
    }
}

/// Checkpoints where pages live in swap: the model's anon rss is the
/// machine's anon_rss plus its swap entries, page identity reaches past
/// the frames (swap slots), and a page in swap without a swap-cache page
/// is a user page the machine holds in a slot, not a frame.
@Suite struct SwapCheckpointTests {
    static let table: [Op] = [
        .newMM,
        .mmap(cpu: 0, slot: 0, addr: 0x4000_0000, length: 512 * 4096, prot: [.read, .write],
              flags: [.private, .anonymous, .fixed]),
        .touch(cpu: 0, slot: 0, addr: 0x4000_0000, pages: 12, value: 0x77_0000),
        .fork(cpu: 1, slot: 0),
        .store(cpu: 1, slot: 1, addr: 0x4000_1000, value: 5),
    ]

    @Test(arguments: [Variant.baseline, Variant(gather: .inplace, ptl: .split, preempt: true, share: .fork)])
    func everyPageInSwapPassesBothPaths(variant: Variant) throws {
        let r = try CaseRunner(config: CaseConfig(cpus: 2, frames: 256), variant: variant)
        for (i, op) in (Self.table + [.reclaim(cpu: 0, pages: 100)]).enumerated() {
            #expect(r.step(op, index: i) == nil)
        }
        #expect(r.machine.stats.pagesReclaimed == 13)
        #expect(r.machine.stats.swapSlotsNow == 13)
        // Both checkpoint paths agree, and agree it passes.
        #expect(r.checkpoint() == nil)
        #expect(r.compareStateInFull(index: nil, op: nil) == nil)
        // Half of them back (a swap-in each; the others stay in swap).
        for p: UInt64 in 0 ..< 6 {
            #expect(r.step(.load(cpu: 1, slot: 0, addr: 0x4000_0000 + p * 4096), index: 10) == nil)
        }
        #expect(r.checkpoint() == nil)
        #expect(r.compareStateInFull(index: nil, op: nil) == nil)
        #expect(r.finish() == nil)
    }

    /// A page in swap whose value the model has wrong is still caught,
    /// by both paths alike.
    @Test func aWrongValueInSwapIsCaught() throws {
        let r = try CaseRunner(config: CaseConfig(cpus: 2, frames: 256), variant: .baseline)
        for (i, op) in (Self.table + [.reclaim(cpu: 0, pages: 100)]).enumerated() {
            #expect(r.step(op, index: i) == nil)
        }
        let mm = r.live[0]
        let key = r._model.spaces[mm]!.pages[0x4000_0000 >> 12]!
        r._model.frames[key].words[0] = 1
        let f = try #require(r.checkpoint())
        #expect(f.kind == "state:page")
        #expect(r.compareStateInFull(index: nil, op: nil)?.kind == "state:page")
    }

    /// share=fork: a MADV_DONTNEED that cannot copy a shared table fails
    /// with ENOMEM and keeps its pages; the engine tells the model so.
    @Test func dontneedStoppedByATableCopyIsAdopted() throws {
        let variant = Variant(gather: .vector, ptl: .split, preempt: false, share: .fork)
        let ops: [Op] = Array(Self.table.prefix(4)) + [
            .failNthAlloc(n: 1),
            .madvise(cpu: 1, slot: 1, addr: 0x4000_0000, length: 4 * 4096, advice: .dontneed),
            .load(cpu: 0, slot: 1, addr: 0x4000_0000),
        ]
        let result = CaseRunner.run(FuzzCase(config: CaseConfig(cpus: 2, frames: 256), variant: variant,
                                             seed: 0, ops: ops))
        #expect(result.failure == nil, "\(result.failure.map(String.init(describing:)) ?? "")")
        #expect(result.outcomes.adoptedDrops == 1)
        #expect(result.outcomes.enomem == 1)
    }
}
