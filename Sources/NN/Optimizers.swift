import CKernels

/// Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter) over a flat parameter buffer.
/// With `decoupledWeightDecay` the decay is applied to the weights directly (AdamW);
/// otherwise it is added to the gradient (L2, classic Adam).
public final class Adam {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    public var decoupledWeightDecay: Bool
    /// First-moment estimates (same layout as the parameters).
    public let m: Tensor
    /// Second-moment estimates.
    public let v: Tensor
    /// Number of steps taken.
    public var step: Int = 0

    public init(count: Int, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupledWeightDecay: Bool = true) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        m = Tensor(shape: [count])
        v = Tensor(shape: [count])
    }

    /// One update of `p.values` from `p.grads`.
    public func update(_ p: Parameters) {
        precondition(p.count == m.count, "optimizer state does not match parameter count")
        update(values: p.values, grads: p.grads, count: p.count)
    }

    /// One update of `count` values from their gradients, with this optimiser's moments
    /// (which hold `count` values: the whole parameter buffer, or one rank's block of it when
    /// the optimiser state is sharded). Each element's arithmetic does not depend on where the
    /// block starts, so a sharded update equals the whole one element for element.
    public func update(values w: UnsafeMutablePointer<Float>, grads g: UnsafePointer<Float>, count: Int) {
        precondition(count == m.count, "optimizer state does not match parameter count")
        step += 1
        let b1 = beta1, b2 = beta2, lr = learningRate, eps = epsilon, wd = weightDecay
        let c1 = 1 - powf(b1, Float(step)), c2 = 1 - powf(b2, Float(step))
        let mp = m.data, vp = v.data
        let decoupled = decoupledWeightDecay
        // Without weight decay, all but the last count % 8 elements in one vector pass (CKernels),
        // with the same operations in the same order as the scalar tail, so results do not
        // depend on where the vector pass ends.
        var i = 0
        if wd == 0 {
            emd_adam_update(w, g, mp, vp, count, b1, b2, lr, eps, c1, c2)
            i = count - count % 8
        }
        while i < count {
            var gi = g[i]
            if wd != 0 && !decoupled { gi += wd * w[i] }
            let mi = b1 * mp[i] + (1 - b1) * gi
            let vi = b2 * vp[i] + (1 - b2) * gi * gi
            mp[i] = mi
            vp[i] = vi
            var wi = w[i]
            if wd != 0 && decoupled { wi -= lr * wd * wi }
            w[i] = wi - lr * (mi / c1) / ((vi / c2).squareRoot() + eps)
            i += 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Elements per partial sum of `gradientNorm`: the squares of each chunk are summed in float,
/// the chunks' sums in double, in chunk order. A sharded optimiser splits buffers on chunk
/// boundaries, so its ranks' chunk sums are the same numbers.
public let gradientNormChunk = 1024

/// Global L2 norm of a gradient buffer.
public func gradientNorm(_ g: UnsafePointer<Float>, count: Int) -> Float {
    var total: Double = 0
    forEachChunkSquareSum(g, count: count) { _, s in total += s }
    return Float(total.squareRoot())
}

/// Write the sum of squares of each `gradientNormChunk`-element chunk of `g` to `sums`
/// (ceil(count / chunk) values). Summing them in order in double and taking the square root
/// gives `gradientNorm`.
public func gradientChunkSquareSums(_ g: UnsafePointer<Float>, count: Int, into sums: UnsafeMutablePointer<Double>) {
    forEachChunkSquareSum(g, count: count) { j, s in sums[j] = s }
}

@inline(__always)
func forEachChunkSquareSum(_ g: UnsafePointer<Float>, count: Int, _ body: (Int, Double) -> Void) {
    // Float partial sums over chunks in 4 x 8 independent lanes (a single serial chain would be
    // latency-bound).
    typealias V = SIMD8<Float>
    var start = 0, j = 0
    while start < count {
        let end = min(start + gradientNormChunk, count)
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        var i = start
        while i + 32 <= end {
            let x0 = UnsafeRawPointer(g + i).loadUnaligned(as: V.self), x1 = UnsafeRawPointer(g + i + 8).loadUnaligned(as: V.self)
            let x2 = UnsafeRawPointer(g + i + 16).loadUnaligned(as: V.self), x3 = UnsafeRawPointer(g + i + 24).loadUnaligned(as: V.self)
            a0 += x0 * x0; a1 += x1 * x1; a2 += x2 * x2; a3 += x3 * x3
            i += 32
        }
        var chunk = Double(((a0 + a1) + (a2 + a3)).sum())
        while i < end { chunk += Double(g[i]) * Double(g[i]); i += 1 }
        body(j, chunk)
        j += 1
        start = end
    }
}

/// Scale `g` so that its global L2 norm is at most `maxNorm`; returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ g: UnsafeMutablePointer<Float>, count: Int, maxNorm: Float) -> Float {
    let norm = gradientNorm(g, count: count)
    if maxNorm > 0 && norm > maxNorm {
        let s = maxNorm / (norm + 1e-6)
        for i in 0..<count { g[i] *= s }
    }
    return norm
}

/// Exponential moving average of a parameter buffer: ema = decay * ema + (1 - decay) * value.
public final class EMA {
    public var decay: Float
    /// The averaged values, same layout as the tracked parameters.
    public let values: Tensor

    /// Start the average at the current `p.values`.
    public init(_ p: Parameters, decay: Float) {
        self.decay = decay
        values = Tensor(shape: [p.count])
        values.data.update(from: p.values, count: p.count)
    }

    /// An average of `count` values starting at `initial` (one rank's block when sharded).
    public init(count: Int, initial: UnsafePointer<Float>, decay: Float) {
        self.decay = decay
        values = Tensor(shape: [count])
        values.data.update(from: initial, count: count)
    }

    public func update(_ p: Parameters) { update(from: p.values, count: p.count) }

    /// Average in `count` values (this average's whole length).
    public func update(from w: UnsafePointer<Float>, count: Int) {
        precondition(count == values.count, "EMA length does not match")
        let d = decay, e = values.data
        emd_ema_update(e, w, count, d)
    }

    /// Copy the average into `p.values` (for sampling or evaluation).
    public func copy(into p: Parameters) { p.values.update(from: values.data, count: p.count) }
}
