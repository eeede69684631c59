import MMSim
import Testing

/// Bytes in a page.
let page = Machine.pageSize
let rw = Prot.readWrite

/// The variants this build of the simulator accepts: every combination
/// that `Machine.init` does not refuse with EINVAL.  The kernel-path tests
/// run on each, so they cover a new variant as soon as the C side has it.
let supportedVariants: [Variant] = Variant.allCombinations.filter { variant in
    (try? Machine(.default(cpus: 4, variant: variant))) != nil
}

/// The baseline (2.6.16) kernel with CONFIG_PREEMPT on and off.
let baselineVariants: [Variant] = [
    Variant(gather: .vector, ptl: .mm, preempt: false),
    Variant(gather: .vector, ptl: .mm, preempt: true),
]

/// A 4-CPU machine with the C side's defaults otherwise.
func makeMachine(cpus: Int = 4, frames: Int? = nil, variant: Variant = .baseline) throws -> Machine {
    try Machine(.default(cpus: cpus, frames: frames, variant: variant))
}

/// The audit finds nothing and no checker fired.
func expectClean(_ m: Machine, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(m.check() == 0, sourceLocation: sourceLocation)
    let violations = m.violations
    #expect(violations.isEmpty, "\(violations.map(\.description))", sourceLocation: sourceLocation)
}

/// Every mm exits, then the leak audit finds nothing.
func expectNoLeaks(_ m: Machine, exiting mms: [MMID], cpu: Int = 0,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
    for mm in mms {
        try m.exit(cpu: cpu, mm: mm)
    }
    #expect(try m.checkLeaks() == 0, sourceLocation: sourceLocation)
    expectClean(m, sourceLocation: sourceLocation)
}

/// A mapping of `pages` anonymous pages.
func mapAnon(_ m: Machine, cpu: Int = 0, mm: MMID, pages: UInt64, shared: Bool = false,
             prot: Prot = rw) throws -> UInt64 {
    try m.mmap(cpu: cpu, mm: mm, length: pages * page, prot: prot,
               flags: shared ? .anonymousShared : .anonymousPrivate)
}

/// A store that must complete.
func put(_ m: Machine, cpu: Int, mm: MMID, _ addr: UInt64, _ value: UInt64,
         sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(try m.store(cpu: cpu, mm: mm, addr: addr, value: value) == .ok(value),
            sourceLocation: sourceLocation)
}

/// A value for page `p` written at step `step`.
func tag(_ step: UInt64, _ p: UInt64) -> UInt64 {
    0xabcd_0000_0000_0000 | step << 32 | p
}
