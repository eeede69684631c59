import MMFuzz
import MMModel
import MMSim
import PropertyBased
import Testing

/// Property tests over short op sequences, shrunk by swift-property-based
/// alongside the engine's own shrinker: whatever the sequence, the machine
/// and the model agree and every check passes.
///
/// Each op is self-contained (slots resolve against whatever mms are live,
/// an op without a live mm is skipped), so any subsequence the library
/// shrinks to is still a valid case.
@Suite(.shrinking) struct PropertyTests {
    /// Pages around a pud boundary (1 GiB): tables of every level are
    /// allocated and freed.
    static let base: UInt64 = 1 << 30

    static func op(kind: Int, cpu: Int, slot: Int, page: Int, pages: Int, aux: Int) -> Op {
        let addr = UInt64(Int64(base) + Int64(page) * 4096)
        let length = UInt64(pages) * 4096
        let prots: [Int32] = [0, 1, 3, 7]
        switch kind {
        case 0: return .newMM
        case 1: return .fork(cpu: cpu, slot: slot)
        case 2: return .exit(cpu: cpu, slot: slot)
        case 3:
            let flags: Int32 = (aux & 1 == 0 ? 0x02 : 0x01) | 0x20 | 0x10
            return .mmap(cpu: cpu, slot: slot, addr: addr, length: length, prot: prots[aux % 4], flags: flags)
        case 4: return .munmap(cpu: cpu, slot: slot, addr: addr, length: length)
        case 5: return .mprotect(cpu: cpu, slot: slot, addr: addr, length: length, prot: prots[aux % 4])
        case 6: return .madvise(cpu: cpu, slot: slot, addr: addr, length: length, advice: 4)
        case 7: return .switchMM(cpu: cpu, slot: aux == 0 ? nil : slot)
        case 8, 9: return .load(cpu: cpu, slot: slot, addr: addr)
        case 10, 11, 12: return .store(cpu: cpu, slot: slot, addr: addr, value: UInt64(aux + 1))
        case 13: return .failNthAlloc(n: UInt64(aux % 4 + 1))
        case 14: return .exec(cpu: cpu, slot: slot)
        default: return .mmGet(slot: slot)
        }
    }

    static let opGen = zip(
        Gen.int(in: 0 ... 15), Gen.int(in: 0 ... 3), Gen.int(in: 0 ... 2),
        Gen.int(in: -8 ... 8), Gen.int(in: 1 ... 8), Gen.int(in: 0 ... 7)
    ).map { kind, cpu, slot, page, pages, aux in
        op(kind: kind, cpu: cpu, slot: slot, page: page, pages: pages, aux: aux)
    }

    static func check(_ ops: [Op], config: CaseConfig, variant: Variant) {
        let c = FuzzCase(config: config, variant: variant, seed: 0, ops: [.newMM] + ops)
        let result = CaseRunner.run(c)
        #expect(result.failure == nil, "\(variant): \(result.failure.map(String.init(describing:)) ?? "")")
    }

    @Test(arguments: acceptedVariants)
    func shortSequencesAgree(variant: Variant) async {
        await propertyCheck(count: 150, input: Self.opGen.array(of: 1 ... 40)) { ops in
            Self.check(ops, config: CaseConfig(cpus: 4, frames: 4096), variant: variant)
        }
    }

    /// A small machine (out of frames often) on two CPUs.
    @Test(arguments: acceptedVariants)
    func shortSequencesAgreeOnASmallMachine(variant: Variant) async {
        await propertyCheck(count: 100, input: Self.opGen.array(of: 1 ... 40)) { ops in
            Self.check(ops, config: CaseConfig(cpus: 2, frames: 48, tlb: 8, psc: 2), variant: variant)
        }
    }

    /// One CPU: the vector gather's fast mode.
    @Test func shortSequencesAgreeOnOneCPU() async {
        await propertyCheck(count: 100, input: Self.opGen.array(of: 1 ... 40)) { ops in
            let one = ops.map { $0.with(cpu: 0) }
            for variant in acceptedVariants {
                Self.check(one, config: CaseConfig(cpus: 1, frames: 4096), variant: variant)
            }
        }
    }
}
