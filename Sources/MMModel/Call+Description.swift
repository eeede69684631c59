/// Calls as a kernel developer reads them: addresses and lengths in hex.
extension Call: CustomStringConvertible {
    public var description: String {
        func hex(_ x: UInt64) -> String { "0x" + String(x, radix: 16) }
        func hex(_ x: Int32) -> String {
            x < 0 ? "-0x" + String(x.magnitude, radix: 16) : "0x" + String(x, radix: 16)
        }
        switch self {
        case .newMM:
            return "newMM()"
        case .fork(let cpu, let mm):
            return "fork(cpu \(cpu), mm \(mm))"
        case .mmGet(let mm):
            return "mmGet(mm \(mm))"
        case .exit(let cpu, let mm):
            return "exit(cpu \(cpu), mm \(mm))"
        case .exec(let cpu, let mm):
            return "exec(cpu \(cpu), mm \(mm))"
        case .mmap(let cpu, let mm, let addr, let length, let prot, let flags):
            return "mmap(cpu \(cpu), mm \(mm), addr \(hex(addr)), length \(hex(length)), "
                + "prot \(prot), flags \(hex(flags)))"
        case .munmap(let cpu, let mm, let addr, let length):
            return "munmap(cpu \(cpu), mm \(mm), addr \(hex(addr)), length \(hex(length)))"
        case .mprotect(let cpu, let mm, let addr, let length, let prot):
            return "mprotect(cpu \(cpu), mm \(mm), addr \(hex(addr)), length \(hex(length)), prot \(prot))"
        case .madvise(let cpu, let mm, let addr, let length, let advice):
            return "madvise(cpu \(cpu), mm \(mm), addr \(hex(addr)), length \(hex(length)), advice \(advice))"
        case .switchMM(let cpu, let mm):
            return "switchMM(cpu \(cpu), mm \(mm.map { "\($0)" } ?? "none (kernel thread)"))"
        case .load(let cpu, let mm, let addr):
            return "load(cpu \(cpu), mm \(mm), addr \(hex(addr)))"
        case .store(let cpu, let mm, let addr, let value):
            return "store(cpu \(cpu), mm \(mm), addr \(hex(addr)), value \(hex(value)))"
        }
    }
}
