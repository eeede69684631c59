/// The reference model: the abstract truth of every address space on the
/// machine, kept as value types so that a copy is cheap.
///
/// It shares no code with the C kernel and reads none of its state to make
/// its predictions.  For each ``Call`` it predicts the result (value, errno,
/// SIGSEGV) and checks the machine's ``Outcome`` against it; where the
/// machine may choose (the address of an mmap without MAP_FIXED, the id of
/// a new mm, whether an allocation failed), it checks that the choice is
/// valid and adopts it.
public struct Model: Hashable, Sendable {
    /// The top of user space (x86-64's TASK_SIZE).
    public static let taskSize: UInt64 = Geometry.taskSize
    /// Bytes in a page.
    public static let pageSize: UInt64 = Geometry.pageSize
    /// Where the bottom-up search for a free range starts (2.6.16's
    /// legacy layout, `TASK_UNMAPPED_BASE`).  The model does not require
    /// the machine to search from there, but it accepts ENOMEM from an
    /// mmap without a usable hint only when no room is left above it.
    public static let unmappedBase: UInt64 = Geometry.pageAlign(Geometry.taskSize / 3)

    /// CPUs of the machine: `0 ..< cpus` are valid.
    public let cpus: Int

    /// Live address spaces by id.
    var spaces = SpaceTable()
    /// Every id the machine has ever returned for a new mm.
    var usedIDs: Set<Int32> = []
    /// Every live user frame by key: private frames mapped by at least one
    /// address space, and the pages of live shared objects.
    var frames = FrameTable()
    /// Live shared objects by key.
    var objects = ObjectTable()
    var nextObject: UInt64 = 1
    /// What an mprotect that failed for lack of memory left undecided,
    /// until ``adoptProtection(mm:mappings:)`` settles it.
    var undecided: UndecidedProtection?
    /// The range of a MADV_DONTNEED that failed for lack of memory, whose
    /// pages the machine may or may not have dropped, until
    /// ``adoptPages(mm:machine:)`` settles it.
    var undecidedDrop: UndecidedPages?
    /// Whether a reclaim has taken some page to swap: a fault on a page
    /// the model has present may then need a frame (a swap-in), so an
    /// access to it may run out of memory.  Where a page lives is the
    /// machine's business; that it may have to be read back is not.
    public internal(set) var pagesMayBeInSwap = false
    /// Whether the kernel may share pte tables between mms (fork shares
    /// them): then an munmap or an mmap over a mapping may need a table
    /// of its own first and fail for lack of memory before changing
    /// anything, even where no mapping is split.  A boot option, set by
    /// whoever runs the machine.
    public var tablesMayBeShared = false

    public init(cpus: Int) {
        self.cpus = cpus
    }

    /// Ids of the mms that have users, ascending.
    public var liveMMs: [Int32] { spaces.keys }

    /// Tasks using `mm` (`mm_users`), or nil when it has none.
    public func users(of mm: Int32) -> Int? { spaces[mm]?.users }

    /// The abstract state of `mm`, or nil when it has no users.
    public func state(of mm: Int32) -> MMState? {
        guard let space = spaces[mm] else { return nil }
        var anon = 0, file = 0
        var pages: [UInt64: PageView] = [:]
        pages.reserveCapacity(space.pages.count)
        for (page, key) in space.pages {
            let frame = frames[key]
            if frame.object == 0 { anon += 1 } else { file += 1 }
            pages[page << Geometry.pageShift] =
                PageView(word0: frame.words[0] ?? 0, frame: FrameKey(raw: key))
        }
        let totalVM = space.segments.reduce(0) { $0 + Int($1.pages) }
        return MMState(mappings: space.normalized, anonRSS: anon, fileRSS: file,
                       totalVM: totalVM, pages: pages)
    }

    /// What ``state(of:)`` says of `mm`, without building its page
    /// dictionary or its mappings: each page goes to `visit` instead (in
    /// no particular order) until it returns false, and `complete` says
    /// whether every page was visited (the counters count only the
    /// visited ones otherwise); ``hasMappings(_:of:)`` compares the
    /// mappings.  Nil when `mm` has no users.
    public func visitState(
        of mm: Int32, _ visit: (_ address: UInt64, _ page: PageView) -> Bool
    ) -> (anonRSS: Int, fileRSS: Int, totalVM: Int, complete: Bool)? {
        guard let i = spaces.index(of: mm) else { return nil }
        let space = spaces[at: i]
        var anon = 0, file = 0
        var complete = true
        for (page, key) in space.pages {
            if frames[key].object == 0 { anon += 1 } else { file += 1 }
            if !visit(page << Geometry.pageShift,
                      PageView(word0: frames[key].words[0] ?? 0, frame: FrameKey(raw: key))) {
                complete = false
                break
            }
        }
        let totalVM = space.segments.reduce(0) { $0 + Int($1.pages) }
        return (anon, file, totalVM, complete)
    }

    /// Are `mappings` what ``state(of:)`` says are `mm`'s (its
    /// ``MMState/mappings``)?  Compared as they are made, without
    /// building them.  False when `mm` has no users.
    public func hasMappings(_ mappings: [Mapping], of mm: Int32) -> Bool {
        guard let i = spaces.index(of: mm) else { return false }
        var n = 0
        let same = spaces[at: i].forEachNormalized { m in
            guard n < mappings.count, mappings[n] == m else { return false }
            n += 1
            return true
        }
        return same && n == mappings.count
    }

    /// User frames the machine must hold: private pages (pages shared
    /// copy-on-write counted once) plus pages of shared objects.
    public var userPages: Int { frames.count }

    /// One more than the highest ``FrameKey/slot`` of a frame the model
    /// holds now.
    public var frameSlots: Int { frames.capacity }

    /// The range of a MADV_DONTNEED that ran out of memory, whose pages
    /// are undecided until ``adoptPages(mm:machine:)`` is called.
    public var undecidedPages: (mm: Int32, start: UInt64, end: UInt64)? {
        undecidedDrop.map { ($0.mm, $0.start, $0.end) }
    }

    /// Adopts what the machine kept of the range of a MADV_DONTNEED that
    /// failed with ENOMEM under `mayFailAllocation` (see
    /// ``undecidedPages``): it zaps vma by vma and stops where a shared
    /// pte table could not be copied, so some of the range's pages may
    /// be gone and others not.
    ///
    /// `machine` gives the first word of the page the machine still has
    /// at a page address of `mm` (present, or in swap), or nil when it
    /// has none there.  Every page the model has in the range and the
    /// machine kept must still hold the model's value; the others are
    /// dropped.
    public mutating func adoptPages(mm: Int32, machine: (UInt64) -> UInt64?) throws(Divergence) {
        guard let u = undecidedDrop, u.mm == mm, spaces.contains(mm) else {
            throw Divergence("adoptPages: nothing undecided in mm \(mm)")
        }
        undecidedDrop = nil
        var changed = spaces.removeValue(forKey: mm)!
        defer { spaces[mm] = changed }
        for page in changed.presentPages(u.start, u.end) {
            let key = changed.pages[page]!
            let address = page << Geometry.pageShift
            if let word0 = machine(address) {
                let expected = frames[key].words[0] ?? 0
                if word0 != expected {
                    throw Divergence("\(u.call) failed with errno 12: the machine kept the page at 0x"
                        + String(address, radix: 16) + " with word0 0x" + String(word0, radix: 16)
                        + ", the model's holds 0x" + String(expected, radix: 16))
                }
            } else {
                release(changed.pages.removeValue(forKey: page)!)
            }
        }
    }

    /// The range whose protection an mprotect that ran out of memory left
    /// undecided, until ``adoptProtection(mm:mappings:)`` is called.
    public var undecidedProtection: (mm: Int32, start: UInt64, end: UInt64)? {
        undecided.map { ($0.mm, $0.start, $0.end) }
    }

    /// Adopts the protection the machine left on the range of an mprotect
    /// that failed with ENOMEM under `mayFailAllocation` (see
    /// ``undecidedProtection``).
    ///
    /// `mappings` are the machine's mappings of `mm` (normalized, as in
    /// ``MMState``); only their parts inside the undecided range count.
    /// Every page there must have kept its old protection or taken the new
    /// one, the new one on a prefix of the range only (mprotect works from
    /// the start of the range and stops at its failure), and the range must
    /// be mapped exactly as before.  With nothing undecided for `mm`,
    /// `mappings` must agree with the model wherever they lie.
    public mutating func adoptProtection(mm: Int32, mappings: [Mapping]) throws(Divergence) {
        guard let space = spaces[mm] else {
            throw Divergence("adoptProtection: mm \(mm) has no users")
        }
        guard let u = undecided, u.mm == mm else {
            for m in mappings where m.start < m.end {
                for piece in space.pieces(m.start, m.end) where piece.prot != m.prot
                    || piece.isShared != m.shared {
                    throw Divergence("adoptProtection: mm \(mm): machine has \(m), model has "
                        + "\(Mapping(start: piece.start, end: piece.end, prot: piece.prot, shared: piece.isShared))")
                }
                if space.mappedPrefixEnd(m.start, m.end) != m.end {
                    throw Divergence("adoptProtection: mm \(mm): machine has \(m), model has a hole in it")
                }
            }
            return
        }
        try settle(u, space: space, mappings: mappings)
    }
}

/// The range of an mprotect that failed for lack of memory: the kernel
/// changed some prefix of it, ending at a boundary only it knows.
struct UndecidedProtection: Hashable, Sendable {
    var call: Call
    var mm: Int32
    var start: UInt64
    var end: UInt64
    var prot: Int32
    /// The range's segments before the call.
    var before: [Segment]
}

/// The range of a MADV_DONTNEED that failed for lack of memory: the
/// kernel dropped the pages of some of its vmas, and maybe part of one
/// more, and kept the rest.
struct UndecidedPages: Hashable, Sendable {
    var call: Call
    var mm: Int32
    var start: UInt64
    var end: UInt64
}

/// A result the model does not allow.
public struct Divergence: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What an address space looks like from outside the kernel.
public struct MMState: Hashable, Sendable {
    /// Mapped ranges in address order, adjacent ranges with the same
    /// protection and sharing merged (the kernel's vma boundaries are its
    /// own business).
    public var mappings: [Mapping]
    /// Private pages mapped (`anon_rss`).
    public var anonRSS: Int
    /// Shared pages mapped in this mm (`file_rss`).
    public var fileRSS: Int
    /// Pages of all mappings (`total_vm`).
    public var totalVM: Int
    /// Every page the mm has a pte for, by page address.
    public var pages: [UInt64: PageView]

    public init(mappings: [Mapping], anonRSS: Int, fileRSS: Int, totalVM: Int,
                pages: [UInt64: PageView]) {
        self.mappings = mappings
        self.anonRSS = anonRSS
        self.fileRSS = fileRSS
        self.totalVM = totalVM
        self.pages = pages
    }
}

public struct Mapping: Hashable, Sendable, CustomStringConvertible {
    public var start: UInt64
    public var end: UInt64
    /// PROT_* bits as the machine reports them (PROT_READ implied by
    /// PROT_WRITE or PROT_EXEC: x86 without NX cannot do otherwise).
    public var prot: Int32
    public var shared: Bool

    public init(start: UInt64, end: UInt64, prot: Int32, shared: Bool) {
        self.start = start
        self.end = end
        self.prot = prot
        self.shared = shared
    }

    public var description: String {
        "0x\(String(start, radix: 16))-0x\(String(end, radix: 16)) prot \(prot)\(shared ? " shared" : "")"
    }
}

/// One present page as the model sees it.
public struct PageView: Hashable, Sendable {
    /// The page's first 64-bit word.
    public var word0: UInt64
    /// Pages with equal keys must be backed by the same frame, pages with
    /// different keys by different frames.
    public var frame: FrameKey

    public init(word0: UInt64, frame: FrameKey) {
        self.word0 = word0
        self.frame = frame
    }
}

/// The identity of a frame in the model: a private page's copy, or a page
/// of a shared object.
public struct FrameKey: Hashable, Sendable {
    public var raw: UInt64
    public init(raw: UInt64) { self.raw = raw }

    /// A small number for the key, below the model's
    /// ``Model/frameSlots``: the frames a model holds at one time have
    /// distinct slots (a slot is reused once its frame is gone), so an
    /// array indexed by slot can stand for a dictionary by key.
    @inlinable public var slot: Int { Int(truncatingIfNeeded: raw & 0xffff_ffff) }
}

extension Model {
    /// A hash of the abstract state that does not depend on the keys the
    /// model happened to give frames and shared objects: states that
    /// differ only in that naming (the same calls applied in another
    /// order) hash alike.  For searches over orders of calls.
    public var canonicalHash: Int {
        var h = Hasher()
        var frameNames: [UInt64: Int] = [:]
        var objectNames: [UInt64: Int] = [:]
        func name(_ key: UInt64, _ names: inout [UInt64: Int]) -> Int {
            if let n = names[key] { return n }
            names[key] = names.count
            return names.count - 1
        }
        for id in spaces.keys {
            let space = spaces[live: id]
            h.combine(id)
            h.combine(space.users)
            for s in space.segments {
                h.combine(s.start)
                h.combine(s.end)
                h.combine(s.prot)
                h.combine(s.object == 0 ? -1 : name(s.object, &objectNames))
                h.combine(s.object == 0 ? 0 : s.pgoff)
                h.combine(s.hugeAdvised)
            }
            for page in space.pages.keys.sorted() {
                let key = space.pages[page]!
                h.combine(page)
                h.combine(name(key, &frameNames))
                h.combine(frames[key].words)
            }
        }
        // Pages of shared objects that no address space has present.
        for (object, n) in objectNames.sorted(by: { $0.value < $1.value }) {
            h.combine(n)
            for offset in objects[object]!.pages.keys.sorted() {
                let key = objects[object]!.pages[offset]!
                h.combine(offset)
                h.combine(name(key, &frameNames))
                h.combine(frames[key].words)
            }
        }
        h.combine(frames.count)
        h.combine(usedIDs)
        h.combine(pagesMayBeInSwap)
        return h.finalize()
    }
}
