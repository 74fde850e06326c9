import Foundation
import NN
import CounterRNG
import Diffusion
import Training

/// The E-step (docs/algorithm.md): K reparametrised Langevin steps on (eps, z) for every latent
/// of a rank's shard, each chain with its own noise level sigma, towards
/// pi(eps, z) ~ p_phi,sigma(g(z) + sigma eps) / p_theta,sigma(g(z) + sigma eps) N(eps) N(z):
///
///     x_k     = g(z_k) + sigma eps_k
///     delta_k = (D_phi(x_k) - D_psi(x_k)) / sigma^2
///     eps_k+1 = eps_k + gamma_eps (sigma delta_k - eps_k) + sqrt(2 gamma_eps) xi_k
///     z_k+1   = z_k + h_z (J_g(z_k)^T delta_k - z_k) + sqrt(2 h_z) zeta_k,   h_z = gamma_z sigma^2
///     a_k+1   = (1 - gamma_eps) a_k + gamma_eps sigma delta_k
///
/// Owns the chain state; after `run` it holds z_K, eps_K, the drift part a_K of eps_K, and g(z)
/// of the last forward pass (with the generator's activations, reused by the M-step when z
/// never moved).
final class LangevinChains {
    let shard: Shard
    let dimension: Int
    /// Chain state, one row per sample: z, eps, a (the drift part of eps), and g = g(z).
    let z, eps, a, g: Tensor
    /// Per-chain noise level and z step h_z = min(gamma_z sigma^2, zStepMax).
    let sigma, hz: Tensor
    /// Class-conditional distillation: the number of classes (0: none) and each chain's label,
    /// uniform over the classes, fixed for the step.
    let classes: Int
    let labels: UnsafeMutablePointer<Int32>
    /// The chains' labels for the denoisers (nil when unconditional).
    var labelPointer: UnsafePointer<Int32>? { classes > 0 ? UnsafePointer(labels) : nil }
    // Scratch of one Langevin step.
    let x, dPhi, dPsi, delta, vjp, noise: Tensor

    init(shard: Shard, dimension: Int, classes: Int = 0) {
        self.shard = shard
        self.dimension = dimension
        self.classes = classes
        let n = shard.capacity
        labels = .allocate(capacity: n)
        labels.initialize(repeating: 0, count: n)
        func rows() -> Tensor { Tensor(shape: [n, dimension]) }
        z = rows(); eps = rows(); a = rows(); g = rows()
        x = rows(); dPhi = rows(); dPsi = rows(); delta = rows(); vjp = rows(); noise = rows()
        sigma = Tensor(shape: [n]); hz = Tensor(shape: [n])
    }

    deinit { labels.deallocate() }

    /// z_0, eps_0 ~ N(0, I), sigma log-uniform on [sigmaLo, sigmaHi], h_z = min(zStep sigma^2,
    /// zStepMax), a_0 = 0.
    func initialise(seed: UInt64, step: Int, sigmaLo: Float, sigmaHi: Float, zStep: Float, zStepMax: Float) {
        let d = dimension, logLo = logf(sigmaLo), logHi = logf(sigmaHi)
        for b in 0..<shard.count {
            let gi = shard.lower + b
            Draws.normal(DrawKey(seed: seed, step: step, purpose: .latent, index: gi), into: z.data + b * d, count: d)
            Draws.normal(DrawKey(seed: seed, step: step, purpose: .initialEps, index: gi), into: eps.data + b * d, count: d)
            let u = Draws.uniform(DrawKey(seed: seed, step: step, purpose: .distillSigma, index: gi))
            sigma[b] = expf(logLo + u * (logHi - logLo))
            hz[b] = min(zStep * sigma[b] * sigma[b], zStepMax)
            if classes > 0 {
                let c = Draws.uniform(DrawKey(seed: seed, step: step, purpose: .chainClass, index: gi))
                labels[b] = Int32(min(classes - 1, Int(c * Float(classes))))
            }
        }
        a.zero()
    }

    /// K Langevin steps (the z step only when `moveZ`). A chain whose drift is non-finite is
    /// held still for that step; returns how many such (chain, step) pairs there were, or nil
    /// when `abort`, asked before each step, ended the run.
    func run(K: Int, gammaEps: Float, moveZ: Bool, seed: UInt64, step: Int, generator: Generator, teacher: Denoiser,
             student: NetworkDenoiser, timer: PhaseTimer, abort: () -> Bool = { false }) -> Int? {
        let n = shard.count, d = dimension
        let noiseScale = (2 * gammaEps).squareRoot()
        var guarded = 0
        // Each chain keeps its noise level through the K steps, the generator its sigma_g, and no
        // parameter changes: the networks compute their noise-level terms once.
        let networkTeacher = teacher as? NetworkDenoiser
        func fix(_ on: Bool) {
            generator.denoiser.setFixedConditioning(on)
            student.setFixedConditioning(on)
            networkTeacher?.setFixedConditioning(on)
        }
        fix(true)
        defer { fix(false) }
        for k in 0..<K {
            if abort() { return nil }
            timer.timed(\.generatorForward) { generator.forward(z, into: g, n: n) }
            for b in 0..<n {
                let s = sigma[b]
                for j in 0..<d { x[b * d + j] = g[b * d + j] + s * eps[b * d + j] }
            }
            timer.timed(\.teacherForward) { teacher.denoise(x.data, sigma: sigma.data, labels: labelPointer, out: dPhi.data, batch: n) }
            timer.timed(\.studentForward) { student.denoise(x.data, sigma: sigma.data, out: dPsi.data, batch: n) }
            for b in 0..<n {
                let inv = 1 / (sigma[b] * sigma[b]), row = b * d
                for j in 0..<d { delta[row + j] = (dPhi[row + j] - dPsi[row + j]) * inv }
                if !allFinite(delta.data + row, count: d) {
                    (delta.data + row).update(repeating: 0, count: d)
                    guarded += 1
                }
            }
            if moveZ { timer.timed(\.generatorVJP) { generator.latentVJP(delta, into: vjp, n: n) } }
            for b in 0..<n {
                let gi = shard.lower + b, s = sigma[b], row = b * d
                Draws.normal(DrawKey(seed: seed, step: step, purpose: .langevinEps.sub(k), index: gi),
                             into: noise.data + row, count: d)
                for j in 0..<d {
                    let sd = s * delta[row + j]
                    eps[row + j] += gammaEps * (sd - eps[row + j]) + noiseScale * noise[row + j]
                    a[row + j] = (1 - gammaEps) * a[row + j] + gammaEps * sd
                }
                if moveZ {
                    let h = hz[b], zs = (2 * h).squareRoot()
                    Draws.normal(DrawKey(seed: seed, step: step, purpose: .langevinZ.sub(k), index: gi),
                                 into: noise.data + row, count: d)
                    for j in 0..<d { z[row + j] += h * (vjp[row + j] - z[row + j]) + zs * noise[row + j] }
                }
            }
        }
        return guarded
    }

    /// Sums over this shard after `run`, for the run's diagnostics: |z_K|^2 / d (about 1 while
    /// the chains stay in the prior), |a_K|^2 / d, and |sigma e|^2 / d (the M-step's per-sample
    /// displacement g - target, with e = a_K, or eps_K when `cancelNoise` is off).
    func statistics(cancelNoise: Bool) -> (zSquare: Double, aSquare: Double, stepSquare: Double) {
        let n = shard.count, d = dimension, e = cancelNoise ? a : eps
        var z2 = 0.0, a2 = 0.0, t2 = 0.0
        for b in 0..<n {
            var zs: Float = 0, as_: Float = 0, es: Float = 0
            for j in 0..<d {
                let i = b * d + j
                zs += z[i] * z[i]; as_ += a[i] * a[i]; es += e[i] * e[i]
            }
            let s = sigma[b]
            z2 += Double(zs) / Double(d); a2 += Double(as_) / Double(d); t2 += Double(s * s * es) / Double(d)
        }
        return (z2, a2, t2)
    }
}
