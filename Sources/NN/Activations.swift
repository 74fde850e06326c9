#if canImport(Glibc)
import Glibc
#endif

/// Vectorised e^x for 8 lanes (Cephes-style: range reduction by ln 2, degree-6 polynomial,
/// scaling by 2^n through the exponent bits). Relative error ~1e-7 over [-87, 88]; inputs are
/// clamped to that range (e^x of very negative x returns ~1e-38, not 0). Written with
/// select-based clamping and the 1.5 * 2^23 rounding trick so that it stays in vector registers:
/// `pointwiseMin`, `.rounded()` and integer conversions of SIMD types compile to per-lane calls.
@inlinable
func simdExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let lo = SIMD8<Float>(repeating: -87.3), hi = SIMD8<Float>(repeating: 88.3)
    let xc = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
    // n = round(x log2 e) lands in the low mantissa bits of t.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let t = xc * 1.442_695_04 + magic
    let n = t - magic
    let r = xc - n * 0.693_359_375 - n * -2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 0.166_666_655
    p = p * r + 0.500_000_01
    let y = p * r * r + r + 1
    let bits = (unsafeBitCast(t, to: SIMD8<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return y * unsafeBitCast(bits, to: SIMD8<Float>.self)
}

/// SiLU (swish): y = x * sigmoid(x). The bulk runs 8 lanes at a time.
public enum SiLU {
    /// y = silu(x); also stores sigmoid(x) in `sig` for the backward pass when given.
    @inlinable
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                               sigmoid sig: UnsafeMutablePointer<Float>? = nil) {
        var i = 0
        let one = SIMD8<Float>(repeating: 1)
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let s = one / (one + simdExp(-v))
            UnsafeMutableRawPointer(y + i).storeBytes(of: v * s, as: SIMD8<Float>.self)
            if let sig { UnsafeMutableRawPointer(sig + i).storeBytes(of: s, as: SIMD8<Float>.self) }
            i += 8
        }
        while i < count {
            let s = 1 / (1 + expf(-x[i]))
            sig?[i] = s
            y[i] = x[i] * s
            i += 1
        }
    }

    /// dx = dy * silu'(x), with sigmoid(x) from the forward pass. `dx` may alias `dy`.
    @inlinable
    public static func backward(x: UnsafePointer<Float>, sigmoid sig: UnsafePointer<Float>,
                                dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let s = sig[i]
            dx[i] = dy[i] * (s + x[i] * s * (1 - s))
        }
    }

    /// dx = dy * silu'(x), recomputing the sigmoid. `dx` may alias `dy`.
    @inlinable
    public static func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                count: Int) {
        var i = 0
        let one = SIMD8<Float>(repeating: 1)
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let g = UnsafeRawPointer(dy + i).loadUnaligned(as: SIMD8<Float>.self)
            let s = one / (one + simdExp(-v))
            UnsafeMutableRawPointer(dx + i).storeBytes(of: g * (s + v * s * (one - s)), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            let s = 1 / (1 + expf(-x[i]))
            dx[i] = dy[i] * (s + x[i] * s * (1 - s))
            i += 1
        }
    }
}
