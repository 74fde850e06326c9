import BLAS

/// y = x W^T + b for a batch of row vectors. W is [out, in] row-major.
public struct Linear: Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    /// Offset of W in the parameter buffer.
    public let weight: Int
    /// Offset of b, or nil without bias.
    public let bias: Int?

    /// Register `name.weight` (and `name.bias`) in `layout`. Weights start uniform in
    /// +-`scale`/sqrt(in) (scale 1 is PyTorch's default bound), biases at zero.
    public init(_ layout: inout ParameterLayout, _ name: String, in inFeatures: Int, out outFeatures: Int,
                bias: Bool = true, scale: Float = 1) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = scale / Float(max(inFeatures, 1)).squareRoot()
        (weight, self.bias) = layout.scope(name) { l in
            (l.add("weight", shape: [outFeatures, inFeatures], init: .uniform(bound)),
             bias ? l.add("bias", shape: [outFeatures], init: .zeros) : nil)
        }
    }

    /// Multiply-adds per sample of one forward pass.
    public var macsPerSample: Int { inFeatures * outFeatures }

    /// y[batch, out] = x[batch, in] W^T + b; with `accumulate`, adds to y instead.
    @inlinable
    public func forward(_ p: Parameters, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int,
                        accumulate: Bool = false) {
        BLAS.gemm(transB: true, m: batch, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
                  b: p.values + weight, ldb: inFeatures, beta: accumulate ? 1 : 0, c: y, ldc: outFeatures)
        if let bias {
            let b = p.values + bias
            for r in 0..<batch {
                let row = y + r * outFeatures
                for j in 0..<outFeatures { row[j] += b[j] }
            }
        }
    }

    /// Backward pass: accumulates dW, db into `p.grads` when `paramGrads`, and writes (or, with
    /// `accumulateInput`, adds) dx when `dx` is given.
    @inlinable
    public func backward(_ p: Parameters, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, paramGrads: Bool = true,
                         accumulateInput: Bool = false) {
        if paramGrads {
            BLAS.gemm(transA: true, m: outFeatures, n: inFeatures, k: batch, a: dy, lda: outFeatures,
                      b: x, ldb: inFeatures, beta: 1, c: p.grads + weight, ldc: inFeatures)
            if let bias {
                let gb = p.grads + bias
                for r in 0..<batch {
                    let row = dy + r * outFeatures
                    for j in 0..<outFeatures { gb[j] += row[j] }
                }
            }
        }
        if let dx {
            BLAS.gemm(m: batch, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures,
                      b: p.values + weight, ldb: inFeatures, beta: accumulateInput ? 1 : 0, c: dx, ldc: inFeatures)
        }
    }
}
