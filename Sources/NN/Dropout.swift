import CounterRNG

/// Where a training forward pass draws its dropout masks: the run's seed, the step, and the
/// global index of the batch's first sample. A mask is keyed by (seed, step, layer, sample), so
/// it does not depend on how the batch is spread over ranks, and a resumed run draws the same.
public struct DropoutKey: Sendable, Equatable {
    public var seed: UInt64
    public var step: Int
    public var firstIndex: Int

    public init(seed: UInt64, step: Int, firstIndex: Int) {
        self.seed = seed
        self.step = step
        self.firstIndex = firstIndex
    }
}

extension Purpose {
    /// Dropout masks (sub-index: the layer's stream within the network).
    public static let dropout = Purpose(kind: 7)
}

/// Inverted dropout of rate p: an element is kept with probability 1 - p and scaled by
/// 1 / (1 - p), so the expectation is unchanged and evaluation (no mask) needs no rescaling.
public enum Dropout {
    /// x *= mask over [batch, size], drawing the mask (0 or 1 / (1 - rate)) into `mask`.
    public static func apply(_ x: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, rate: Float,
                             key: DropoutKey, stream: Int, batch: Int, size: Int) {
        let keep = 1 / (1 - rate)
        for b in 0..<batch {
            let m = mask + b * size, row = x + b * size
            Draws.uniform(DrawKey(seed: key.seed, step: key.step, purpose: .dropout.sub(stream), index: key.firstIndex + b),
                          into: m, count: size)
            for i in 0..<size {
                m[i] = m[i] < rate ? 0 : keep
                row[i] *= m[i]
            }
        }
    }

    /// dx *= mask over `count` elements (the backward pass of `apply`).
    public static func backward(_ dx: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { dx[i] *= mask[i] }
    }
}
