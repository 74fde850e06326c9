/// Elementwise logarithm and sine/cosine on SIMD lanes for the Box-Muller transform, in pure
/// float arithmetic (the same results on every IEEE machine, whatever libm it has). Polynomials
/// of the classic Cephes single-precision kind; errors of a few units in the last place on the
/// ranges used here (tested against double-precision libm).
public enum VectorMath {
    /// Natural logarithm for positive, normal x.
    @inlinable
    public static func log(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // Only float and bit operations: SIMD int<->float conversions are not vectorised.
        let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
        var ef = exactFloat((bits &>> 23) & 0xFF) - 126
        // Mantissa in [0.5, 1).
        var m = unsafeBitCast((bits & 0x807F_FFFF) | 0x3F00_0000, to: SIMD8<Float>.self)
        let small = m .< 0.707_106_78
        ef = ef - SIMD8<Float>(repeating: 0).replacing(with: 1, where: small)
        m = (m + SIMD8<Float>(repeating: 0).replacing(with: m, where: small)) - 1
        let z = m * m
        var p: SIMD8<Float> = SIMD8(repeating: 7.037_683_629_2e-2)
        p = p * m - 1.151_461_031_0e-1
        p = p * m + 1.167_699_874_0e-1
        p = p * m - 1.242_014_084_6e-1
        p = p * m + 1.424_932_278_7e-1
        p = p * m - 1.666_805_766_5e-1
        p = p * m + 2.000_071_476_5e-1
        p = p * m - 2.499_999_399_3e-1
        p = p * m + 3.333_333_117_4e-1
        var y = p * m * z
        y += -2.121_944_40e-4 * ef
        y += -0.5 * z
        return m + y + 0.693_359_375 * ef
    }

    /// The exact float value of integers below 2^24, by bit operations.
    @inlinable
    public static func exactFloat(_ v: SIMD8<UInt32>) -> SIMD8<Float> {
        let twoTo23: Float = 8_388_608
        let half = unsafeBitCast(0x4B00_0000 | (v &>> 1), to: SIMD8<Float>.self) - twoTo23
        let odd = unsafeBitCast(0x4B00_0000 | (v & 1), to: SIMD8<Float>.self) - twoTo23
        return half * 2 + odd
    }

    /// sin(2 pi u) and cos(2 pi u) for u in [0, 1]: u is reduced exactly to the nearest quarter
    /// turn, the remainder (at most an eighth of a turn) goes through minimax polynomials.
    @inlinable
    public static func sinCos2Pi(_ u: SIMD8<Float>) -> (sin: SIMD8<Float>, cos: SIMD8<Float>) {
        // Round to the nearest integer (ties to even) by adding and removing 1.5 * 2^23.
        let magic: Float = 12_582_912
        let q = (u * 4 + magic) - magic
        let a = (u - q * 0.25) * (2 * Float.pi)
        let z = a * a
        var ps: SIMD8<Float> = SIMD8(repeating: -1.951_529_589_1e-4)
        ps = ps * z + 8.332_160_873_6e-3
        ps = ps * z - 1.666_665_461_1e-1
        let s = ps * z * a + a
        var pc: SIMD8<Float> = SIMD8(repeating: 2.443_315_711_809_948e-5)
        pc = pc * z - 1.388_731_625_493_765e-3
        pc = pc * z + 4.166_664_568_298_827e-2
        let c = pc * z * z - 0.5 * z + 1
        // q in {0, 1, 2, 3, 4}; 4 is a full turn.
        let q1 = q .== 1, q2 = q .== 2, q3 = q .== 3
        var sine = s, cosine = c
        sine.replace(with: c, where: q1)
        sine.replace(with: -s, where: q2)
        sine.replace(with: -c, where: q3)
        cosine.replace(with: -s, where: q1)
        cosine.replace(with: -c, where: q2)
        cosine.replace(with: s, where: q3)
        return (sine, cosine)
    }
}
