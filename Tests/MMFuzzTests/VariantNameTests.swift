import MMFuzz
import MMSim
import Testing

/// Short names: one per variant, read back; the old eight unchanged.
@Suite struct VariantNameTests {
    @Test func everyCombinationHasAShortNameThatReadsBack() {
        let names = Variant.allCombinations.map(\.name)
        #expect(Set(names).count == Variant.allCombinations.count)
        for v in Variant.allCombinations {
            #expect(Variant(name: v.name) == v, "\(v.name)")
        }
    }

    @Test func sharingVariantsGetASuffix() {
        #expect(Variant.baseline.name == "vector/mm/nopreempt")
        #expect(Variant(gather: .inplace, ptl: .split, preempt: true).name == "inplace/split/preempt")
        #expect(Variant(gather: .vector, ptl: .split, preempt: false, share: .fork).name
                == "vector/split/nopreempt/share")
        #expect(Variant(gather: .inplace, ptl: .split, preempt: true, share: .fork, sharemask: .precise).name
                == "inplace/split/preempt/share-precise")
        #expect(Variant.allCombinations.prefix(8).allSatisfy { $0.name.split(separator: "/").count == 3 })
    }

    @Test func namesTheKernelCannotRunAreNotNames() {
        #expect(Variant(name: "vector/mm/preempt/share") == nil)
        #expect(Variant(name: "vector/split/preempt/shared") == nil)
        #expect(Variant(name: "vector/split/preempt/") == nil)
        #expect(Variant(name: "vector/split/preempt/share/x") == nil)
    }
}
