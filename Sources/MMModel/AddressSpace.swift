/// The model's private storage: abstract address spaces, frames and shared
/// objects.  Nothing here mirrors a kernel structure: a ``Segment`` is a
/// range the model keeps for its own bookkeeping (its boundaries are not
/// the kernel's vma boundaries), a ``Frame`` is the identity of a page's
/// contents, and a ``SharedObject`` is what MAP_SHARED|MAP_ANONYMOUS
/// creates.

/// Page geometry and the limits of user space (x86-64, 4 KiB pages).
enum Geometry {
    static let pageShift: UInt64 = 12
    static let pageSize: UInt64 = 1 << pageShift
    static let pageMask: UInt64 = pageSize - 1
    /// x86-64's TASK_SIZE: the top of user space.
    static let taskSize: UInt64 = 0x7fff_ffff_f000
    /// Bytes a pmd entry maps: one transparent huge page.
    static let hugeSize: UInt64 = 1 << 21

    /// Rounds up to a page; wraps to 0 near the top of the 64-bit space,
    /// as C's `PAGE_ALIGN` does.
    static func pageAlign(_ x: UInt64) -> UInt64 {
        (x &+ pageMask) & ~pageMask
    }
}

/// errno values, as positive numbers (MMCall's, which are mmsim.h's).
enum E {
    static var ESRCH: Int32 { Errno.ESRCH.rawValue }
    static var EBADF: Int32 { Errno.EBADF.rawValue }
    static var ENOMEM: Int32 { Errno.ENOMEM.rawValue }
    static var EINVAL: Int32 { Errno.EINVAL.rawValue }
}

/// The PROT_* and MAP_* bits the model understands.
enum Bits {
    static var protRead: Int32 { Prot.read.rawValue }
    static var protWrite: Int32 { Prot.write.rawValue }
    static var protExec: Int32 { Prot.exec.rawValue }
    static var protMask: Int32 { Prot([.read, .write, .exec]).rawValue }

    static var mapShared: Int32 { MapFlags.shared.rawValue }
    static var mapPrivate: Int32 { MapFlags.private.rawValue }
    /// Linux's MAP_TYPE: the sharing type's bits.
    static let mapType: Int32 = 0x0f
    static var mapFixed: Int32 { MapFlags.fixed.rawValue }
    static var mapAnonymous: Int32 { MapFlags.anonymous.rawValue }
    static var mapKnown: Int32 {
        MapFlags([.shared, .private, .fixed, .anonymous, .denyWrite, .noReserve, .stack]).rawValue
    }

    static var madvDontneed: Int32 { Advice.dontneed.rawValue }
    static var madvHugepage: Int32 { Advice.hugepage.rawValue }
    static var madvNohugepage: Int32 { Advice.nohugepage.rawValue }

    /// The protection a mapping gets for `prot` (already validated): x86
    /// without NX cannot grant write or exec without read.
    static func effective(_ prot: Int32) -> Int32 {
        prot == 0 ? 0 : prot | protRead
    }
}

/// A range of one address space with one protection, backed either by
/// private anonymous memory (`object == 0`) or by a shared object, whose
/// page `pgoff` sits at `start`.
struct Segment: Hashable, Sendable {
    var start: UInt64
    var end: UInt64
    var prot: Int32
    var object: UInt64
    var pgoff: UInt64
    /// MADV_HUGEPAGE may be in force here (given, and not taken back by
    /// a MADV_NOHUGEPAGE known to have passed): the kernel may map its
    /// private anonymous memory by 2 MiB pages.  A superset of where the
    /// kernel's vmas are marked (a madvise that failed half-way leaves
    /// the marks undecided, and counts as given).
    var hugeAdvised = false

    var pages: UInt64 { (end - start) >> Geometry.pageShift }
    var isShared: Bool { object != 0 }

    /// The object page that backs page number `page` (shared only).
    func objectPage(_ page: UInt64) -> UInt64 {
        pgoff + page - (start >> Geometry.pageShift)
    }

    /// Can `self`, just below `next`, be one segment with it?
    func joins(_ next: Segment) -> Bool {
        end == next.start && prot == next.prot && object == next.object &&
            hugeAdvised == next.hugeAdvised && (object == 0 || pgoff + pages == next.pgoff)
    }
}

/// The contents of one page, and who holds it.
struct Frame: Hashable, Sendable {
    /// Words written, by index in the page (0 ..< 512); absent words are 0.
    var words: PageWords
    /// For a private frame: the number of address spaces that map it.
    /// Unused (0) for a shared object's frame: the object holds it.
    var users: Int32
    /// The shared object the frame belongs to, or 0 for a private frame.
    var object: UInt64
}

/// Frames by page number: an address space's present pages and a shared
/// object's pages, found on nearly every call.  What a `[UInt64: UInt64]`
/// would hold, in a table of its own: open addressing with linear probing
/// over a power-of-two array, at most half full, the bucket chosen by
/// Fibonacci hashing (a multiply, the top bits), a removal closing its
/// gap by shifting the entries after it back (no tombstones).
///
/// A `Dictionary` runs SipHash on every key, in every lookup, insertion,
/// removal and each rehash as it grows (5 % of a checked run's
/// instructions); Dictionary's own hook for a cheaper hash is not API.
/// Page numbers come from the generator, not an adversary, and a
/// multiply by an odd constant spreads a run of them over the table.
///
/// Equal, and hashed, as the same set of entries whatever the order they
/// were made in or the table's size (as a dictionary is).
struct PageMap: Hashable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    fileprivate struct Entry: Sendable {
        var key: UInt64
        var value: UInt64
    }

    /// The key of an empty bucket: no page number or object offset is
    /// this large (page numbers are below 2^52).
    private static let vacant = UInt64.max
    /// Buckets: none, or a power of two (at least 8) with `count` of them
    /// at most half.
    private var table: [Entry] = []
    /// Entries held.
    private(set) var count = 0

    init() {}

    init(dictionaryLiteral elements: (UInt64, UInt64)...) {
        for (key, value) in elements { self[key] = value }
    }

    var isEmpty: Bool { count == 0 }

    /// The bucket `key` hashes to in a table of 2^(64 - `shift`) buckets.
    @inline(__always)
    private static func home(_ key: UInt64, shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9e37_79b9_7f4a_7c15) >> shift)
    }

    /// 64 - log2 of a table's size (not empty).
    @inline(__always)
    private static func shift(_ buckets: Int) -> UInt64 {
        UInt64(64 - buckets.trailingZeroBitCount)
    }

    subscript(key: UInt64) -> UInt64? {
        @inline(__always) get {
            guard count != 0 else { return nil }
            return table.withUnsafeBufferPointer { t in
                let mask = t.count - 1
                var i = Self.home(key, shift: Self.shift(t.count))
                while true {
                    let k = t[i].key
                    if k == key { return t[i].value }
                    if k == Self.vacant { return nil }
                    i = (i + 1) & mask
                }
            }
        }
        set {
            if let newValue {
                insert(key, newValue)
            } else {
                removeValue(forKey: key)
            }
        }
    }

    /// Sets `key` to `value`, adding it if missing.
    private mutating func insert(_ key: UInt64, _ value: UInt64) {
        precondition(key != Self.vacant, "PageMap: key \(key) is reserved")
        if (count + 1) * 2 > table.count { resize(to: Swift.max(8, table.count * 2)) }
        let added = table.withUnsafeMutableBufferPointer { t in
            let mask = t.count - 1
            var i = Self.home(key, shift: Self.shift(t.count))
            while true {
                let k = t[i].key
                if k == key {
                    t[i].value = value
                    return false
                }
                if k == Self.vacant {
                    t[i] = Entry(key: key, value: value)
                    return true
                }
                i = (i + 1) & mask
            }
        }
        if added { count += 1 }
    }

    /// Removes `key`; returns its value, or nil when it was missing.
    @discardableResult
    mutating func removeValue(forKey key: UInt64) -> UInt64? {
        guard count != 0 else { return nil }
        let removed: UInt64? = table.withUnsafeMutableBufferPointer { t in
            let mask = t.count - 1
            let shift = Self.shift(t.count)
            var hole = Self.home(key, shift: shift)
            while true {
                let k = t[hole].key
                if k == key { break }
                if k == Self.vacant { return nil }
                hole = (hole + 1) & mask
            }
            let value = t[hole].value
            // Close the gap: an entry further along the run moves into
            // the hole when the hole lies between its home and where it
            // sits, so that every entry stays reachable from its home.
            var j = hole
            while true {
                j = (j + 1) & mask
                let k = t[j].key
                if k == Self.vacant { break }
                let home = Self.home(k, shift: shift)
                if (j &- home) & mask >= (j &- hole) & mask {
                    t[hole] = t[j]
                    hole = j
                }
            }
            t[hole].key = Self.vacant
            return value
        }
        if removed != nil { count -= 1 }
        return removed
    }

    /// Makes room for `minimumCapacity` entries without growing.
    mutating func reserveCapacity(_ minimumCapacity: Int) {
        var buckets = Swift.max(8, table.count)
        while minimumCapacity * 2 > buckets { buckets *= 2 }
        if buckets > table.count { resize(to: buckets) }
    }

    /// Moves every entry to a table of `buckets` buckets.
    private mutating func resize(to buckets: Int) {
        var new = [Entry](repeating: Entry(key: Self.vacant, value: 0), count: buckets)
        let shift = Self.shift(buckets)
        let mask = buckets - 1
        new.withUnsafeMutableBufferPointer { t in
            for e in table where e.key != Self.vacant {
                var i = Self.home(e.key, shift: shift)
                while t[i].key != Self.vacant { i = (i + 1) & mask }
                t[i] = e
            }
        }
        table = new
    }

    /// The entries, in no particular order.
    struct Iterator: IteratorProtocol {
        fileprivate let table: [Entry]
        fileprivate var index = 0

        @inline(__always)
        mutating func next() -> (key: UInt64, value: UInt64)? {
            while index < table.count {
                let e = table[index]
                index += 1
                if e.key != PageMap.vacant { return (e.key, e.value) }
            }
            return nil
        }
    }

    func makeIterator() -> Iterator { Iterator(table: table) }

    var underestimatedCount: Int { count }

    /// The keys, in no particular order.
    var keys: LazyMapSequence<PageMap, UInt64> { lazy.map { $0.key } }

    /// The values, in the order of ``keys``.
    var values: LazyMapSequence<PageMap, UInt64> { lazy.map { $0.value } }

    static func == (a: PageMap, b: PageMap) -> Bool {
        guard a.count == b.count else { return false }
        for (key, value) in a where b[key] != value { return false }
        return true
    }

    /// The entries' mixed sum: the same whatever order they lie in.
    func hash(into hasher: inout Hasher) {
        var sum: UInt64 = 0
        for (key, value) in self {
            var x = (key ^ (value &* 0xff51_afd7_ed55_8ccd)) &* 0x9e37_79b9_7f4a_7c15
            x ^= x >> 31
            sum &+= x
        }
        hasher.combine(count)
        hasher.combine(sum)
    }
}

/// The live address spaces by id: what a `[Int32: AddressSpace]` would
/// hold, kept as two arrays sorted by id.  A case has a handful of mms
/// and the model finds one on every call: a scan of a few ids costs less
/// than hashing one.
struct SpaceTable: Hashable, Sendable {
    private var ids: [Int32] = []
    private var spaces: [AddressSpace] = []

    /// The ids, ascending.
    var keys: [Int32] { ids }

    var count: Int { ids.count }

    /// Where the space of `id` is, for ``subscript(at:)``.
    @inline(__always)
    func index(of id: Int32) -> Int? {
        var i = 0
        while i < ids.count {
            if ids[i] == id { return i }
            i += 1
        }
        return nil
    }

    /// The space of `id`, nil when there is none; setting nil removes it.
    subscript(id: Int32) -> AddressSpace? {
        get { index(of: id).map { spaces[$0] } }
        set {
            if let i = index(of: id) {
                if let newValue { spaces[i] = newValue } else { remove(at: i) }
            } else if let newValue {
                insert(newValue, id: id)
            }
        }
    }

    /// Does `id` have a space?  (Without copying it out, as comparing
    /// `self[id]` with nil would.)
    func contains(_ id: Int32) -> Bool { index(of: id) != nil }

    /// The space of `id`, which must have one: read where it lies (no
    /// copy, so no retain of its tables), changed in place.
    subscript(live id: Int32) -> AddressSpace {
        _read { yield spaces[index(of: id)!] }
        _modify { yield &spaces[index(of: id)!] }
    }

    /// The space at `index` (from ``index(of:)``), read where it lies.
    subscript(at index: Int) -> AddressSpace {
        _read { yield spaces[index] }
    }

    /// Takes the space of `id`, which must have one, out of the table to
    /// be changed while the rest of the model changes too (its frames
    /// and objects), leaving an empty space in its place: nothing is
    /// moved or allocated, as removing and inserting it again would.
    /// Put it back with ``restore(_:id:)``.
    mutating func take(_ id: Int32) -> AddressSpace {
        var space = AddressSpace()
        swap(&space, &spaces[index(of: id)!])
        return space
    }

    /// Puts back the space ``take(_:)`` took out for `id`.
    mutating func restore(_ space: consuming AddressSpace, id: Int32) {
        spaces[index(of: id)!] = space
    }

    /// Removes the space of `id` and returns it.
    mutating func removeValue(forKey id: Int32) -> AddressSpace? {
        guard let i = index(of: id) else { return nil }
        let space = spaces[i]
        remove(at: i)
        return space
    }

    private mutating func remove(at i: Int) {
        ids.remove(at: i)
        spaces.remove(at: i)
    }

    private mutating func insert(_ space: AddressSpace, id: Int32) {
        var i = ids.count
        while i > 0, ids[i - 1] > id { i -= 1 }
        ids.insert(id, at: i)
        spaces.insert(space, at: i)
    }
}

/// Every live frame, by key: a slab of slots, reused once freed, so that
/// finding a frame is an index, not a hash.  A key is the slot in its low
/// 32 bits and the slot's generation above them: a slot freed and used
/// again gives a new key, so keys stay unique over the model's life (a
/// stale TLB entry's frame never aliases a newer one; see
/// ``Model/presentWord(mm:addr:)``).
struct FrameTable: Hashable, Sendable {
    private var slots: [Frame] = []
    private var generations: [UInt32] = []
    private var free: [UInt32] = []

    /// Live frames.
    private(set) var count = 0

    /// One more than the highest slot a live key can have.
    var capacity: Int { slots.count }

    /// The slot of `key` (below ``capacity``): live frames have distinct
    /// slots.  (``FrameKey/slot`` says the same to other modules.)
    @inline(__always)
    static func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: key & 0xffff_ffff) }

    /// Stores `frame` in a free slot and returns its key.
    mutating func insert(_ frame: Frame) -> UInt64 {
        count += 1
        if let i = free.popLast() {
            slots[Int(i)] = frame
            return UInt64(generations[Int(i)]) << 32 | UInt64(i)
        }
        let i = UInt32(slots.count)
        slots.append(frame)
        generations.append(1)
        return 1 << 32 | UInt64(i)
    }

    /// Frees the slot of live `key`.
    mutating func remove(_ key: UInt64) {
        let i = Self.slot(key)
        precondition(UInt64(generations[i]) == key >> 32, "frame key \(key) is not live")
        slots[i] = Frame(words: [:], users: 0, object: 0)
        generations[i] &+= 1
        free.append(UInt32(i))
        count -= 1
    }

    /// The live frame of `key`.
    subscript(key: UInt64) -> Frame {
        // Read where it lies: reading a field copies no frame (and
        // retains no array of its words).
        @inline(__always) _read { yield slots[Self.slot(key)] }
        @inline(__always) _modify { yield &slots[Self.slot(key)] }
    }
}

/// The words written to one page, by index: what a `[UInt16: UInt64]`
/// would hold (an entry set to 0 stays an entry, as there), kept as an
/// array sorted by index, or inline while there is only one.  A page
/// rarely holds more than a few, and the model reads and writes them on
/// every access: a search of a short array costs less than hashing the
/// index and the dictionary's allocation, and most pages, written once,
/// need no allocation at all.  Equal, and hashed, as the same set of
/// entries whatever the order they were written in: the representation
/// is canonical (no words: neither; one: inline; more: the array).
struct PageWords: Hashable, Sendable, ExpressibleByDictionaryLiteral {
    private struct Word: Hashable, Sendable {
        var index: UInt16
        var value: UInt64
    }

    /// The only word, when there is exactly one.
    private var single: Word?
    /// The words when there are two or more, sorted by index.
    private var words: [Word] = []

    init(dictionaryLiteral elements: (UInt16, UInt64)...) {
        for (index, value) in elements { self[index] = value }
    }

    /// Where `index` is, or would be inserted, in `words`.
    private func position(of index: UInt16) -> Int {
        var lo = 0, hi = words.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if words[mid].index < index { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    subscript(index: UInt16) -> UInt64? {
        get {
            if let single { return single.index == index ? single.value : nil }
            let i = position(of: index)
            return i < words.count && words[i].index == index ? words[i].value : nil
        }
        set {
            if words.isEmpty {
                setFew(index, newValue)
                return
            }
            let i = position(of: index)
            let present = i < words.count && words[i].index == index
            switch (newValue, present) {
            case (let value?, true): words[i].value = value
            case (let value?, false): words.insert(Word(index: index, value: value), at: i)
            case (nil, true):
                words.remove(at: i)
                if words.count == 1 {
                    single = words[0]
                    words = []
                }
            case (nil, false): break
            }
        }
    }

    /// The setter while there is at most one word.
    private mutating func setFew(_ index: UInt16, _ newValue: UInt64?) {
        guard let old = single else {
            if let value = newValue { single = Word(index: index, value: value) }
            return
        }
        if old.index == index {
            single = newValue.map { Word(index: index, value: $0) }
            return
        }
        guard let value = newValue else { return }
        let word = Word(index: index, value: value)
        words = old.index < index ? [old, word] : [word, old]
        single = nil
    }
}

/// The object behind a MAP_SHARED|MAP_ANONYMOUS mapping.  Its pages stay
/// as long as some address space maps some part of it.
struct SharedObject: Hashable, Sendable {
    /// Frames by page offset in the object.
    var pages: PageMap
    /// Pages of all segments, in every address space, that map it.
    var mappedPages: UInt64
}

/// Live shared objects by id: what a `[UInt64: SharedObject]` would hold,
/// in an array indexed by id (the model hands ids out ascending from 1
/// and never reuses one; a case creates a few hundred at most), so that
/// finding an object is an index, not a hash.  Canonical: no nil at the
/// end, so that tables holding the same objects are equal.
struct ObjectTable: Hashable, Sendable {
    private var slots: [SharedObject?] = []

    subscript(id: UInt64) -> SharedObject? {
        get {
            let i = Int(truncatingIfNeeded: id)
            return i >= 0 && i < slots.count ? slots[i] : nil
        }
        set {
            let i = Int(truncatingIfNeeded: id)
            if i >= slots.count {
                guard newValue != nil else { return }
                slots += repeatElement(nil, count: i + 1 - slots.count)
            }
            slots[i] = newValue
            trim()
        }
        _modify {
            let i = Int(truncatingIfNeeded: id)
            if i >= slots.count { slots += repeatElement(nil, count: i + 1 - slots.count) }
            defer { trim() }
            yield &slots[i]
        }
    }

    private mutating func trim() {
        while let last = slots.last, last == nil { slots.removeLast() }
    }
}

/// One address space.
struct AddressSpace: Hashable, Sendable {
    var users: Int
    /// Sorted by address, non-overlapping.
    var segments: [Segment]
    /// Frames of the present pages, by page number (`addr >> 12`).  A page
    /// is present only inside a segment.
    var pages: PageMap

    init(users: Int = 1) {
        self.users = users
        self.segments = []
        self.pages = [:]
    }

    /// Index of the first segment that ends above `addr`.
    func firstIndex(endingAbove addr: UInt64) -> Int {
        var lo = 0, hi = segments.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if segments[mid].end <= addr { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The segment that contains `addr`.
    func segment(containing addr: UInt64) -> Segment? {
        let i = firstIndex(endingAbove: addr)
        guard i < segments.count, segments[i].start <= addr else { return nil }
        return segments[i]
    }

    func isMapped(_ addr: UInt64) -> Bool {
        segment(containing: addr) != nil
    }

    /// Does any segment meet [start, end)?
    func intersects(_ start: UInt64, _ end: UInt64) -> Bool {
        let i = firstIndex(endingAbove: start)
        return i < segments.count && segments[i].start < end
    }

    /// Would removing [start, end) cut a mapping in two: does the range
    /// meet a mapping, and is one of its ends inside a mapped run?
    func needsSplit(_ start: UInt64, _ end: UInt64) -> Bool {
        func inside(_ addr: UInt64) -> Bool {
            addr >= Geometry.pageSize && isMapped(addr - Geometry.pageSize) && isMapped(addr)
        }
        return intersects(start, end) && (inside(start) || inside(end))
    }

    /// The end of the mapped run that starts at `start`, capped at `end`
    /// (`start` itself when `start` is not mapped).
    func mappedPrefixEnd(_ start: UInt64, _ end: UInt64) -> UInt64 {
        var cursor = start
        var i = firstIndex(endingAbove: start)
        while cursor < end, i < segments.count, segments[i].start <= cursor {
            cursor = segments[i].end
            i += 1
        }
        return min(cursor, end)
    }

    /// The segments' parts inside [start, end), in order.
    func pieces(_ start: UInt64, _ end: UInt64) -> [Segment] {
        var out: [Segment] = []
        var i = firstIndex(endingAbove: start)
        while i < segments.count, segments[i].start < end {
            var s = segments[i]
            if s.start < start {
                if s.isShared { s.pgoff += (start - s.start) >> Geometry.pageShift }
                s.start = start
            }
            s.end = min(s.end, end)
            out.append(s)
            i += 1
        }
        return out
    }

    /// Is there a free range of `length` bytes inside [floor, TASK_SIZE)?
    func hasRoom(_ length: UInt64, from floor: UInt64) -> Bool {
        guard length <= Geometry.taskSize else { return false }
        var cursor = floor
        var i = firstIndex(endingAbove: floor)
        while i < segments.count {
            if segments[i].start >= cursor, segments[i].start - cursor >= length { return true }
            cursor = max(cursor, segments[i].end)
            i += 1
        }
        return cursor <= Geometry.taskSize && Geometry.taskSize - cursor >= length
    }

    /// Cuts the segment that strictly contains `addr` in two.
    mutating func split(at addr: UInt64) {
        let i = firstIndex(endingAbove: addr)
        guard i < segments.count, segments[i].start < addr else { return }
        var upper = segments[i]
        if upper.isShared { upper.pgoff += (addr - upper.start) >> Geometry.pageShift }
        upper.start = addr
        segments[i].end = addr
        segments.insert(upper, at: i + 1)
    }

    /// Removes the segments' parts inside [start, end), handing each to
    /// `removed` first, in order.  (No array of them is built: an unmap
    /// only needs the shared ones, and most remove none.)
    mutating func cut(_ start: UInt64, _ end: UInt64, _ removed: (Segment) -> Void) {
        split(at: start)
        split(at: end)
        let lo = firstIndex(endingAbove: start)
        var hi = lo
        while hi < segments.count, segments[hi].start < end {
            removed(segments[hi])
            hi += 1
        }
        if lo < hi { segments.removeSubrange(lo ..< hi) }
    }

    /// Inserts `segment`, which overlaps none.
    mutating func insert(_ segment: Segment) {
        let i = firstIndex(endingAbove: segment.start)
        segments.insert(segment, at: i)
        coalesce()
    }

    /// Sets the protection of the mapped parts of [start, end).
    mutating func protect(_ start: UInt64, _ end: UInt64, _ prot: Int32) {
        guard start < end else { return }
        split(at: start)
        split(at: end)
        var i = firstIndex(endingAbove: start)
        while i < segments.count, segments[i].start < end {
            segments[i].prot = prot
            i += 1
        }
        coalesce()
    }

    /// Marks (or unmarks) the mapped parts of [start, end) as MADV_HUGEPAGE
    /// may have left them.
    mutating func advise(_ start: UInt64, _ end: UInt64, hugeAdvised: Bool) {
        guard start < end else { return }
        split(at: start)
        split(at: end)
        var i = firstIndex(endingAbove: start)
        while i < segments.count, segments[i].start < end {
            segments[i].hugeAdvised = hugeAdvised
            i += 1
        }
        coalesce()
    }

    /// Whether [start, end) lies wholly in private anonymous memory of one
    /// protection, accessible, that MADV_HUGEPAGE may have marked: where
    /// a fault may map one 2 MiB page.  (Marked segments of one
    /// protection that touch are joined, so it is one segment.)
    func mayMapHuge(_ start: UInt64, _ end: UInt64) -> Bool {
        guard let s = segment(containing: start) else { return false }
        return s.end >= end && !s.isShared && s.prot != 0 && s.hugeAdvised
    }

    /// Joins neighbouring segments that can be one, to keep lookups short.
    /// In place: an mmap calls it every time, and seldom joins anything.
    mutating func coalesce() {
        guard segments.count > 1 else { return }
        var kept = 0
        for i in 1 ..< segments.count {
            if segments[kept].joins(segments[i]) {
                segments[kept].end = segments[i].end
            } else {
                kept += 1
                if kept != i { segments[kept] = segments[i] }
            }
        }
        if kept + 1 < segments.count {
            segments.removeSubrange(kept + 1 ..< segments.count)
        }
    }

    /// Page numbers of the present pages inside [start, end).  A page is
    /// present only inside a segment, so only the segments' parts of the
    /// range are searched: nothing at all for a range nothing maps (an
    /// mmap's, mostly).
    func presentPages(_ start: UInt64, _ end: UInt64) -> [UInt64] {
        guard start < end, !pages.isEmpty else { return [] }
        let first = start >> Geometry.pageShift
        let last = Geometry.pageAlign(end) >> Geometry.pageShift
        let lo = firstIndex(endingAbove: start)
        var hi = lo
        var span: UInt64 = 0
        while hi < segments.count, segments[hi].start < end {
            span += segments[hi].pages
            hi += 1
        }
        if hi == lo { return [] }
        if last > first, span <= UInt64(pages.count) {
            var out: [UInt64] = []
            for s in segments[lo ..< hi] {
                var p = max(s.start >> Geometry.pageShift, first)
                let stop = min(s.end >> Geometry.pageShift, last)
                while p < stop {
                    if pages[p] != nil { out.append(p) }
                    p += 1
                }
            }
            return out
        }
        var out: [UInt64] = []
        for (p, _) in pages where p >= first && (last <= first || p < last) { out.append(p) }
        return out
    }

    /// The segments as the outside world sees them: touching ranges with
    /// the same protection and sharing merged.
    var normalized: [Mapping] {
        var out: [Mapping] = []
        forEachNormalized {
            out.append($0)
            return true
        }
        return out
    }

    /// Hands each mapping of ``normalized``, in order, to `body` until it
    /// returns false, without building the array; false when stopped.
    @discardableResult
    func forEachNormalized(_ body: (Mapping) -> Bool) -> Bool {
        var run: Mapping?
        for s in segments {
            if let last = run, last.end == s.start, last.prot == s.prot, last.shared == s.isShared {
                run!.end = s.end
            } else {
                if let last = run, !body(last) { return false }
                run = Mapping(start: s.start, end: s.end, prot: s.prot, shared: s.isShared)
            }
        }
        if let last = run { return body(last) }
        return true
    }
}
