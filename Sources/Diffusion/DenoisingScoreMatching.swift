import NN

/// EDM's denoising score-matching loss on a shard of a global batch, shared by teacher training
/// and the distillation student:
///
///     L = 1/(B d) sum_b lambda(sigma_b) |D(x0_b + sigma_b n_b; sigma_b) - x0_b|^2
///
/// with lambda = (sigma^2 + sd^2) / (sigma sd)^2. Owns the noisy inputs, the denoiser's output
/// and the output gradient for up to `capacity` samples, so a step allocates nothing.
public final class DenoisingScoreMatching {
    public let edm: EDMConfig
    public let dimension: Int
    /// x = x0 + sigma n, the denoiser's input (written by `prepare`).
    public let noisy: Tensor
    let denoised: Tensor
    let gradient: Tensor

    public init(edm: EDMConfig, dimension: Int, capacity: Int) {
        self.edm = edm
        self.dimension = dimension
        noisy = Tensor(shape: [capacity, dimension])
        denoised = Tensor(shape: [capacity, dimension])
        gradient = Tensor(shape: [capacity, dimension])
    }

    /// x = x0 + sigma n for `count` samples.
    public func prepare(clean: UnsafePointer<Float>, sigma: UnsafePointer<Float>, noise: UnsafePointer<Float>, count: Int) {
        let d = dimension
        for b in 0..<count {
            let s = sigma[b], row = b * d
            for j in 0..<d { noisy[row + j] = clean[row + j] + s * noise[row + j] }
        }
    }

    /// The loss on the prepared inputs (this shard's share of the global mean over
    /// `globalBatch` samples), with its gradient accumulated into `denoiser`'s parameter
    /// gradients (zeroed first, unless `accumulate`: a shard taken in chunks). Returns the
    /// local loss sum.
    public func lossAndGradient(_ denoiser: NetworkDenoiser, clean: UnsafePointer<Float>, sigma: UnsafePointer<Float>,
                                count: Int, globalBatch: Int, accumulate: Bool = false) -> Double {
        let d = dimension
        if !accumulate { denoiser.parameters.zeroGrads() }
        guard count > 0 else { return 0 }
        denoiser.denoise(noisy.data, sigma: sigma, out: denoised.data, batch: count)
        let scale = 1 / Float(globalBatch * d)
        var loss = 0.0
        for b in 0..<count {
            let w = edm.lossWeight(sigma[b]), row = b * d
            for j in 0..<d {
                let e = denoised[row + j] - clean[row + j]
                loss += Double(w * e * e * scale)
                gradient[row + j] = 2 * w * e * scale
            }
        }
        denoiser.backward(dOut: gradient.data, dx: nil, batch: count, paramGrads: true)
        return loss
    }
}
