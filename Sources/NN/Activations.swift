#if canImport(Glibc)
import Glibc
#endif

/// SiLU (swish): y = x * sigmoid(x).
public enum SiLU {
    /// y = silu(x); also stores sigmoid(x) in `sig` for the backward pass when given.
    @inlinable
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                               sigmoid sig: UnsafeMutablePointer<Float>? = nil) {
        if let sig {
            for i in 0..<count {
                let s = 1 / (1 + expf(-x[i]))
                sig[i] = s
                y[i] = x[i] * s
            }
        } else {
            for i in 0..<count { y[i] = x[i] / (1 + expf(-x[i])) }
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
        for i in 0..<count {
            let s = 1 / (1 + expf(-x[i]))
            dx[i] = dy[i] * (s + x[i] * s * (1 - s))
        }
    }
}
