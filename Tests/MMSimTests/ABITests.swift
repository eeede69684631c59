import CMMSim
import Foundation
import MMCall
@testable import MMSim
import Testing

/// The Swift side spells the machine's ABI once, in MMCall (pure Swift, so
/// the model can use it without the C machine); these prove each of its
/// constants equal to mmsim.h's.
@Suite struct ABITests {
    /// Each boot option lists every case once with its own C value, so
    /// that a config read from C names the case that was written.
    @Test func bootOptionsNameEveryCaseOnce() {
        func check<T: BootOption & Hashable>(_: T.Type, _ c: [UInt32]) {
            #expect(T.cValues.count == T.allCases.count)
            #expect(Set(T.cValues.map(\.value)) == Set(c))
            for option in T.allCases { #expect(T(c: option.c) == option) }
            #expect(T(c: 99) == nil)
        }
        check(Gather.self, [MMSIM_GATHER_VECTOR.rawValue, MMSIM_GATHER_INPLACE.rawValue])
        check(PTL.self, [MMSIM_PTL_MM.rawValue, MMSIM_PTL_SPLIT.rawValue])
        check(Share.self, [MMSIM_SHARE_OFF.rawValue, MMSIM_SHARE_FORK.rawValue])
        check(ShareMask.self, [MMSIM_SHAREMASK_ALL.rawValue, MMSIM_SHAREMASK_PRECISE.rawValue])
    }

    @Test func protMapAndAdviceAreMMSimH() {
        #expect(Prot.none.rawValue == MMSIM_PROT_NONE)
        #expect(Prot.read.rawValue == MMSIM_PROT_READ)
        #expect(Prot.write.rawValue == MMSIM_PROT_WRITE)
        #expect(Prot.exec.rawValue == MMSIM_PROT_EXEC)
        #expect(MapFlags.shared.rawValue == MMSIM_MAP_SHARED)
        #expect(MapFlags.private.rawValue == MMSIM_MAP_PRIVATE)
        #expect(MapFlags.fixed.rawValue == MMSIM_MAP_FIXED)
        #expect(MapFlags.anonymous.rawValue == MMSIM_MAP_ANONYMOUS)
        #expect(MapFlags.denyWrite.rawValue == MMSIM_MAP_DENYWRITE)
        #expect(MapFlags.noReserve.rawValue == MMSIM_MAP_NORESERVE)
        #expect(MapFlags.stack.rawValue == MMSIM_MAP_STACK)
        #expect(Advice.dontneed.rawValue == MMSIM_MADV_DONTNEED)
        #expect(Advice.hugepage.rawValue == MMSIM_MADV_HUGEPAGE)
        #expect(Advice.nohugepage.rawValue == MMSIM_MADV_NOHUGEPAGE)
        #expect(Advice.hugepage.description == "MADV_HUGEPAGE")
        #expect(Advice.nohugepage.description == "MADV_NOHUGEPAGE")
        #expect(Advice(rawValue: 9).description == "advice 9")
    }

    /// `struct mmsim_pte_info`'s `huge` (the old pad) reaches `PTEInfo`:
    /// same size as before, the field at the pad's place, and a lookup
    /// of a 4 KiB page says it is not huge.
    @Test func pteInfoHugeIsTheCField() throws {
        #expect(MemoryLayout<mmsim_pte_info>.size == 32)
        #expect(MemoryLayout<mmsim_pte_info>.offset(of: \.huge) == 28)
        let m = try Machine(.default(cpus: 1, frames: 64))
        let mm = try m.newMM()
        let base = try m.mmap(cpu: 0, mm: mm, length: 4096, prot: .readWrite, flags: .anonymousPrivate)
        _ = try m.store(cpu: 0, mm: mm, addr: base, value: 7)
        let pte = try #require(try m.lookup(mm: mm, addr: base))
        #expect(pte.present && !pte.huge)
        // Decoding a PTEInfo written before the field existed.
        let old = #"{"pfn": 3, "word0": 7, "present": true, "writable": true}"#
        let decoded = try JSONDecoder().decode(PTEInfo.self, from: Data(old.utf8))
        #expect(!decoded.huge && decoded.pfn == 3)
        try m.exit(cpu: 0, mm: mm)
    }

    /// The model predicts Linux's numbers; mmsim.h states the numbers the
    /// machine returns (and the C refuses to build where the host's
    /// <errno.h> differs).
    @Test func errnoValuesAreMMSimH() {
        let header: [(Errno, Int32)] = [
            (.ENOENT, MMSIM_ENOENT), (.ESRCH, MMSIM_ESRCH), (.EBADF, MMSIM_EBADF),
            (.ENOMEM, MMSIM_ENOMEM), (.EFAULT, MMSIM_EFAULT), (.EBUSY, MMSIM_EBUSY),
            (.EINVAL, MMSIM_EINVAL), (.EDEADLK, MMSIM_EDEADLK),
        ]
        for (swift, c) in header {
            #expect(swift.rawValue == c, "\(swift.name)")
        }
        #expect(Set(header.map(\.0)) == Set(Errno.all))
    }

    @Test func requestKindsAreMMSimH() {
        let header: [Request.Kind: mmsim_op_kind] = [
            .mmap: MMSIM_OP_MMAP, .munmap: MMSIM_OP_MUNMAP, .mprotect: MMSIM_OP_MPROTECT,
            .madvise: MMSIM_OP_MADVISE, .fork: MMSIM_OP_FORK, .load: MMSIM_OP_LOAD,
            .store: MMSIM_OP_STORE, .switchMM: MMSIM_OP_SWITCH_MM, .newMM: MMSIM_OP_MM_NEW,
            .mmGet: MMSIM_OP_MM_GET, .exit: MMSIM_OP_EXIT, .exec: MMSIM_OP_EXEC,
            .reclaim: MMSIM_OP_RECLAIM,
        ]
        #expect(header.count == Request.Kind.allCases.count)
        #expect(Request.Kind.allCases.count == Int(MMSIM_OP_NR.rawValue) - 1)
        for kind in Request.Kind.allCases {
            #expect(kind.number == header[kind]?.rawValue, "\(kind)")
        }
        #expect(Request.Kind.reclaim.number == 13)
    }

    /// reclaim is kswapd: a kernel thread on a CPU, no mm (MMSIM_NO_MM
    /// goes in the op), its count of pages in `len`, its reply in `out`.
    @Test func reclaimIsAKernelThreadsCall() throws {
        let r = Request.reclaim(pages: 64)
        #expect(r.kind.who == .kernelThread)
        #expect(r.kind.who.namesCPU && !r.kind.who.namesMM)
        #expect(r.kind.reply == .count && r.kind.batchable && r.kind.lifetime == .none)
        #expect(!r.kind.mayFreeRange && !r.kind.mayReduceMappings)
        #expect(r.abi == Request.ABI(kind: UInt32(MMSIM_OP_RECLAIM.rawValue), len: 64))
        #expect(r.range == nil)
        // A kernel thread's call carries no mm, whatever the caller had.
        #expect(ConcurrentOp(cpu: 1, mm: MMID(rawValue: 3), r).mm == nil)
        #expect(Outcome(.reclaim, ret: 0, out: 5) == .count(5))
        #expect(Outcome(.reclaim, ret: -22, out: 0) == .errno(22))
        #expect(r.description == "reclaim(pages 64)")
        #expect(r.jsonFields.map(\.key) == ["pages"] && r.jsonFields.map(\.value) == ["64"])
    }

    /// The new fields of the views: a swap entry in mmsim_pte_info and the
    /// count of them in mmsim_mm_info reach Swift.
    @Test func swapFieldsReachTheViews() throws {
        let m = try Machine(.default(cpus: 2, frames: 256))
        let mm = try m.newMM()
        let base = try m.mmap(cpu: 0, mm: mm, length: 4 * 4096, prot: .readWrite, flags: .anonymousPrivate)
        for p in 0 ..< UInt64(4) {
            _ = try m.store(cpu: 0, mm: mm, addr: base + p * 4096, value: 0x5a00 + p)
        }
        #expect(try m.reclaim(cpu: 1, pages: 4) == 4)
        let info = try m.info(of: mm)
        #expect(info.swapEnts == 4 && info.anonRSS == 0)
        let pte = try #require(try m.lookup(mm: mm, addr: base + 4096))
        #expect(pte.swapped && !pte.present && !pte.writable)
        #expect(pte.word0 == 0x5a01)
        // Its identity is past the frames: the frame count plus its slot.
        #expect(pte.pfn > 256 && pte.pfn <= 512)
        #expect(MemoryLayout<mmsim_pte_info>.size == 32)
        try m.exit(cpu: 0, mm: mm)
    }

    /// Every request goes through the one entry and back: its ABI form
    /// names the request it came from.
    @Test func abiFormRoundTrips() {
        let requests: [Request] = [
            .newMM, .fork, .mmGet, .exit, .exec, .switchMM,
            .mmap(addr: 0x1000, length: 0x2000, prot: .readWrite, flags: .anonymousPrivate),
            .munmap(addr: 0x1000, length: 0x2000), .mprotect(addr: 0x1000, length: 0x2000, prot: .read),
            .madvise(addr: 0x1000, length: 0x2000, advice: .dontneed),
            .load(addr: 0x1008), .store(addr: 0x1008, value: 7), .reclaim(pages: 12),
        ]
        #expect(Set(requests.map(\.kind)) == Set(Request.Kind.allCases))
        for r in requests {
            #expect(Request(abi: r.abi) == r)
        }
        #expect(Request(abi: Request.ABI(kind: UInt32(MMSIM_OP_NR.rawValue))) == nil)
    }

    /// A kind the machine does not know is refused, not run as another.
    @Test func unknownKindIsEINVAL() throws {
        let m = try Machine()
        m.withCMachine { c in
            var op = mmsim_op()
            op.kind = UInt32(MMSIM_OP_NR.rawValue)
            #expect(mmsim_call(c, &op) == -MMSIM_EINVAL)
            op.kind = 0
            #expect(mmsim_call(c, &op) == -MMSIM_EINVAL)
        }
    }

    /// Batches take only the kinds the C table marks, the ones the Swift
    /// side calls batchable.
    @Test(arguments: Request.Kind.allCases)
    func batchesTakeTheBatchableKinds(kind: Request.Kind) throws {
        let m = try Machine()
        let mm = try m.newMM()
        let request = Request(abi: Request.ABI(kind: kind.number, addr: 0x1000, len: 0x1000))!
        let result = Result { () throws(Errno) in
            try m.runConcurrent([ConcurrentOp(cpu: 0, mm: mm, request)], scheduler: .random(seed: 1, switchPermille: 0))
        }
        if kind.batchable {
            #expect(throws: Never.self) { try result.get() }
        } else {
            #expect(throws: Errno.EINVAL) { try result.get() }
        }
    }
}
