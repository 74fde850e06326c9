/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
/// a counter-based generator. Each 128-bit counter under a 64-bit key maps to four
/// independent 32-bit outputs, so any draw can be computed directly from its coordinates.
public enum Philox {
    @usableFromInline static let m0: UInt32 = 0xD251_1F53
    @usableFromInline static let m1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9
    @usableFromInline static let w1: UInt32 = 0xBB67_AE85

    /// The Philox4x32-10 bijection of `counter` under `key`.
    @inlinable
    public static func block(_ counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        var c = counter
        var k = key
        for round in 0..<10 {
            if round > 0 { k &+= SIMD2(w0, w1) }
            let p0 = UInt64(m0) &* UInt64(c[0])
            let p1 = UInt64(m1) &* UInt64(c[2])
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            c = SIMD4(hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0)
        }
        return c
    }

    /// Four Philox4x32-10 blocks at once, one per SIMD lane: counters (c0[l], c1, c2, c3) for
    /// lane l; returns output word 0, 1, 2 and 3 of each block. Equal to `block` lane by lane.
    @inlinable
    public static func blocks4(_ c0: SIMD4<UInt32>, _ c1: UInt32, _ c2: UInt32, _ c3: UInt32,
                               key: SIMD2<UInt32>) -> (SIMD4<UInt32>, SIMD4<UInt32>, SIMD4<UInt32>, SIMD4<UInt32>) {
        var x0 = c0, x1 = SIMD4(repeating: c1), x2 = SIMD4(repeating: c2), x3 = SIMD4(repeating: c3)
        var k0 = key[0], k1 = key[1]
        for round in 0..<10 {
            if round > 0 { k0 &+= w0; k1 &+= w1 }
            let p0 = SIMD4<UInt64>(truncatingIfNeeded: x0) &* UInt64(m0)
            let p1 = SIMD4<UInt64>(truncatingIfNeeded: x2) &* UInt64(m1)
            let hi0 = SIMD4<UInt32>(truncatingIfNeeded: p0 &>> 32), lo0 = SIMD4<UInt32>(truncatingIfNeeded: p0)
            let hi1 = SIMD4<UInt32>(truncatingIfNeeded: p1 &>> 32), lo1 = SIMD4<UInt32>(truncatingIfNeeded: p1)
            (x0, x1, x2, x3) = (hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0)
        }
        return (x0, x1, x2, x3)
    }
}

/// SplitMix64 (Steele, Lea and Flood 2014): a tiny sequential generator for tests and tools
/// that need a reproducible stream from one 64-bit seed (training draws use `Draws`).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
