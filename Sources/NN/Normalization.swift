import CKernels

/// Normalisation over groups of contiguous elements with a per-channel affine map; the shared
/// kernel behind LayerNorm (one group per row) and GroupNorm.
public struct GroupedNorm: Sendable {
    let groupsPerSample: Int
    let channelsPerGroup: Int
    let spatial: Int
    let epsilon: Float

    var groupSize: Int { channelsPerGroup * spatial }
    var sampleSize: Int { groupsPerSample * groupSize }

    /// Normalise and apply gamma/beta; stores mean and 1/std per group.
    func forward(gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, x: UnsafePointer<Float>,
                 y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                 rstd: UnsafeMutablePointer<Float>, batch: Int) {
        let n = groupSize
        for g in 0..<(batch * groupsPerSample) {
            let xs = x + g * n, ys = y + g * n
            var m: Float = 0, v: Float = 0
            if spatial == 1 {
                for i in 0..<n { m += xs[i] }
                m /= Float(n)
                for i in 0..<n { let d = xs[i] - m; v += d * d }
            } else {
                // Feature maps: parallel partial sums (CKernels); rows (LayerNorm) keep the
                // serial sums their recorded results were computed with.
                m = emd_sum(xs, n) / Float(n)
                v = emd_sum_squared_deviations(xs, n, m)
            }
            v /= Float(n)
            let r = 1 / (v + epsilon).squareRoot()
            mean[g] = m
            rstd[g] = r
            let c0 = (g % groupsPerSample) * channelsPerGroup
            for c in 0..<channelsPerGroup {
                let ga = gamma[c0 + c] * r, be = beta[c0 + c]
                let base = c * spatial
                for s in 0..<spatial { ys[base + s] = (xs[base + s] - m) * ga + be }
            }
        }
    }

    func backward(gamma: UnsafePointer<Float>, dGamma: UnsafeMutablePointer<Float>?, dBeta: UnsafeMutablePointer<Float>?,
                  x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                  mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, batch: Int) {
        let n = groupSize
        for g in 0..<(batch * groupsPerSample) {
            let xs = x + g * n, dys = dy + g * n
            let m = mean[g], r = rstd[g]
            let c0 = (g % groupsPerSample) * channelsPerGroup
            var sumD: Float = 0, sumDX: Float = 0
            for c in 0..<channelsPerGroup {
                let ga = gamma[c0 + c]
                let base = c * spatial
                var dg: Float = 0, db: Float = 0
                if spatial > 1 {
                    // The sums of dy and of dy (x - mean) over the channel's map, in parallel
                    // partial sums (CKernels); sumD and sumDX follow from them per channel.
                    var dxm: Float = 0
                    emd_sum_and_dot_deviations(dys + base, xs + base, spatial, m, &db, &dxm)
                    dg = dxm * r
                    sumD += ga * db
                    sumDX += ga * dg
                } else {
                    for s in 0..<spatial {
                        let xh = (xs[base + s] - m) * r
                        let d = dys[base + s]
                        dg += d * xh
                        db += d
                        sumD += d * ga
                        sumDX += d * ga * xh
                    }
                }
                dGamma?[c0 + c] += dg
                dBeta?[c0 + c] += db
            }
            guard let dx else { continue }
            let dxs = dx + g * n
            let md = sumD / Float(n), mdx = sumDX / Float(n)
            for c in 0..<channelsPerGroup {
                let ga = gamma[c0 + c]
                let base = c * spatial
                for s in 0..<spatial {
                    let xh = (xs[base + s] - m) * r
                    dxs[base + s] = r * (dys[base + s] * ga - md - xh * mdx)
                }
            }
        }
    }
}

/// Per-statistics cache of a normalisation layer.
public final class NormCache {
    public let mean: Tensor
    public let rstd: Tensor
    public init(groups: Int) {
        mean = Tensor(shape: [groups])
        rstd = Tensor(shape: [groups])
    }
}

/// A normalisation layer: one `GroupedNorm` kernel with a gain and a bias per channel. The
/// forward and backward passes are shared by every conformer.
public protocol AffineNormalization: Sendable {
    /// Offsets of the gain and the bias in the parameter arena.
    var gamma: Int { get }
    var beta: Int { get }
    /// The normalisation kernel (its groups per sample, group size and epsilon).
    var kernel: GroupedNorm { get }
}

extension AffineNormalization {
    /// The gain (ones) and bias (zeros) of `channels` channels, under `name`.
    static func affineParameters(_ layout: inout ParameterLayout, _ name: String, channels: Int) -> (Int, Int) {
        layout.scope(name) { l in
            (l.add("weight", shape: [channels], init: .ones), l.add("bias", shape: [channels], init: .zeros))
        }
    }

    public func makeCache(batch: Int) -> NormCache { NormCache(groups: batch * kernel.groupsPerSample) }

    public func forward(_ p: Parameters, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int,
                        cache: NormCache) {
        kernel.forward(gamma: p.values + gamma, beta: p.values + beta, x: x, y: y, mean: cache.mean.data,
                       rstd: cache.rstd.data, batch: batch)
    }

    public func backward(_ p: Parameters, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, cache: NormCache, paramGrads: Bool = true) {
        kernel.backward(gamma: p.values + gamma, dGamma: paramGrads ? p.grads + gamma : nil,
                        dBeta: paramGrads ? p.grads + beta : nil, x: x, dy: dy, dx: dx,
                        mean: cache.mean.data, rstd: cache.rstd.data, batch: batch)
    }
}

/// Layer normalisation over the last dimension of [batch, features], with gain and bias.
public struct LayerNorm: AffineNormalization {
    public let features: Int
    public let gamma: Int
    public let beta: Int
    public let kernel: GroupedNorm

    public init(_ layout: inout ParameterLayout, _ name: String, features: Int, epsilon: Float = 1e-5) {
        self.features = features
        (gamma, beta) = Self.affineParameters(&layout, name, channels: features)
        kernel = GroupedNorm(groupsPerSample: 1, channelsPerGroup: features, spatial: 1, epsilon: epsilon)
    }
}

/// Group normalisation of [batch, channels, height, width] over channel groups.
public struct GroupNorm: AffineNormalization {
    public let channels: Int
    public let groups: Int
    public let spatial: Int
    public let gamma: Int
    public let beta: Int
    public let kernel: GroupedNorm

    public init(_ layout: inout ParameterLayout, _ name: String, channels: Int, groups: Int, spatial: Int,
                epsilon: Float = 1e-5) {
        precondition(channels % groups == 0, "channels \(channels) not divisible by groups \(groups)")
        self.channels = channels
        self.groups = groups
        self.spatial = spatial
        (gamma, beta) = Self.affineParameters(&layout, name, channels: channels)
        kernel = GroupedNorm(groupsPerSample: groups, channelsPerGroup: channels / groups, spatial: spatial,
                             epsilon: epsilon)
    }
}
