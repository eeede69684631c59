/// What each call does to the abstract state, and which outcomes it
/// allows: ``Model/apply(_:outcome:mayFailAllocation:)`` dispatches each
/// ``Request`` to its prediction below.

extension Model {
    /// Checks the machine's `outcome` of `call` and adopts it.
    ///
    /// - Parameter mayFailAllocation: an allocation may fail during this
    ///   call (fault injection is armed, or the machine is nearly out of
    ///   frames).  Then ENOMEM (`.oom` for a load or store) is accepted as
    ///   well, with the state the kernel leaves behind on that failure.
    ///   After an mprotect that returns ENOMEM under this flag, the
    ///   protection of its range is undecided: read the machine's mappings
    ///   of ``undecidedProtection`` and pass them to
    ///   ``adoptProtection(mm:mappings:)`` before the next call.  Likewise
    ///   after a MADV_DONTNEED that returns ENOMEM under this flag, which
    ///   pages of its range are left is undecided: pass what the machine
    ///   has there to ``adoptPages(mm:machine:)``.
    ///   Once a reclaim has taken a page to swap, an access to a page the
    ///   model has present may also run out of memory (a swap-in needs a
    ///   frame).
    /// - Throws: ``Divergence`` when the outcome is not one the model allows.
    public mutating func apply(_ call: Call, outcome: Outcome,
                               mayFailAllocation: Bool) throws(Divergence) {
        // Each case tested first: assigning nil destroys the old value
        // through outlined value-witness calls even when there is none
        // (nearly always), and `!= nil` copies it the same way.
        if case .some = undecided { undecided = nil }
        if case .some = undecidedDrop { undecidedDrop = nil }
        let cpu = call.cpu, mm = call.mmID
        switch call.request {
        case .load(let addr):
            try access(call, cpu: cpu, mm: mm, addr: addr, store: nil,
                       outcome: outcome, mayFail: mayFailAllocation)
        case .store(let addr, let value):
            try access(call, cpu: cpu, mm: mm, addr: addr, store: value,
                       outcome: outcome, mayFail: mayFailAllocation)
        case .newMM:
            if let id = try adoptNewID(call, outcome, mayFail: mayFailAllocation) {
                spaces[id] = AddressSpace()
            }
        case .mmGet:
            guard spaces.contains(mm) else {
                return try expect(call, .errno(E.ESRCH), outcome)
            }
            try expect(call, .ok, outcome)
            spaces[live: mm].users += 1
        case .fork:
            if let e = taskError(cpu: cpu, mm: mm) {
                return try expect(call, .errno(e), outcome)
            }
            if let id = try adoptNewID(call, outcome, mayFail: mayFailAllocation) {
                fork(mm, into: id)
            }
        case .exit:
            if let e = taskError(cpu: cpu, mm: mm) {
                return try expect(call, .errno(e), outcome)
            }
            try expect(call, .ok, outcome)
            put(mm)
        case .exec:
            if let e = taskError(cpu: cpu, mm: mm) {
                return try expect(call, .errno(e), outcome)
            }
            if let id = try adoptNewID(call, outcome, mayFail: mayFailAllocation) {
                spaces[id] = AddressSpace()
                put(mm)
            }
        case .mmap(let addr, let length, let prot, let flags):
            try mmap(call, cpu: cpu, mm: mm, addr: addr, length: length, prot: prot.rawValue,
                     flags: flags.rawValue, outcome: outcome, mayFail: mayFailAllocation)
        case .munmap(let addr, let length):
            try munmap(call, cpu: cpu, mm: mm, addr: addr, length: length,
                       outcome: outcome, mayFail: mayFailAllocation)
        case .mprotect(let addr, let length, let prot):
            try mprotect(call, cpu: cpu, mm: mm, addr: addr, length: length, prot: prot.rawValue,
                         outcome: outcome, mayFail: mayFailAllocation)
        case .madvise(let addr, let length, let advice):
            try madvise(call, cpu: cpu, mm: mm, addr: addr, length: length, advice: advice.rawValue,
                        outcome: outcome, mayFail: mayFailAllocation)
        case .switchMM:
            // The machine's uapi spells "no mm" (a kernel thread) as -1,
            // so -1 switches to a kernel thread too.
            if cpu < 0 || cpu >= cpus {
                return try expect(call, .errno(E.EINVAL), outcome)
            }
            if let mm = call.mm, mm != -1, !spaces.contains(mm) {
                return try expect(call, .errno(E.ESRCH), outcome)
            }
            try expect(call, .ok, outcome)
        case .reclaim(let pages):
            try reclaim(call, cpu: cpu, pages: pages, outcome: outcome)
        }
    }

    /// kswapd on `cpu` reclaims up to `pages` anonymous pages: how many
    /// is the machine's choice (pages recently used get a second chance,
    /// shared objects' pages are not reclaimed), and nothing a program
    /// can see changes: every page keeps its value and its sharing; only
    /// where it lives (a frame, or a swap slot) changes, which the model
    /// does not know.
    mutating func reclaim(_ call: Call, cpu: Int, pages: UInt64, outcome: Outcome) throws(Divergence) {
        if cpu < 0 || cpu >= cpus { return try expect(call, .errno(E.EINVAL), outcome) }
        guard case .count(let n) = outcome, n <= pages else {
            throw divergence(call, expected: "a count of pages reclaimed from 0 to \(pages)", outcome)
        }
        if n > 0 { pagesMayBeInSwap = true }
    }
}

// MARK: Checking outcomes

extension Model {
    /// The errno of a call by a task of `mm` on `cpu` that names a bad CPU
    /// (checked first) or an mm without users.
    func taskError(cpu: Int, mm: Int32) -> Int32? {
        if cpu < 0 || cpu >= cpus { return E.EINVAL }
        if !spaces.contains(mm) { return E.ESRCH }
        return nil
    }

    func divergence(_ call: Call, expected: String, _ outcome: Outcome) -> Divergence {
        Divergence("\(call): expected \(expected), machine returned \(outcome)")
    }

    /// Throws unless `outcome` is `expected`.
    func expect(_ call: Call, _ expected: Outcome, _ outcome: Outcome) throws(Divergence) {
        if outcome != expected {
            throw divergence(call, expected: expected.description, outcome)
        }
    }

    /// Throws unless `outcome` is `expected`, or ENOMEM when `mayFail`.
    ///
    /// - Returns: true when the call failed for lack of memory.
    func expectOrENOMEM(_ call: Call, _ expected: Outcome, _ outcome: Outcome,
                        mayFail: Bool) throws(Divergence) -> Bool {
        if outcome == expected { return false }
        if mayFail, outcome == .errno(E.ENOMEM) { return true }
        throw divergence(call, expected: expected.description + (mayFail ? " or errno 12" : ""),
                         outcome)
    }

    /// Checks the id of a new mm: fresh, or ENOMEM when `mayFail`.
    ///
    /// - Returns: the id, now used, or nil when the call failed.
    mutating func adoptNewID(_ call: Call, _ outcome: Outcome,
                             mayFail: Bool) throws(Divergence) -> Int32? {
        switch outcome {
        case .mm(let id) where id >= 0 && !usedIDs.contains(id):
            usedIDs.insert(id)
            return id
        case .errno(E.ENOMEM) where mayFail:
            return nil
        default:
            throw divergence(call, expected: "a new mm id (non-negative, never returned before)"
                + (mayFail ? " or errno 12" : ""), outcome)
        }
    }
}

// MARK: Frames and objects

extension Model {
    /// A new zeroed frame.
    mutating func newFrame(users: Int32, object: UInt64) -> UInt64 {
        frames.insert(Frame(words: [:], users: users, object: object))
    }

    /// An address space stops mapping `key`.
    mutating func release(_ key: UInt64) {
        guard frames[key].object == 0 else { return }   // the object keeps it
        frames[key].users -= 1
        if frames[key].users == 0 { frames.remove(key) }
    }

    /// `pages` pages of some address space stop mapping `object`; the last
    /// one takes the object and its pages with it.
    mutating func unmapObject(_ object: UInt64, pages: UInt64) {
        objects[object]!.mappedPages -= pages
        guard objects[object]!.mappedPages == 0 else { return }
        for key in objects[object]!.pages.values { frames.remove(key) }
        objects[object] = nil
    }

    /// Drops the present pages of `space` inside [start, end).
    mutating func dropPages(_ space: inout AddressSpace, _ start: UInt64, _ end: UInt64) {
        for page in space.presentPages(start, end) {
            release(space.pages.removeValue(forKey: page)!)
        }
    }

    /// Removes [start, end) from `space`: pages and segments.
    mutating func unmap(_ space: inout AddressSpace, _ start: UInt64, _ end: UInt64) {
        dropPages(&space, start, end)
        space.cut(start, end) { segment in
            if segment.isShared { unmapObject(segment.object, pages: segment.pages) }
        }
    }

    /// A task of `mm` lets go of it; the last one tears it down.
    mutating func put(_ mm: Int32) {
        spaces[live: mm].users -= 1
        guard spaces[live: mm].users == 0 else { return }
        let space = spaces.removeValue(forKey: mm)!
        for key in space.pages.values { release(key) }
        for segment in space.segments where segment.isShared {
            unmapObject(segment.object, pages: segment.pages)
        }
    }

    /// fork(): `child` becomes a copy of `parent`.  Private pages present
    /// in the parent are present in the child, in the same frames until
    /// one side writes; shared mappings map the same objects, with no page
    /// present in the child until it touches it.
    mutating func fork(_ parent: Int32, into child: Int32) {
        let from = spaces[live: parent]
        var space = AddressSpace()
        space.segments = from.segments
        for segment in from.segments where segment.isShared {
            objects[segment.object]!.mappedPages += segment.pages
        }
        space.pages.reserveCapacity(from.pages.count)
        for (page, key) in from.pages where frames[key].object == 0 {
            frames[key].users += 1
            space.pages[page] = key
        }
        spaces[child] = space
    }
}

// MARK: User accesses

extension Model {
    mutating func access(_ call: Call, cpu: Int, mm: Int32, addr: UInt64, store: UInt64?,
                         outcome: Outcome, mayFail: Bool) throws(Divergence) {
        if addr & 7 != 0 { return try expect(call, .errno(E.EINVAL), outcome) }
        if cpu < 0 || cpu >= cpus { return try expect(call, .errno(E.EINVAL), outcome) }
        let segment: Segment, present: UInt64?
        switch probe(mm, addr) {
        case .noMM:
            return try expect(call, .errno(E.ESRCH), outcome)
        case .mapped(let s, let p) where s.prot != 0
            && (store == nil || s.prot & Bits.protWrite != 0):
            segment = s
            present = p
        default:
            return try expect(call, .segv, outcome)
        }

        let page = addr >> Geometry.pageShift
        let word = UInt16((addr & Geometry.pageMask) >> 3)
        if let value = store {
            // A fault allocates unless the page is present and, if
            // private, this address space's alone.
            let allocates = present.map { segment.object == 0 && frames[$0].users > 1 } ?? true
            if outcome != .value(value) {
                // (Or the page is in swap, and the fault reads it back.)
                let mayOOM = mayFail && (allocates || pagesMayBeInSwap)
                if mayOOM, outcome == .oom { return }
                throw divergence(call, expected: Outcome.value(value).description
                    + (mayOOM ? " or OOM" : ""), outcome)
            }
            var key: UInt64
            if let present {
                key = present
                if allocates {   // copy-on-write
                    let words = frames[key].words
                    release(key)
                    key = newFrame(users: 1, object: 0)
                    frames[key].words = words
                    spaces[live: mm].pages[page] = key
                }
            } else {
                key = faultIn(mm, page: page, segment: segment)
            }
            frames[key].words[word] = value
            return
        }

        if let present {
            // A present page needs no frame, unless it is in swap.
            _ = try expectOrOOM(call, .value(frames[present].words[word] ?? 0), outcome,
                                mayFail: mayFail && pagesMayBeInSwap)
            return
        }
        // Not present: a private page reads as zero, a shared one as its
        // object holds it.
        var value: UInt64 = 0
        if segment.isShared, let key = objects[segment.object]!.pages[segment.objectPage(page)] {
            value = frames[key].words[word] ?? 0
        }
        if try expectOrOOM(call, .value(value), outcome, mayFail: mayFail) { return }
        _ = faultIn(mm, page: page, segment: segment)
    }

    /// What a page fault at `addr` does on its own, without the access
    /// that took it: makes the page present (a write fault also breaks
    /// copy-on-write).  When CPUs run at once, an access can fault a page
    /// in, then lose the race with a call that takes the mapping or its
    /// write permission away, and end in SIGSEGV with the page left
    /// behind; or fault it in and find it zapped again.
    ///
    /// - Returns: false when the fault would change nothing (not allowed
    ///   by the mapping, or nothing to do).
    public mutating func fault(mm: Int32, addr: UInt64, write: Bool) -> Bool {
        guard addr & 7 == 0, case .mapped(let segment, let present) = probe(mm, addr),
              segment.prot != 0, !write || segment.prot & Bits.protWrite != 0 else { return false }
        let page = addr >> Geometry.pageShift
        guard let present else {
            _ = faultIn(mm, page: page, segment: segment)
            return true
        }
        guard write, segment.object == 0, frames[present].users > 1 else { return false }
        let words = frames[present].words
        release(present)
        let key = newFrame(users: 1, object: 0)
        frames[key].words = words
        spaces[live: mm].pages[page] = key
        return true
    }

    /// MADV_DONTNEED (`call`), except for the pages numbered in
    /// `sparing` (`addr >> 12`): those are zapped each on its own with
    /// ``zap(mm:addr:)``, at the moment in the call's run that explains
    /// the accesses that raced with it.
    public mutating func applyDontneed(_ call: Call, outcome: Outcome, mayFailAllocation: Bool,
                                       sparing: Set<UInt64>) throws(Divergence) {
        guard case .madvise(let addr, let length, let advice) = call.request else {
            return try apply(call, outcome: outcome, mayFailAllocation: mayFailAllocation)
        }
        undecided = nil
        undecidedDrop = nil
        try madvise(call, cpu: call.cpu, mm: call.mmID, addr: addr, length: length, advice: advice.rawValue,
                    outcome: outcome, mayFail: mayFailAllocation, sparing: sparing)
    }

    /// MADV_DONTNEED's zap of the one page at `addr`, on its own.  The
    /// call holds mmap_sem only for reading: faults run beside it, so one
    /// page may be faulted in after the zap passed it and survive, and
    /// another before and not; each zap is its own step in time.
    ///
    /// - Returns: false when there is no page to zap.
    public mutating func zap(mm: Int32, addr: UInt64) -> Bool {
        let page = addr >> Geometry.pageShift
        guard spaces[mm]?.pages[page] != nil else { return false }
        var space = spaces.take(mm)
        dropPages(&space, page << Geometry.pageShift, (page + 1) << Geometry.pageShift)
        spaces.restore(space, id: mm)
        return true
    }

    /// A store that went through a TLB entry a call had not flushed yet,
    /// after that call took the page's pte away: it reached the frame the
    /// entry named, not the page tables.  A private frame is on its way
    /// out, so the store is lost; a shared object's page stays with the
    /// object, so the store lands there (without making a pte present).
    public mutating func strayStore(mm: Int32, addr: UInt64, value: UInt64) {
        guard addr & 7 == 0, case .mapped(let segment, _) = probe(mm, addr), segment.isShared,
              let key = objects[segment.object]!.pages[segment.objectPage(addr >> Geometry.pageShift)]
        else { return }
        frames[key].words[UInt16((addr & Geometry.pageMask) >> 3)] = value
    }

    /// The frame `mm` has present at `addr` and the 64-bit word there,
    /// or nil when no page is present (what a TLB entry for the page
    /// reads until it is flushed).
    /// Addresses of the present pages of `mm` inside [start, end) (none
    /// when `mm` has no users).
    public func presentPages(mm: Int32, start: UInt64, end: UInt64) -> [UInt64] {
        guard let space = spaces[mm] else { return [] }
        return space.presentPages(start, end).map { $0 << Geometry.pageShift }
    }

    public func presentWord(mm: Int32, addr: UInt64) -> (frame: FrameKey, value: UInt64)? {
        guard let key = spaces[mm]?.pages[addr >> Geometry.pageShift] else { return nil }
        let word = UInt16((addr & Geometry.pageMask) >> 3)
        return (FrameKey(raw: key), frames[key].words[word] ?? 0)
    }

    enum Probe {
        case noMM
        case unmapped
        case mapped(Segment, UInt64?)
    }

    /// What an access at `addr` by `mm` finds: the segment and the frame,
    /// if present.  (Read where the space lies: no copy of it to retain,
    /// or to outlive the call and make a later change copy its tables.)
    func probe(_ mm: Int32, _ addr: UInt64) -> Probe {
        guard let i = spaces.index(of: mm) else { return .noMM }
        guard addr < Geometry.taskSize, let s = spaces[at: i].segment(containing: addr) else {
            return .unmapped
        }
        return .mapped(s, spaces[at: i].pages[addr >> Geometry.pageShift])
    }

    /// Throws unless `outcome` is `expected`, or `.oom` when `mayFail`.
    ///
    /// - Returns: true when the access ran out of memory.
    func expectOrOOM(_ call: Call, _ expected: Outcome, _ outcome: Outcome,
                     mayFail: Bool) throws(Divergence) -> Bool {
        if outcome == expected { return false }
        if mayFail, outcome == .oom { return true }
        throw divergence(call, expected: expected.description + (mayFail ? " or OOM" : ""), outcome)
    }

    /// Makes `page` of `mm`, inside `segment`, present: a new zero frame
    /// of its own for private memory, the object's page (created zeroed if
    /// missing) for shared memory.
    mutating func faultIn(_ mm: Int32, page: UInt64, segment: Segment) -> UInt64 {
        let key: UInt64
        if segment.isShared {
            let offset = segment.objectPage(page)
            if let existing = objects[segment.object]!.pages[offset] {
                key = existing
            } else {
                key = newFrame(users: 0, object: segment.object)
                objects[segment.object]!.pages[offset] = key
            }
        } else {
            key = newFrame(users: 1, object: 0)
        }
        spaces[live: mm].pages[page] = key
        return key
    }
}

// MARK: System calls

extension Model {
    mutating func mmap(_ call: Call, cpu: Int, mm: Int32, addr: UInt64, length: UInt64,
                       prot: Int32, flags: Int32, outcome: Outcome,
                       mayFail: Bool) throws(Divergence) {
        if let e = taskError(cpu: cpu, mm: mm) { return try expect(call, .errno(e), outcome) }
        if prot & ~Bits.protMask != 0 { return try expect(call, .errno(E.EINVAL), outcome) }
        if flags & ~Bits.mapKnown != 0 { return try expect(call, .errno(E.EINVAL), outcome) }
        let type = flags & Bits.mapType
        if type != Bits.mapShared && type != Bits.mapPrivate {
            return try expect(call, .errno(E.EINVAL), outcome)
        }
        if flags & Bits.mapAnonymous == 0 { return try expect(call, .errno(E.EBADF), outcome) }
        if length == 0 { return try expect(call, .errno(E.EINVAL), outcome) }
        let len = Geometry.pageAlign(length)
        if len == 0 || len > Geometry.taskSize {
            return try expect(call, .errno(E.ENOMEM), outcome)
        }

        let start: UInt64
        if flags & Bits.mapFixed != 0 {
            if addr & Geometry.pageMask != 0 { return try expect(call, .errno(E.EINVAL), outcome) }
            if addr > Geometry.taskSize - len { return try expect(call, .errno(E.ENOMEM), outcome) }
            if try expectOrENOMEM(call, .address(addr), outcome, mayFail: mayFail) { return }
            start = addr
        } else {
            let hint = Geometry.pageAlign(addr)
            if hint != 0, hint <= Geometry.taskSize - len, !spaces[live: mm].intersects(hint, hint + len) {
                if try expectOrENOMEM(call, .address(hint), outcome, mayFail: mayFail) { return }
                start = hint
            } else {
                let room = spaces[live: mm].hasRoom(len, from: Model.unmappedBase)
                switch outcome {
                case .address(let a) where a & Geometry.pageMask == 0
                    && a <= Geometry.taskSize - len && !spaces[live: mm].intersects(a, a + len):
                    start = a
                case .errno(E.ENOMEM) where mayFail || !room:
                    return
                default:
                    throw divergence(call, expected: "a free page-aligned range of 0x"
                        + String(len, radix: 16) + " bytes below TASK_SIZE"
                        + (hint != 0 ? " (the hint is not usable)" : "")
                        + (mayFail || !room ? " or errno 12" : ""), outcome)
                }
            }
        }

        var object: UInt64 = 0
        if type == Bits.mapShared {
            object = nextObject
            nextObject += 1
            objects[object] = SharedObject(pages: [:], mappedPages: len >> Geometry.pageShift)
        }
        var changed = spaces.take(mm)
        unmap(&changed, start, start + len)
        changed.insert(Segment(start: start, end: start + len, prot: Bits.effective(prot),
                               object: object, pgoff: 0))
        spaces.restore(changed, id: mm)
    }

    mutating func munmap(_ call: Call, cpu: Int, mm: Int32, addr: UInt64, length: UInt64,
                         outcome: Outcome, mayFail: Bool) throws(Divergence) {
        if let e = taskError(cpu: cpu, mm: mm) { return try expect(call, .errno(e), outcome) }
        if addr & Geometry.pageMask != 0 || addr > Geometry.taskSize
            || length > Geometry.taskSize - addr {
            return try expect(call, .errno(E.EINVAL), outcome)
        }
        let len = Geometry.pageAlign(length)
        if len == 0 { return try expect(call, .errno(E.EINVAL), outcome) }
        let end = addr + len
        // Unmapping fails for lack of memory only where a mapping must be
        // cut in two: at an end of the range that lies inside a mapping.
        let splits = spaces[live: mm].needsSplit(addr, end)
            || tablesMayBeShared && spaces[live: mm].intersects(addr, end)
        if try expectOrENOMEM(call, .ok, outcome, mayFail: mayFail && splits) { return }
        var changed = spaces.take(mm)
        unmap(&changed, addr, end)
        spaces.restore(changed, id: mm)
    }

    mutating func mprotect(_ call: Call, cpu: Int, mm: Int32, addr: UInt64, length: UInt64,
                           prot: Int32, outcome: Outcome, mayFail: Bool) throws(Divergence) {
        if let e = taskError(cpu: cpu, mm: mm) { return try expect(call, .errno(e), outcome) }
        if addr & Geometry.pageMask != 0 { return try expect(call, .errno(E.EINVAL), outcome) }
        if length == 0 { return try expect(call, .ok, outcome) }
        let end = addr &+ Geometry.pageAlign(length)
        if end <= addr { return try expect(call, .errno(E.ENOMEM), outcome) }
        if prot & ~Bits.protMask != 0 { return try expect(call, .errno(E.EINVAL), outcome) }

        // Changed from the start of the range up to its first hole.
        let newProt = Bits.effective(prot)
        let reach = spaces[live: mm].mappedPrefixEnd(addr, end)
        let expected: Outcome = reach == end ? .ok : .errno(E.ENOMEM)
        // Running out of memory is possible only if something changes.
        let changes = spaces[live: mm].pieces(addr, reach).contains { $0.prot != newProt }
        if outcome != expected {
            guard mayFail, changes, outcome == .errno(E.ENOMEM) else {
                throw divergence(call, expected: expected.description
                    + (mayFail && changes && expected != .errno(E.ENOMEM) ? " or errno 12" : ""),
                    outcome)
            }
        }
        if mayFail, changes, outcome == .errno(E.ENOMEM) {
            undecided = UndecidedProtection(call: call, mm: mm, start: addr, end: end,
                                            prot: newProt, before: spaces[live: mm].pieces(addr, end))
        }
        spaces[live: mm].protect(addr, reach, newProt)
    }

    mutating func madvise(_ call: Call, cpu: Int, mm: Int32, addr: UInt64, length: UInt64,
                          advice: Int32, outcome: Outcome, mayFail: Bool,
                          sparing: Set<UInt64> = []) throws(Divergence) {
        if let e = taskError(cpu: cpu, mm: mm) { return try expect(call, .errno(e), outcome) }
        if addr & Geometry.pageMask != 0 { return try expect(call, .errno(E.EINVAL), outcome) }
        let huge = advice == Bits.madvHugepage || advice == Bits.madvNohugepage
        if advice != Bits.madvDontneed && !huge { return try expect(call, .errno(E.EINVAL), outcome) }
        let len = Geometry.pageAlign(length)
        if length != 0 && len == 0 { return try expect(call, .errno(E.EINVAL), outcome) }
        let end = addr &+ len
        if end < addr { return try expect(call, .errno(E.EINVAL), outcome) }
        if end == addr { return try expect(call, .ok, outcome) }

        // Every mapped part loses its pages; a hole anywhere is ENOMEM.
        let whole = spaces[live: mm].mappedPrefixEnd(addr, end) == end
        if huge {
            return try adviseHuge(call, mm: mm, addr: addr, end: end, on: advice == Bits.madvHugepage,
                                  whole: whole, outcome: outcome, mayFail: mayFail)
        }
        _ = try expectOrENOMEM(call, whole ? .ok : .errno(E.ENOMEM), outcome,
                               mayFail: mayFail && whole)
        // A shared pte table is copied before its zap: that may fail and
        // stop the call half-way, vmas before it zapped and the rest not.
        // Which pages went is undecided until adoptPages() says.
        if mayFail, outcome == .errno(E.ENOMEM) {
            undecidedDrop = UndecidedPages(call: call, mm: mm, start: addr, end: end)
            return
        }
        var changed = spaces.take(mm)
        if sparing.isEmpty {
            dropPages(&changed, addr, end)
        } else {
            for page in changed.presentPages(addr, end) where !sparing.contains(page) {
                release(changed.pages.removeValue(forKey: page)!)
            }
        }
        spaces.restore(changed, id: mm)
    }
}

// MARK: Huge pages

extension Model {
    /// MADV_HUGEPAGE (`on`) or MADV_NOHUGEPAGE over [addr, end), validated
    /// as MADV_DONTNEED is (a hole anywhere is ENOMEM, the mapped parts
    /// still handled).  No data changes: it only says where a fault may
    /// map a whole 2 MiB (``adoptHugePage(mm:start:)``).  Marking the
    /// vmas splits them, which may run out of memory half-way: when
    /// `mayFail`, ENOMEM is allowed, and the marks are then undecided
    /// (MADV_HUGEPAGE's count as given, MADV_NOHUGEPAGE's as not).
    mutating func adviseHuge(_ call: Call, mm: Int32, addr: UInt64, end: UInt64, on: Bool,
                             whole: Bool, outcome: Outcome, mayFail: Bool) throws(Divergence) {
        _ = try expectOrENOMEM(call, whole ? .ok : .errno(E.ENOMEM), outcome, mayFail: mayFail && whole)
        if on {
            spaces[live: mm].advise(addr, end, hugeAdvised: true)
        } else if outcome == .ok || !mayFail {
            spaces[live: mm].advise(addr, end, hugeAdvised: false)
        }
    }

    /// The machine mapped the 2 MiB at `start` (aligned) of `mm` by one
    /// huge page: a fault there found its pmd empty and populated all 512
    /// pages at once, zero-filled, each its own frame of one compound
    /// page.  The model cannot predict that (only the fault's own page);
    /// it adopts it: every page of the 2 MiB becomes present, zero, with a
    /// new frame, but the fault's own page, which keeps its frame and its
    /// data; the 512 frames are one 2 MiB page from then on (the kernel
    /// frees them together, see ``userPages``).
    ///
    /// Call it right after the access that faulted (in a concurrent
    /// batch, where the fault is placed).
    ///
    /// - Returns: the pages adopted (511).
    /// - Throws: ``Divergence`` unless the 2 MiB lies wholly in one
    ///   private anonymous, accessible mapping of `mm` that MADV_HUGEPAGE
    ///   may have marked (the only place a kernel may put a huge page),
    ///   and the model has at most one page there, of this mm alone (the
    ///   fault's: the pmd was empty).
    @discardableResult
    public mutating func adoptHugePage(mm: Int32, start: UInt64) throws(Divergence) -> Int {
        let end = start &+ Geometry.hugeSize
        func at() -> String { "mm \(mm) has a 2 MiB page at 0x\(String(start, radix: 16))" }
        guard start & (Geometry.hugeSize - 1) == 0, end <= Geometry.taskSize else {
            throw Divergence("adoptHugePage: 0x\(String(start, radix: 16)) is not a 2 MiB boundary in user space")
        }
        guard spaces.contains(mm) else {
            throw Divergence("adoptHugePage: mm \(mm) has no users")
        }
        guard spaces[live: mm].mayMapHuge(start, end) else {
            let there = spaces[live: mm].pieces(start, end).map { s in
                Mapping(start: s.start, end: s.end, prot: s.prot, shared: s.isShared).description
                    + (s.hugeAdvised ? " MADV_HUGEPAGE" : "")
            }
            throw Divergence("\(at()), but the model has \(there) there, not one accessible private "
                + "anonymous mapping given MADV_HUGEPAGE")
        }
        let present = spaces[live: mm].presentPages(start, end)
        if present.count > 1 || present.contains(where: { frames[spaces[live: mm].pages[$0]!].users != 1 }) {
            throw Divergence("\(at()), but the model has \(present.count) page(s) there (the pmd was not empty)")
        }
        var keys: [UInt64] = []
        keys.reserveCapacity(FrameTable.compoundFrames)
        var page = start >> Geometry.pageShift
        let last = end >> Geometry.pageShift
        while page < last {
            if let key = spaces[live: mm].pages[page] {
                keys.append(key)
            } else {
                let key = newFrame(users: 1, object: 0)
                spaces[live: mm].pages[page] = key
                keys.append(key)
            }
            page += 1
        }
        frames.makeCompound(keys)
        return FrameTable.compoundFrames - present.count
    }

    /// The machine copied the page at `addr` of `mm` on a write although
    /// `mm` alone maps it: a copy-on-write fault that raced another mm's
    /// on the same page (each saw the other's mapping, and both copied).
    /// Only a page of a 2 MiB page is changed: the kernel frees a page of
    /// its own at once, which is the same as reusing it for everything
    /// the model predicts, but a 2 MiB page keeps the old frame
    /// allocated.  The page gets a new frame with its data; the old one is
    /// released.
    ///
    /// - Returns: false when there is no such page (nothing done).
    @discardableResult
    public mutating func copyExclusivePage(mm: Int32, addr: UInt64) -> Bool {
        let page = addr >> Geometry.pageShift
        guard spaces.contains(mm), let key = spaces[live: mm].pages[page], frames[key].object == 0,
              frames[key].users == 1, frames[key].compound != 0 else { return false }
        let words = frames[key].words
        release(key)
        let copy = newFrame(users: 1, object: 0)
        frames[copy].words = words
        spaces[live: mm].pages[page] = copy
        return true
    }
}

// MARK: mprotect's failures

extension Model {
    /// Validates and adopts the protection the machine left on the range of
    /// an mprotect that ran out of memory.
    mutating func settle(_ u: UndecidedProtection, space: AddressSpace,
                         mappings: [Mapping]) throws(Divergence) {
        func fail(_ what: String) -> Divergence {
            Divergence("\(u.call) failed with errno 12: \(what)")
        }
        // The machine's mappings, clipped to the range.
        var left: [Mapping] = []
        for m in mappings.sorted(by: { $0.start < $1.start }) where m.start < u.end && m.end > u.start {
            left.append(Mapping(start: max(m.start, u.start), end: min(m.end, u.end),
                                prot: m.prot, shared: m.shared))
        }
        // The same pages must be mapped as before, with the same sharing.
        func coverage(_ ranges: [(UInt64, UInt64)]) -> [(UInt64, UInt64)] {
            var out: [(UInt64, UInt64)] = []
            for (s, e) in ranges {
                if let last = out.last, last.1 == s { out[out.count - 1].1 = e } else { out.append((s, e)) }
            }
            return out
        }
        let machineCover = coverage(left.map { ($0.start, $0.end) })
        let modelCover = coverage(u.before.map { ($0.start, $0.end) })
        guard machineCover.elementsEqual(modelCover, by: { $0 == $1 }) else {
            throw fail("the machine maps \(left) of the range, the model \(u.before.map { Mapping(start: $0.start, end: $0.end, prot: $0.prot, shared: $0.isShared) })")
        }
        // Each page keeps its old protection or takes the new one, the new
        // one only before the first page that kept an old one different
        // from it (or before a hole).
        var firstKept: UInt64?
        var lastChanged: UInt64?
        for m in left {
            for old in u.before where old.start < m.end && old.end > m.start {
                guard old.isShared == m.shared else {
                    throw fail("\(m) is \(m.shared ? "" : "not ")shared, it was \(old.isShared ? "" : "not ")shared")
                }
                let at = max(old.start, m.start)
                if m.prot == old.prot && old.prot != u.prot {
                    if firstKept == nil { firstKept = at }
                } else if m.prot == u.prot && old.prot != u.prot {
                    lastChanged = at
                } else if m.prot != old.prot {
                    throw fail("\(m) has prot \(m.prot), expected the old \(old.prot) or the new \(u.prot)")
                }
            }
        }
        // The first hole ends what mprotect could change.
        var cursor = u.start
        for (s, e) in machineCover {
            if s > cursor { break }
            cursor = e
        }
        let hole: UInt64? = cursor < u.end ? cursor : nil
        let limit = [firstKept, hole].compactMap { $0 }.min()
        if let lastChanged, let limit, lastChanged >= limit {
            throw fail("protection changed at 0x\(String(lastChanged, radix: 16)), after mprotect "
                + "must have stopped at 0x\(String(limit, radix: 16))")
        }
        var changed = space
        for m in left { changed.protect(m.start, m.end, m.prot) }
        spaces[u.mm] = changed
        undecided = nil
    }
}
