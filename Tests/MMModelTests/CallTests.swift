import Foundation
import MMModel
import Testing

/// The one vocabulary: a call is who + a request, coded, printed and
/// mapped back from the machine's return by the request alone.
@Suite struct CallTests {
    static let calls: [Call] = [
        .newMM, .fork(cpu: 1, mm: 2), .mmGet(mm: 3), .exit(cpu: 0, mm: 1), .exec(cpu: 2, mm: 1),
        .mmap(cpu: 1, mm: 2, addr: 0x1000, length: 0x2000, prot: 3, flags: 0x22),
        .mmap(cpu: 0, mm: 0, addr: 0, length: 1, prot: -1, flags: -1),
        .munmap(cpu: 3, mm: 0, addr: .max, length: 0),
        .mprotect(cpu: 0, mm: 1, addr: 0x7fff_ffff_f000, length: 4096, prot: 0x1000000),
        .madvise(cpu: 1, mm: 1, addr: 0x1000, length: 0x10000, advice: 4),
        .switchMM(cpu: 1, mm: nil), .switchMM(cpu: 2, mm: 5),
        .load(cpu: 0, mm: 0, addr: 0x4000_0007), .store(cpu: 3, mm: 7, addr: 0x4000_0000, value: .max),
        .reclaim(cpu: 2, pages: 64), .reclaim(cpu: -1, pages: .max),
    ]

    @Test func everyKindIsCovered() {
        #expect(Set(Self.calls.map(\.request.kind)) == Set(Request.Kind.allCases))
    }

    @Test(arguments: calls)
    func jsonRoundTrip(call: Call) throws {
        let data = try JSONEncoder().encode(call)
        #expect(try JSONDecoder().decode(Call.self, from: data) == call)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        #expect(object?["op"] as? String == call.request.kind.rawValue)
        // Who is coded only where the request names it.
        #expect((object?["cpu"] != nil) == call.request.kind.who.namesCPU)
    }

    @Test func textAsAKernelDeveloperReadsIt() {
        #expect(Call.newMM.description == "newMM()")
        #expect(Call.mmGet(mm: 3).description == "mmGet(mm 3)")
        #expect(Call.munmap(cpu: 3, mm: 0, addr: 0x1000, length: 0x2000).description
            == "munmap(cpu 3, mm 0, addr 0x1000, length 0x2000)")
        #expect(Call.mmap(cpu: 1, mm: 2, addr: 0x1000, length: 0x2000, prot: 3, flags: -1).description
            == "mmap(cpu 1, mm 2, addr 0x1000, length 0x2000, prot 3, flags 0xffffffff)")
        #expect(Call.switchMM(cpu: 1, mm: nil).description == "switchMM(cpu 1, mm none (kernel thread))")
        // kswapd: a kernel thread, no mm at all; its count in decimal.
        #expect(Call.reclaim(cpu: 2, pages: 64).description == "reclaim(cpu 2, pages 64)")
    }

    /// reclaim's JSON: `{"op": "reclaim", "cpu": 2, "pages": 64}`, no mm;
    /// a count given as a string reads too.
    @Test func reclaimIsCodedWithoutAnMM() throws {
        let text = String(decoding: try JSONEncoder().encode(Call.reclaim(cpu: 2, pages: 64)), as: UTF8.self)
        #expect(!text.contains("\"mm\""))
        #expect(text.contains("\"pages\":64"))
        let read = try JSONDecoder().decode(Call.self, from: Data(#"{"op": "reclaim", "cpu": 1, "mm": 3, "pages": "0x10"}"#.utf8))
        #expect(read == .reclaim(cpu: 1, pages: 16))
        #expect(read.mm == nil)
    }

    /// A request that names no CPU or no mm drops them, so equal calls
    /// are equal however they were built.
    @Test func whoIsWhatTheRequestNames() {
        #expect(Call(cpu: 3, mm: 4, .newMM) == .newMM)
        #expect(Call(cpu: 3, mm: 4, .mmGet) == .mmGet(mm: 4))
        #expect(Call(cpu: 3, mm: 4, .reclaim(pages: 1)) == .reclaim(cpu: 3, pages: 1))
    }

    @Test func outcomeFromTheMachinesReturn() {
        let einval = -Int64(Errno.EINVAL.rawValue), efault = -Int64(Errno.EFAULT.rawValue)
        let enomem = -Int64(Errno.ENOMEM.rawValue)
        #expect(Outcome(.munmap, ret: 0, out: 0) == .ok)
        #expect(Outcome(.munmap, ret: einval, out: 0) == .errno(22))
        #expect(Outcome(.mmap, ret: 0, out: 0x1000) == .address(0x1000))
        #expect(Outcome(.fork, ret: 0, out: 7) == .mm(7))
        #expect(Outcome(.newMM, ret: enomem, out: 0) == .errno(12))
        #expect(Outcome(.load, ret: 0, out: 9) == .value(9))
        #expect(Outcome(.store, ret: efault, out: 0) == .segv)
        #expect(Outcome(.load, ret: enomem, out: 0) == .oom)
        #expect(Outcome(.load, ret: einval, out: 0) == .errno(22))
        // EFAULT from a call that is no access is just an errno.
        #expect(Outcome(.mprotect, ret: efault, out: 0) == .errno(14))
        #expect(Outcome(.reclaim, ret: 0, out: 12) == .count(12))
        #expect(Outcome(.reclaim, ret: enomem, out: 0) == .errno(12))
    }

    @Test func unknownOpIsNamed() {
        let text = #"{"op": "mremap", "cpu": 0, "mm": 0}"#
        #expect {
            _ = try JSONDecoder().decode(Call.self, from: Data(text.utf8))
        } throws: { error in
            "\(error)".contains("unknown op 'mremap'")
        }
    }
}
