#if canImport(Glibc)
import Glibc
#endif

/// What a random draw is for. Together with (seed, step, global sample index) it selects an
/// independent Philox stream, so the draws of a sample never depend on which rank owns it.
public struct Purpose: Hashable, Sendable {
    /// The raw 32-bit tag: a kind in the high 16 bits and a sub-index (e.g. a Langevin step) low.
    public let raw: UInt32

    public init(kind: UInt16, sub: Int = 0) {
        raw = UInt32(kind) << 16 | UInt32(truncatingIfNeeded: sub & 0xFFFF)
    }

    /// The same kind with another sub-index (e.g. Langevin step k).
    public func sub(_ s: Int) -> Purpose { Purpose(kind: UInt16(raw >> 16), sub: s) }

    // Each module declares the purposes of its own draws as extensions (NN: parameter
    // initialisation; Diffusion: data, noise, sampling; Distillation: chains, student,
    // evaluation). Kinds must be distinct across modules: a test lists them all.
    /// Draws made by tests and benchmarks.
    public static let test = Purpose(kind: 99)
}

/// The coordinates of one stream of draws: (seed, step, purpose, global sample index).
public struct DrawKey: Hashable, Sendable {
    public var seed: UInt64
    public var step: UInt64
    public var purpose: Purpose
    public var index: UInt64

    public init(seed: UInt64, step: Int, purpose: Purpose, index: Int) {
        self.seed = seed
        self.step = UInt64(truncatingIfNeeded: step)
        self.purpose = purpose
        self.index = UInt64(truncatingIfNeeded: index)
    }

    /// Block j of this stream (four 32-bit words).
    @inlinable
    public func block(_ j: Int) -> SIMD4<UInt32> {
        let key = SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        // counter: (block j, sample index, step, purpose); the high halves of index and step
        // are folded into the block word's upper bits so long runs stay distinct.
        let hi = UInt32(truncatingIfNeeded: (index >> 32) ^ (step >> 32)) << 24
        let counter = SIMD4(UInt32(truncatingIfNeeded: j) ^ hi, UInt32(truncatingIfNeeded: index),
                            UInt32(truncatingIfNeeded: step), purpose.raw)
        return Philox.block(counter, key: key)
    }

    /// Blocks j ..< j+4 at once, as the four output words across the four blocks.
    @inlinable
    public func blocks4(_ j: Int) -> (SIMD4<UInt32>, SIMD4<UInt32>, SIMD4<UInt32>, SIMD4<UInt32>) {
        let hi = UInt32(truncatingIfNeeded: (index >> 32) ^ (step >> 32)) << 24
        let j0 = UInt32(truncatingIfNeeded: j)
        let c0 = SIMD4(j0, j0 &+ 1, j0 &+ 2, j0 &+ 3) ^ hi
        return Philox.blocks4(c0, UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: step), purpose.raw,
                              key: SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
    }
}

/// Stateless draws addressed by `DrawKey`.
public enum Draws {
    /// Uniform in the open interval (0, 1) from the top 24 bits of a word.
    @inlinable
    public static func unitFloat(_ x: UInt32) -> Float {
        (Float(x >> 8) + 0.5) * (1.0 / 16_777_216.0)
    }

    /// Fill `count` uniforms in (0, 1) for `key`.
    @inlinable
    public static func uniform(_ key: DrawKey, into out: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0, j = 0
        while i < count {
            let b = key.block(j)
            for l in 0..<4 where i + l < count { out[i + l] = unitFloat(b[l]) }
            i += 4; j += 1
        }
    }

    /// Fill `count` standard normals for `key` (Box-Muller on Philox uniforms). Block j of the
    /// stream gives out[4j ..< 4j+4] = (r0 cos t0, r0 sin t0, r1 cos t1, r1 sin t1) with
    /// r = sqrt(-2 ln u) from words 0 and 2 and t = 2 pi u from words 1 and 3. Four blocks are
    /// generated and transformed at a time in SIMD lanes; the lane arithmetic is elementwise,
    /// so a value does not depend on how many were asked for.
    @inlinable
    public static func normal(_ key: DrawKey, into out: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0, j = 0
        while i < count {
            let w = key.blocks4(j)
            let (r, c, s) = boxMuller(radius: SIMD8(lowHalf: w.0, highHalf: w.2), angle: SIMD8(lowHalf: w.1, highHalf: w.3))
            if i + 16 <= count {
                for b in 0..<4 {
                    out[i + 4 * b] = r[b] * c[b]; out[i + 4 * b + 1] = r[b] * s[b]
                    out[i + 4 * b + 2] = r[4 + b] * c[4 + b]; out[i + 4 * b + 3] = r[4 + b] * s[4 + b]
                }
            } else {
                for l in 0..<(count - i) {
                    let b = l / 4, lane = l % 4 < 2 ? b : 4 + b
                    out[i + l] = r[lane] * (l % 2 == 0 ? c[lane] : s[lane])
                }
            }
            i += 16; j += 4
        }
    }

    /// sqrt(-2 ln u1) and the cosine and sine of 2 pi u2, for the top 24 bits of each word.
    @inlinable
    static func boxMuller(radius: SIMD8<UInt32>, angle: SIMD8<UInt32>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let scale: Float = 1.0 / 16_777_216.0
        let u1 = (VectorMath.exactFloat(radius &>> 8) + 0.5) * scale
        let u2 = (VectorMath.exactFloat(angle &>> 8) + 0.5) * scale
        let r = (-2 * VectorMath.log(u1)).squareRoot()
        let (s, c) = VectorMath.sinCos2Pi(u2)
        return (r, c, s)
    }
    /// One standard normal for `key`.
    @inlinable
    public static func normal(_ key: DrawKey) -> Float {
        var v: Float = 0
        normal(key, into: &v, count: 1)
        return v
    }

    /// One uniform in (0, 1) for `key`.
    @inlinable
    public static func uniform(_ key: DrawKey) -> Float {
        unitFloat(key.block(0)[0])
    }

    /// `rows` rows of `dimension` normals times `scale`, row r from the stream of sample index
    /// `firstIndex + r` (so a row's values do not depend on how samples are chunked).
    public static func normalRows(seed: UInt64, step: Int, purpose: Purpose, firstIndex: Int, rows: Int,
                                  dimension: Int, scale: Float = 1, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = out + r * dimension
            normal(DrawKey(seed: seed, step: step, purpose: purpose, index: firstIndex + r), into: row, count: dimension)
            if scale != 1 { for i in 0..<dimension { row[i] *= scale } }
        }
    }

    /// Normals as an array (convenience, allocates).
    public static func normals(_ key: DrawKey, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buf, n in
            normal(key, into: buf.baseAddress!, count: count); n = count
        }
    }
}

/// A sequential `RandomNumberGenerator` over one Philox stream, for shuffles and the like.
public struct PhiloxGenerator: RandomNumberGenerator {
    private let key: DrawKey
    private var block = 0
    private var buffer = SIMD4<UInt32>()
    private var used = 4

    public init(_ key: DrawKey) { self.key = key }

    public mutating func next() -> UInt64 {
        let lo = nextWord(), hi = nextWord()
        return UInt64(hi) << 32 | UInt64(lo)
    }

    private mutating func nextWord() -> UInt32 {
        if used == 4 { buffer = key.block(block); block += 1; used = 0 }
        defer { used += 1 }
        return buffer[used]
    }
}

/// A permutation of 0..<n determined by `key` (Fisher-Yates over a Philox stream).
public func permutation(_ n: Int, key: DrawKey) -> [Int] {
    var g = PhiloxGenerator(key)
    var p = Array(0..<n)
    p.shuffle(using: &g)
    return p
}
