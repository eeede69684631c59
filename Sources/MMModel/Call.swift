/// One call made to the machine, with every mm named by the machine's own
/// id, exactly as the driver passes it.  The model checks the machine's
/// ``Outcome`` of each call and adopts the machine's choices.
///
/// CPUs and ids are passed through unvalidated: a CPU out of range or an
/// id that names no live mm is a bad call whose errno the model predicts.
public enum Call: Hashable, Sendable, Codable {
    /// A new, empty mm with one user.
    case newMM
    /// fork() by the task of `mm` on `cpu`.
    case fork(cpu: Int, mm: Int32)
    /// clone(CLONE_VM): one more user of `mm`.
    case mmGet(mm: Int32)
    /// exit() of one task of `mm` on `cpu`.
    case exit(cpu: Int, mm: Int32)
    /// execve() by the task of `mm` on `cpu`.
    case exec(cpu: Int, mm: Int32)
    case mmap(cpu: Int, mm: Int32, addr: UInt64, length: UInt64, prot: Int32, flags: Int32)
    case munmap(cpu: Int, mm: Int32, addr: UInt64, length: UInt64)
    case mprotect(cpu: Int, mm: Int32, addr: UInt64, length: UInt64, prot: Int32)
    case madvise(cpu: Int, mm: Int32, addr: UInt64, length: UInt64, advice: Int32)
    /// Run `mm`'s task on `cpu`, or a kernel thread (lazy TLB) when nil.
    case switchMM(cpu: Int, mm: Int32?)
    case load(cpu: Int, mm: Int32, addr: UInt64)
    case store(cpu: Int, mm: Int32, addr: UInt64, value: UInt64)
}

/// What a call returned, as the driver saw it.
public enum Outcome: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Success without a value (munmap, mprotect, madvise, exit, mmGet,
    /// switchMM).
    case ok
    /// A new mm's id (newMM, fork, exec).
    case mm(Int32)
    /// The address an mmap chose.
    case address(UInt64)
    /// A load's value, or a store that completed.
    case value(UInt64)
    /// The task would get SIGSEGV.
    case segv
    /// The fault handler ran out of memory (VM_FAULT_OOM).
    case oom
    /// A negative errno, as a positive number (`EINVAL` is 22).
    case errno(Int32)

    public var description: String {
        switch self {
        case .ok: "ok"
        case .mm(let id): "mm \(id)"
        case .address(let a): "0x" + String(a, radix: 16)
        case .value(let v): "value 0x" + String(v, radix: 16)
        case .segv: "SIGSEGV"
        case .oom: "OOM"
        case .errno(let e): "errno \(e)"
        }
    }
}
