import CKernels

/// SiLU (swish): y = x * sigmoid(x). The kernels (CKernels) run at the CPU's widest vector
/// width: e^x by range reduction and a degree-6 polynomial (relative error ~1e-7 over [-87, 88],
/// inputs clamped to that range), libm's expf for the last n % 8 elements.
public enum SiLU {
    /// y = silu(x); also stores sigmoid(x) in `sig` for the backward pass when given.
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                               sigmoid sig: UnsafeMutablePointer<Float>? = nil) {
        emd_silu_forward(x, y, sig, count)
    }

    /// dx = dy * silu'(x), with sigmoid(x) from the forward pass. `dx` may alias `dy`.
    public static func backward(x: UnsafePointer<Float>, sigmoid sig: UnsafePointer<Float>,
                                dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        emd_silu_backward_stored(x, sig, dy, dx, count)
    }

    /// dx = dy * silu'(x), recomputing the sigmoid. `dx` may alias `dy`.
    public static func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                count: Int) {
        emd_silu_backward(x, dy, dx, count)
    }
}

