import Testing
@testable import MMModel

let page: UInt64 = 4096
let taskSize: UInt64 = 0x7fff_ffff_f000

let PROT_NONE: Int32 = 0, PROT_READ: Int32 = 1, PROT_WRITE: Int32 = 2, PROT_EXEC: Int32 = 4
let RW: Int32 = 3
let MAP_SHARED: Int32 = 0x01, MAP_PRIVATE: Int32 = 0x02, MAP_FIXED: Int32 = 0x10
let MAP_ANONYMOUS: Int32 = 0x20
let privateAnon: Int32 = MAP_PRIVATE | MAP_ANONYMOUS
let sharedAnon: Int32 = MAP_SHARED | MAP_ANONYMOUS
let MADV_DONTNEED: Int32 = 4

let ESRCH: Outcome = .errno(3), EBADF: Outcome = .errno(9)
let ENOMEM: Outcome = .errno(12), EINVAL: Outcome = .errno(22)

/// A model driven by a test as the engine would drive it: each call with
/// the machine's outcome.  A call the model rejects fails the test.
struct Driver {
    var model: Model
    /// The next id a well-behaved machine would hand out.
    var nextID: Int32 = 0

    init(cpus: Int = 4) { model = Model(cpus: cpus) }

    /// Applies `call` with `outcome`; throws the model's divergence.
    mutating func run(_ call: Call, _ outcome: Outcome, mayFail: Bool = false) throws(Divergence) {
        try model.apply(call, outcome: outcome, mayFailAllocation: mayFail)
    }

    /// Checks that `call` diverges with `outcome`, on a copy: the model
    /// itself is left as it was.
    @discardableResult
    func diverges(_ call: Call, _ outcome: Outcome, mayFail: Bool = false,
                  sourceLocation: SourceLocation = #_sourceLocation) -> Divergence? {
        var copy = model
        do {
            try copy.apply(call, outcome: outcome, mayFailAllocation: mayFail)
        } catch {
            return error
        }
        Issue.record("\(call) with \(outcome) was accepted", sourceLocation: sourceLocation)
        return nil
    }

    /// Checks, on copies, that `call` accepts `outcome` and rejects every
    /// one of `wrong`; then applies `outcome`.
    mutating func only(_ call: Call, _ outcome: Outcome, not wrong: [Outcome],
                       mayFail: Bool = false,
                       sourceLocation: SourceLocation = #_sourceLocation) throws(Divergence) {
        for w in wrong where w != outcome {
            diverges(call, w, mayFail: mayFail, sourceLocation: sourceLocation)
        }
        try run(call, outcome, mayFail: mayFail)
    }

    mutating func newMM() throws(Divergence) -> Int32 {
        let id = nextID
        nextID += 1
        try run(.newMM, .mm(id))
        return id
    }

    mutating func fork(_ mm: Int32, cpu: Int = 0) throws(Divergence) -> Int32 {
        let id = nextID
        nextID += 1
        try run(.fork(cpu: cpu, mm: mm), .mm(id))
        return id
    }

    mutating func exec(_ mm: Int32, cpu: Int = 0) throws(Divergence) -> Int32 {
        let id = nextID
        nextID += 1
        try run(.exec(cpu: cpu, mm: mm), .mm(id))
        return id
    }

    /// MAP_FIXED mapping of `pages` pages at `addr`.
    mutating func map(_ mm: Int32, _ addr: UInt64, pages: UInt64 = 1, prot: Int32 = RW,
                      shared: Bool = false) throws(Divergence) {
        try run(.mmap(cpu: 0, mm: mm, addr: addr, length: pages * page, prot: prot,
                      flags: (shared ? sharedAnon : privateAnon) | MAP_FIXED), .address(addr))
    }

    mutating func store(_ mm: Int32, _ addr: UInt64, _ value: UInt64, cpu: Int = 0) throws(Divergence) {
        try run(.store(cpu: cpu, mm: mm, addr: addr, value: value), .value(value))
    }

    /// A load that must return `value` and nothing else.
    mutating func load(_ mm: Int32, _ addr: UInt64, _ value: UInt64, cpu: Int = 0,
                       sourceLocation: SourceLocation = #_sourceLocation) throws(Divergence) {
        let call = Call.load(cpu: cpu, mm: mm, addr: addr)
        for wrong: Outcome in [.value(value &+ 1), .value(0), .segv] where wrong != .value(value) {
            diverges(call, wrong, sourceLocation: sourceLocation)
        }
        try run(call, .value(value))
    }

    func state(_ mm: Int32) -> MMState { model.state(of: mm)! }
}

func mapping(_ start: UInt64, _ end: UInt64, _ prot: Int32, shared: Bool = false) -> Mapping {
    Mapping(start: start, end: end, prot: prot, shared: shared)
}
