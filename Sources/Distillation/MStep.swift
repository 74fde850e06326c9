import NN
import Diffusion
import Training

/// The M-step objective with noise cancellation (docs/algorithm.md): with e = a_K (or eps_K
/// when cancellation is off) and the target held fixed,
///
///     target = g(z_K) + sigma e,   L_g = 1/B sum_b w(sigma_b) 1/2 |g(z_K) - target|^2
///
/// so dL/dg = -w sigma e / B per sample. Owns that output gradient.
final class MStep {
    let dimension: Int
    let dg: Tensor

    init(dimension: Int, capacity: Int) {
        self.dimension = dimension
        dg = Tensor(shape: [capacity, dimension])
    }

    /// Generator gradient of this shard's share of L_g into the generator's gradients; returns
    /// the local loss sum. Regenerates g(z_K) unless the chains left it (z never moved).
    func gradient(_ chains: LangevinChains, config: DistillConfig, sigmaHi: Float, generator: Generator, teacher: Denoiser,
                  timer: PhaseTimer) -> Double {
        let n = chains.shard.count, d = dimension
        let g = chains.g, sigma = chains.sigma, eps = chains.eps, x = chains.x, dPhi = chains.dPhi
        if config.movesZ || config.effectiveK == 0 {
            timer.timed(\.generatorForward) { generator.forward(chains.z, into: g, n: n) }
        }
        let e = config.effectiveNoiseCancellation ? chains.a : eps
        if config.normalizeTarget {
            for b in 0..<n {
                let s = sigma[b]
                for j in 0..<d { x[b * d + j] = g[b * d + j] + s * eps[b * d + j] }
            }
            timer.timed(\.teacherForward) { teacher.denoise(x.data, sigma: sigma.data, labels: chains.labelPointer, out: dPhi.data, batch: n) }
        }
        let invB = 1 / Float(config.batch)
        var loss = 0.0
        for b in 0..<n {
            let s = sigma[b], row = b * d
            var w = config.weighting.weight(sigma: s, sigmaHi: sigmaHi)
            if config.normalizeTarget {
                var m: Float = 0
                for j in 0..<d { m += abs(dPhi[row + j] - g[row + j]) }
                w /= max(m / Float(d), 1e-6)
            }
            var l: Float = 0
            for j in 0..<d {
                // g - target = -sigma * e (the target is held fixed).
                let r = -s * e[row + j]
                l += r * r
                dg[row + j] = w * r * invB
            }
            loss += Double(0.5 * w * l * invB)
        }
        timer.timed(\.generatorBackward) { generator.parameterGradient(dg, n: n) }
        return loss
    }
}
