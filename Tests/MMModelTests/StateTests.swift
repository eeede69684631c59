import Testing
@testable import MMModel

/// The abstract state: the normalized view, counters, frame identities,
/// and the model as a value.
@Suite struct StateTests {
    /// A page's words behave as the dictionary they replace: an entry
    /// set to 0 is still an entry, nil removes it, and two pages with the
    /// same entries are equal (and hash alike) whatever the order they
    /// were written in.
    @Test func pageWordsActAsADictionary() {
        var a: PageWords = [:]
        var b: PageWords = [:]
        var oracle: [UInt16: UInt64] = [:]
        var rng = SystemRandomNumberGenerator()
        for _ in 0 ..< 2000 {
            let index = UInt16.random(in: 0 ..< 40, using: &rng)
            let value: UInt64? = Bool.random(using: &rng) ? nil : UInt64.random(in: 0 ... 2, using: &rng)
            a[index] = value
            oracle[index] = value
        }
        for index in UInt16(0) ..< 512 {
            #expect(a[index] == oracle[index])
        }
        for (index, value) in oracle.sorted(by: { $0.key > $1.key }) { b[index] = value }
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        b[600] = 0
        #expect(a != b)
        #expect(b[600] == 0)
        b[600] = nil
        #expect(a == b)
        let literal: PageWords = [3: 1, 1: 2]
        var written: PageWords = [:]
        written[1] = 2
        written[3] = 1
        #expect(literal == written)
    }

    /// A page map behaves as the dictionary it replaces, through growth
    /// and removals that shift entries back over runs that wrap around
    /// the table (page numbers in a few clusters, as the generator's
    /// arenas give them); two maps with the same entries are equal and
    /// hash alike whatever the order they were made in and however
    /// large their tables grew.
    @Test func pageMapsActAsADictionary() {
        var map: PageMap = [:]
        var oracle: [UInt64: UInt64] = [:]
        var rng = SystemRandomNumberGenerator()
        let bases: [UInt64] = [0, 0x1ff, 0x3_ffff_fe00, 0x7_ffff_fff0]
        for round in 0 ..< 20_000 {
            let page = bases.randomElement(using: &rng)! + UInt64.random(in: 0 ..< 48, using: &rng)
            switch UInt.random(in: 0 ..< 3, using: &rng) {
            case 0:
                #expect(map.removeValue(forKey: page) == oracle.removeValue(forKey: page))
            case 1:
                map[page] = nil
                oracle[page] = nil
            default:
                map[page] = UInt64(round)
                oracle[page] = UInt64(round)
            }
            #expect(map.count == oracle.count)
        }
        for base in bases {
            for page in base ..< base + 64 { #expect(map[page] == oracle[page]) }
        }
        #expect(Dictionary(uniqueKeysWithValues: map.map { ($0.key, $0.value) }) == oracle)
        #expect(Set(map.keys) == Set(oracle.keys) && map.values.sorted() == oracle.values.sorted())

        // The same entries, inserted in another order into a table
        // reserved larger: equal, same hash.
        var other: PageMap = [:]
        other.reserveCapacity(1000)
        for (page, key) in oracle.sorted(by: { $0.key > $1.key }) { other[page] = key }
        #expect(other == map && other.hashValue == map.hashValue)
        if let (page, key) = oracle.first {
            other[page] = key + 1
            #expect(other != map)
            other[page] = nil
            #expect(other != map)
            other[page] = key
            #expect(other == map)
        }
        // Emptied equals empty.
        for page in oracle.keys { other[page] = nil }
        #expect(other == [:] && other.isEmpty && other.hashValue == PageMap().hashValue)
        #expect(other[bases[1]] == nil)
        let literal: PageMap = [3: 1, 1: 2]
        #expect(literal[3] == 1 && literal[1] == 2 && literal.count == 2)
    }

    /// One word is kept inline, more in an array: a page that grew to
    /// two words and shrank back equals one written once, and a page
    /// emptied equals an empty one, as their dictionaries would.
    @Test func pageWordsAreEqualHoweverTheyGrewAndShrank() {
        var once: PageWords = [:]
        once[7] = 5
        for other: UInt16 in [3, 9] {
            var grown: PageWords = [:]
            grown[7] = 5
            grown[other] = 1
            #expect(grown != once)
            #expect(grown[7] == 5 && grown[other] == 1)
            grown[other] = nil
            #expect(grown == once)
            #expect(grown.hashValue == once.hashValue)
            grown[7] = nil
            #expect(grown == [:])
            #expect(grown[7] == nil)
        }
        var replaced = once
        replaced[7] = 6
        #expect(replaced[7] == 6 && replaced != once)
        replaced[2] = nil
        #expect(replaced == [7: 6])
    }

    @Test func theViewMergesTouchingMappingsWithTheSameProtectionAndSharing() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.map(a, 0x12000, pages: 2)                           // merges
        try d.map(a, 0x14000, pages: 1, prot: PROT_READ)          // other prot
        try d.map(a, 0x15000, pages: 1, prot: PROT_READ, shared: true)   // other sharing
        try d.map(a, 0x16000, pages: 1, prot: PROT_READ, shared: true)   // another object: merges
        try d.map(a, 0x18000, pages: 1, prot: PROT_READ, shared: true)   // not touching
        #expect(d.state(a).mappings == [
            mapping(0x10000, 0x14000, RW), mapping(0x14000, 0x15000, PROT_READ),
            mapping(0x15000, 0x17000, PROT_READ, shared: true),
            mapping(0x18000, 0x19000, PROT_READ, shared: true),
        ])
        #expect(d.state(a).totalVM == 8)
        // a split and a re-merge leave no trace
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x11000, length: page, prot: PROT_NONE), .ok)
        try d.run(.mprotect(cpu: 0, mm: a, addr: 0x11000, length: page, prot: RW), .ok)
        #expect(d.state(a).mappings.first == mapping(0x10000, 0x14000, RW))
    }

    @Test func countersAndPages() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 3)
        try d.map(a, 0x20000, pages: 3, shared: true)
        try d.store(a, 0x10000, 1)
        try d.load(a, 0x12000, 0)
        try d.store(a, 0x21000, 2)
        let s = d.state(a)
        #expect(s.anonRSS == 2)
        #expect(s.fileRSS == 1)
        #expect(s.totalVM == 6)
        #expect(Set(s.pages.keys) == [0x10000, 0x12000, 0x21000])
        #expect(s.pages[0x10000]!.word0 == 1)
        #expect(s.pages[0x21000]!.word0 == 2)
        #expect(Set(s.pages.values.map(\.frame)).count == 3)
        #expect(d.model.userPages == 3)
    }

    @Test func userPagesCountsFramesOnceAndObjectsPagesWhileTheyLive() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000, pages: 2)
        try d.map(a, 0x20000, pages: 2, shared: true)
        for addr: UInt64 in [0x10000, 0x11000, 0x20000, 0x21000] { try d.store(a, addr, 1) }
        #expect(d.model.userPages == 4)
        let b = try d.fork(a)
        #expect(d.model.userPages == 4)           // shared copy-on-write, shared object
        try d.load(b, 0x20000, 1)
        #expect(d.model.userPages == 4)
        try d.store(b, 0x10000, 2)
        #expect(d.model.userPages == 5)
        try d.run(.madvise(cpu: 0, mm: a, addr: 0x20000, length: 2 * page, advice: MADV_DONTNEED), .ok)
        try d.run(.madvise(cpu: 0, mm: b, addr: 0x20000, length: 2 * page, advice: MADV_DONTNEED), .ok)
        #expect(d.model.userPages == 5)           // the object holds its pages
        try d.run(.exit(cpu: 0, mm: a), .ok)
        #expect(d.model.userPages == 4)           // a's copy of 0x10000 goes
        try d.run(.exit(cpu: 0, mm: b), .ok)
        #expect(d.model.userPages == 0)
    }

    @Test func theModelIsAValue() throws {
        var d = Driver()
        let a = try d.newMM()
        try d.map(a, 0x10000)
        try d.store(a, 0x10000, 1)
        let snapshot = d.model
        try d.store(a, 0x10000, 2)
        try d.run(.munmap(cpu: 0, mm: a, addr: 0x10000, length: page), .ok)
        #expect(snapshot.state(of: a)?.pages[0x10000]?.word0 == 1)
        #expect(snapshot != d.model)
        var replay = Driver()
        replay.model = snapshot
        try replay.load(a, 0x10000, 1)
    }
}

/// The model against a naive per-page oracle written separately here, on
/// random sequences of calls in a window that crosses a page-table
/// boundary: the model must accept every outcome the oracle predicts,
/// reject wrong ones, and agree on the whole state after each call.
@Suite struct CrossCheckTests {
    struct RNG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// The oracle: every page of every mm, one by one.
    struct Oracle {
        struct PageMap: Equatable { var prot: Int32; var object: Int; var offset: UInt64 }
        struct Space { var users = 1; var map: [UInt64: PageMap] = [:]; var present: [UInt64: Int] = [:] }
        var spaces: [Int32: Space] = [:]
        var words: [Int: [UInt64: UInt64]] = [:]           // frame -> word offset -> value
        var objects: [Int: [UInt64: Int]] = [:]            // object -> page offset -> frame
        var nextFrame = 1, nextObject = 1
        var nextID: Int32 = 0

        func isPrivate(_ frame: Int) -> Bool {
            !objects.values.contains { $0.values.contains(frame) }
        }
        func mappers(_ frame: Int) -> Int {
            spaces.values.reduce(0) { $0 + $1.present.values.filter { $0 == frame }.count }
        }
        mutating func newFrame() -> Int { defer { nextFrame += 1 }; words[nextFrame] = [:]; return nextFrame }

        /// Forget objects no page maps and private frames no mm maps.
        mutating func collect() {
            let mapped = Set(spaces.values.flatMap { $0.map.values.map(\.object) })
            for o in objects.keys where !mapped.contains(o) { objects[o] = nil }
            let live = Set(objects.values.flatMap(\.values))
                .union(spaces.values.flatMap(\.present.values))
            for f in words.keys where !live.contains(f) { words[f] = nil }
        }

        mutating func drop(_ mm: Int32, _ p: UInt64) { spaces[mm]!.present[p] = nil }

        mutating func fault(_ mm: Int32, _ p: UInt64) -> Int {
            if let f = spaces[mm]!.present[p] { return f }
            let m = spaces[mm]!.map[p]!
            let f: Int
            if m.object == 0 {
                f = newFrame()
            } else if let g = objects[m.object]![m.offset] {
                f = g
            } else {
                f = newFrame()
                objects[m.object]![m.offset] = f
            }
            spaces[mm]!.present[p] = f
            return f
        }

        mutating func access(_ mm: Int32, _ addr: UInt64, store: UInt64?) -> Outcome {
            guard spaces[mm] != nil else { return ESRCH }
            let p = addr >> 12
            guard let m = spaces[mm]!.map[p], m.prot != 0,
                  store == nil || m.prot & PROT_WRITE != 0 else { return .segv }
            if let value = store {
                var f = fault(mm, p)
                if isPrivate(f), mappers(f) > 1 {
                    let copy = newFrame()
                    words[copy] = words[f]
                    spaces[mm]!.present[p] = copy
                    f = copy
                }
                words[f]![addr & 0xfff] = value
                return .value(value)
            }
            let f = fault(mm, p)
            return .value(words[f]![addr & 0xfff] ?? 0)
        }

        mutating func mmapFixed(_ mm: Int32, _ addr: UInt64, _ pages: UInt64, _ prot: Int32,
                                shared: Bool) -> Outcome {
            guard spaces[mm] != nil else { return ESRCH }
            var object = 0
            if shared { object = nextObject; nextObject += 1; objects[object] = [:] }
            let eff = prot == 0 ? 0 : prot | PROT_READ
            for i in 0 ..< pages {
                let p = (addr >> 12) + i
                drop(mm, p)
                spaces[mm]!.map[p] = PageMap(prot: eff, object: object, offset: i)
            }
            collect()
            return .address(addr)
        }

        mutating func munmap(_ mm: Int32, _ addr: UInt64, _ pages: UInt64) -> Outcome {
            guard spaces[mm] != nil else { return ESRCH }
            for p in (addr >> 12) ..< (addr >> 12) + pages {
                drop(mm, p)
                spaces[mm]!.map[p] = nil
            }
            collect()
            return .ok
        }

        mutating func mprotect(_ mm: Int32, _ addr: UInt64, _ pages: UInt64, _ prot: Int32) -> Outcome {
            guard spaces[mm] != nil else { return ESRCH }
            for p in (addr >> 12) ..< (addr >> 12) + pages {
                guard spaces[mm]!.map[p] != nil else { return ENOMEM }
                spaces[mm]!.map[p]!.prot = prot == 0 ? 0 : prot | PROT_READ
            }
            return .ok
        }

        mutating func madvise(_ mm: Int32, _ addr: UInt64, _ pages: UInt64) -> Outcome {
            guard spaces[mm] != nil else { return ESRCH }
            var hole = false
            for p in (addr >> 12) ..< (addr >> 12) + pages {
                if spaces[mm]!.map[p] == nil { hole = true } else { drop(mm, p) }
            }
            collect()
            return hole ? ENOMEM : .ok
        }

        mutating func fork(_ mm: Int32) -> Outcome {
            guard let parent = spaces[mm] else { return ESRCH }
            var child = Space()
            child.map = parent.map
            for (p, f) in parent.present where parent.map[p]!.object == 0 { child.present[p] = f }
            let id = nextID
            nextID += 1
            spaces[id] = child
            return .mm(id)
        }

        mutating func put(_ mm: Int32) {
            spaces[mm]!.users -= 1
            if spaces[mm]!.users == 0 { spaces[mm] = nil }
            collect()
        }

        var userPages: Int { words.count }

        func mappings(_ mm: Int32) -> [Mapping] {
            var out: [Mapping] = []
            for (p, m) in spaces[mm]!.map.sorted(by: { $0.key < $1.key }) {
                let start = p << 12
                if let last = out.last, last.end == start, last.prot == m.prot, last.shared == (m.object != 0) {
                    out[out.count - 1].end += page
                } else {
                    out.append(Mapping(start: start, end: start + page, prot: m.prot, shared: m.object != 0))
                }
            }
            return out
        }
    }

    static let window: UInt64 = 0x1f8000   // 8 pages below a pmd boundary, 8 above

    static func randomCall(_ rng: inout RNG, _ oracle: inout Oracle, live: [Int32]) -> (Call, Outcome) {
        let mm: Int32 = live.isEmpty || rng.below(40) == 0 ? Int32(rng.below(5)) - 1 : live[rng.below(live.count)]
        let cpu = rng.below(20) == 0 ? 4 : rng.below(4)
        let pageIndex = UInt64(rng.below(16))
        let addr = window + pageIndex * page
        let pages = UInt64(1 + rng.below(min(6, 16 - Int(pageIndex))))
        let prot = [PROT_NONE, PROT_READ, PROT_WRITE, RW, PROT_EXEC, 7][rng.below(6)]
        let word = [0, 8, 0xff8][rng.below(3)] as UInt64
        let badCPU = cpu >= 4
        func e(_ o: @autoclosure () -> Outcome) -> Outcome { badCPU ? EINVAL : o() }
        switch rng.below(100) {
        case 0 ..< 3:
            let id = oracle.nextID
            oracle.nextID += 1
            oracle.spaces[id] = Oracle.Space()
            return (.newMM, .mm(id))
        case 3 ..< 6:
            return (.fork(cpu: cpu, mm: mm), e(oracle.fork(mm)))
        case 6 ..< 8:
            let o: Outcome = oracle.spaces[mm] == nil ? ESRCH : .ok
            if o == .ok { oracle.spaces[mm]!.users += 1 }
            return (.mmGet(mm: mm), o)
        case 8 ..< 10:
            let o = e(oracle.spaces[mm] == nil ? ESRCH : .ok)
            if o == .ok { oracle.put(mm) }
            return (.exit(cpu: cpu, mm: mm), o)
        case 10 ..< 11:
            var o = e(oracle.spaces[mm] == nil ? ESRCH : .ok)
            if o == .ok {
                let id = oracle.nextID
                oracle.nextID += 1
                oracle.spaces[id] = Oracle.Space()
                oracle.put(mm)
                o = .mm(id)
            }
            return (.exec(cpu: cpu, mm: mm), o)
        case 11 ..< 25:
            let shared = rng.below(3) == 0
            return (.mmap(cpu: cpu, mm: mm, addr: addr, length: pages * page, prot: prot,
                          flags: (shared ? sharedAnon : privateAnon) | MAP_FIXED),
                    e(oracle.mmapFixed(mm, addr, pages, prot, shared: shared)))
        case 25 ..< 30:
            return (.munmap(cpu: cpu, mm: mm, addr: addr, length: pages * page),
                    e(oracle.munmap(mm, addr, pages)))
        case 30 ..< 37:
            return (.mprotect(cpu: cpu, mm: mm, addr: addr, length: pages * page, prot: prot),
                    e(oracle.mprotect(mm, addr, pages, prot)))
        case 37 ..< 42:
            return (.madvise(cpu: cpu, mm: mm, addr: addr, length: pages * page - 5, advice: MADV_DONTNEED),
                    e(oracle.madvise(mm, addr, pages)))
        case 42 ..< 44:
            let target: Int32? = rng.below(2) == 0 ? nil : mm
            let known = target == nil || target == -1 || oracle.spaces[target!] != nil
            return (.switchMM(cpu: cpu, mm: target), badCPU ? EINVAL : known ? .ok : ESRCH)
        case 44 ..< 70:
            return (.load(cpu: cpu, mm: mm, addr: addr + word), e(oracle.access(mm, addr + word, store: nil)))
        default:
            let value = rng.next()
            return (.store(cpu: cpu, mm: mm, addr: addr + word, value: value),
                    e(oracle.access(mm, addr + word, store: value)))
        }
    }

    @Test(arguments: 0 ..< 12)
    func theModelAgreesWithANaiveOracle(seed: Int) throws {
        var rng = RNG(state: UInt64(seed) &* 0x1234_5678_9abc_def1)
        var oracle = Oracle()
        var model = Model(cpus: 4)
        for step in 0 ..< 400 {
            let live = oracle.spaces.keys.sorted()
            let (call, outcome) = Self.randomCall(&rng, &oracle, live: live)
            // a wrong outcome must diverge
            let wrong: Outcome = switch outcome {
            case .value(let v): .value(v &+ 1)
            case .mm, .ok: ENOMEM
            default: .ok
            }
            var copy = model
            #expect(throws: Divergence.self, "step \(step): \(call) with \(wrong)") {
                try copy.apply(call, outcome: wrong, mayFailAllocation: false)
            }
            try model.apply(call, outcome: outcome, mayFailAllocation: false)
            try Self.compare(model, oracle, step: step, call: call)
        }
    }

    static func compare(_ model: Model, _ oracle: Oracle, step: Int, call: Call) throws {
        let context = Comment(rawValue: "after step \(step): \(call)")
        #expect(model.liveMMs == oracle.spaces.keys.sorted(), context)
        #expect(model.userPages == oracle.userPages, context)
        var keyOf: [Int: FrameKey] = [:], frameOf: [FrameKey: Int] = [:]
        for (mm, space) in oracle.spaces {
            let s = try #require(model.state(of: mm))
            #expect(model.users(of: mm) == space.users, context)
            #expect(s.mappings == oracle.mappings(mm), context)
            #expect(s.totalVM == space.map.count, context)
            let anon = space.present.keys.filter { space.map[$0]!.object == 0 }.count
            #expect(s.anonRSS == anon, context)
            #expect(s.fileRSS == space.present.count - anon, context)
            #expect(Set(s.pages.keys) == Set(space.present.keys.map { $0 << 12 }), context)
            for (p, f) in space.present {
                guard let view = s.pages[p << 12] else { continue }
                #expect(view.word0 == oracle.words[f]![0] ?? 0, context)
                // frames: the same partition of pages on both sides
                #expect((keyOf[f] ?? view.frame) == view.frame, context)
                #expect((frameOf[view.frame] ?? f) == f, context)
                keyOf[f] = view.frame
                frameOf[view.frame] = f
            }
        }
    }
}
