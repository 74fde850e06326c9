import Foundation
import NN
import CounterRNG
import Diffusion
import Training

/// The student phase: D_psi tracks the generator's score by denoising score matching on fresh
/// generator samples, z' ~ N(0, I), x0 = g(z'), sigma' ~ LogNormal (or log-uniform on the
/// distillation range), x = x0 + sigma' n. In phases (draws, samples, gradient) so that an
/// overlapped gradient exchange can interleave them with reductions: draws and samples do not
/// depend on the student's parameters.
final class StudentUpdate {
    let shard: Shard
    let dimension: Int
    let globalBatch: Int
    let student: NetworkDenoiser
    let loss: DenoisingScoreMatching
    /// Where sigma' is drawn: nil, EDM's log-normal; otherwise log-uniform on [lo, hi] (kept
    /// as logarithms).
    let logSigmaRange: (lo: Float, hi: Float)?
    /// z', x0 = g(z'), sigma' and n of the current update.
    let latent, clean, sigma, noise: Tensor
    /// Class-conditional distillation: classes (0: none) and the update's labels.
    let classes: Int
    let labels: UnsafeMutablePointer<Int32>
    var labelPointer: UnsafePointer<Int32>? { classes > 0 ? UnsafePointer(labels) : nil }

    init(shard: Shard, student: NetworkDenoiser, edm: EDMConfig, globalBatch: Int, classes: Int = 0,
         sigmaRange: (lo: Float, hi: Float)? = nil) {
        self.shard = shard
        logSigmaRange = sigmaRange.map { (logf($0.lo), logf($0.hi)) }
        self.classes = classes
        labels = .allocate(capacity: shard.capacity)
        labels.initialize(repeating: 0, count: shard.capacity)
        self.student = student
        self.globalBatch = globalBatch
        dimension = student.network.inputSize
        let n = shard.capacity
        loss = DenoisingScoreMatching(edm: edm, dimension: dimension, capacity: n)
        latent = Tensor(shape: [n, dimension]); clean = Tensor(shape: [n, dimension]); noise = Tensor(shape: [n, dimension])
        sigma = Tensor(shape: [n])
    }

    /// Draw z', sigma' and n of student update `j` of generator step `step`.
    func draw(_ j: Int, seed: UInt64, step: Int) {
        let d = dimension
        for b in 0..<shard.count {
            let gi = shard.lower + b, row = b * d
            Draws.normal(DrawKey(seed: seed, step: step, purpose: .studentLatent.sub(j), index: gi), into: latent.data + row, count: d)
            let key = DrawKey(seed: seed, step: step, purpose: .studentSigma.sub(j), index: gi)
            if let r = logSigmaRange {
                sigma[b] = expf(r.lo + Draws.uniform(key) * (r.hi - r.lo))
            } else {
                sigma[b] = loss.edm.trainingSigma(normal: Draws.normal(key))
            }
            Draws.normal(DrawKey(seed: seed, step: step, purpose: .studentNoise.sub(j), index: gi), into: noise.data + row, count: d)
            if classes > 0 {
                let c = Draws.uniform(DrawKey(seed: seed, step: step, purpose: .studentClass.sub(j), index: gi))
                labels[b] = Int32(min(classes - 1, Int(c * Float(classes))))
            }
        }
    }

    deinit { labels.deallocate() }

    /// x0 = g(z') with the current generator, and x = x0 + sigma' n.
    func samples(_ generator: Generator) {
        generator.denoiser.labels = labelPointer
        generator.forward(latent, into: clean, n: shard.count)
        loss.prepare(clean: clean.data, sigma: sigma.data, noise: noise.data, count: shard.count)
    }

    /// The student's loss on the prepared samples, its gradient into the student's gradients;
    /// returns the local loss sum.
    func gradient() -> Double {
        student.labels = labelPointer
        return loss.lossAndGradient(student, clean: clean.data, sigma: sigma.data, count: shard.count, globalBatch: globalBatch)
    }
}
