/// SplitMix64 (Steele, Lea and Flood 2014): a tiny generator used to expand
/// one 64-bit seed into many, and to derive per-case seeds from a run seed.
public struct SplitMix64: Sendable {
    public var state: UInt64

    @inlinable
    public init(seed: UInt64) {
        state = seed
    }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// One well-mixed value of `seed` (the first output of a SplitMix64
    /// seeded with it).
    @inlinable
    public static func mix(_ seed: UInt64) -> UInt64 {
        var g = SplitMix64(seed: seed)
        return g.next()
    }
}

/// xoshiro256** (Blackman and Vigna 2018), seeded through SplitMix64: the
/// engine's only source of randomness, so that a seed names a case exactly
/// on every platform and Swift version (the standard library's generators
/// promise neither).
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    @usableFromInline var s0: UInt64
    @usableFromInline var s1: UInt64
    @usableFromInline var s2: UInt64
    @usableFromInline var s3: UInt64

    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next()
        s1 = sm.next()
        s2 = sm.next()
        s3 = sm.next()
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    @inlinable
    func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 &- k))
    }

    /// A uniform value in `0 ..< bound` (`bound` > 0), by Lemire's
    /// multiply-and-reject method: no bias, no division in the common case.
    @inlinable
    public mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold {
                m = next().multipliedFullWidth(by: bound)
            }
        }
        return m.high
    }

    /// A uniform `Int` in `range`.
    @inlinable
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        let span = UInt64(bitPattern: Int64(range.upperBound &- range.lowerBound)) &+ 1
        if span == 0 { return Int(truncatingIfNeeded: next()) }
        return range.lowerBound &+ Int(truncatingIfNeeded: below(span))
    }

    /// A uniform `Int` in `range`.
    @inlinable
    public mutating func int(_ range: Range<Int>) -> Int {
        int(range.lowerBound ... range.upperBound - 1)
    }

    /// True with probability `numerator / denominator`.
    @inlinable
    public mutating func chance(_ numerator: UInt64, in denominator: UInt64) -> Bool {
        below(denominator) < numerator
    }

    /// An index into `weights`, chosen with probability proportional to
    /// its weight (`total` is their sum, > 0).
    @inlinable
    public mutating func weighted(_ weights: [UInt32], total: UInt64) -> Int {
        var r = below(total)
        for (i, w) in weights.enumerated() {
            if r < UInt64(w) { return i }
            r -= UInt64(w)
        }
        return weights.count - 1
    }

    /// An element of a non-empty array.
    @inlinable
    public mutating func element<T>(_ array: [T]) -> T {
        array[Int(below(UInt64(array.count)))]
    }
}
