import Foundation
import SwiftMPI
import NN
import CounterRNG
import Diffusion
#if canImport(Glibc)
import Glibc
#endif

/// Seconds spent in each part of the distillation steps since the last reset (this rank).
public struct StepTimes: Sendable {
    public var teacherForward = 0.0
    public var studentForward = 0.0
    public var studentTraining = 0.0
    public var generatorForward = 0.0
    public var generatorVJP = 0.0
    public var generatorBackward = 0.0
    public var allreduce = 0.0
    /// Waiting at a barrier for the slowest rank before each blocking all-reduce; only measured
    /// when `Distiller.separateImbalance` is set (otherwise that wait is part of `allreduce`).
    public var imbalance = 0.0
    public var optimizer = 0.0
    public var other = 0.0
    public var steps = 0

    public init() {}

    public var total: Double {
        teacherForward + studentForward + studentTraining + generatorForward + generatorVJP + generatorBackward
            + allreduce + imbalance + optimizer + other
    }

    public var dictionary: [String: Double] {
        ["teacher_forward": teacherForward, "student_forward": studentForward, "student_training": studentTraining,
         "generator_forward": generatorForward, "generator_vjp": generatorVJP, "generator_backward": generatorBackward,
         "allreduce": allreduce, "imbalance": imbalance, "optimizer": optimizer, "other": other]
    }
}

/// EM Distillation (../shared/EMD.md): a one-step generator g(z) = D_theta(sigma_g z; sigma_g)
/// trained by EM against a frozen teacher D_phi, with a student D_psi tracking the generator's
/// score. Ranks run the E-step on their shard of the global batch of latents and all-reduce
/// the gradients of both networks.
public final class Distiller {
    public let config: DistillConfig
    public let comm: Communicator
    public let teacher: Denoiser
    public let network: ConditionalNetwork
    public let edm: EDMConfig
    public let generatorParameters: Parameters
    public let studentParameters: Parameters
    public let generatorAdam: Adam
    public let studentAdam: Adam
    public let generatorEMA: EMA
    public private(set) var step = 0
    public var times = StepTimes()
    /// Diagnostics: put a timed barrier before each blocking all-reduce, so that `times.imbalance`
    /// holds the wait for the slowest rank and `times.allreduce` the reduction itself. Costs one
    /// barrier per reduction; leaves the arithmetic unchanged. For benchmarks, off in training.
    public var separateImbalance = false

    let generator: NetworkDenoiser
    let student: NetworkDenoiser
    let dim: Int
    let lo: Int, hi: Int
    // Per-sample state of the local shard, allocated once.
    let z, eps, drift, x, g, dPhi, dPsi, delta, vjp, noise, gIn, dg: Tensor
    let sigma, sigmaG, hz: Tensor
    let agreed = StepAgreement()
    /// The in-flight gradient all-reduce of the overlapped mode (reused every time).
    let pending = Request()

    /// - Parameters: teacher: the frozen D_phi; initial: parameters that initialise generator and
    ///   student (same layout as `network`).
    public init(config: DistillConfig, comm: Communicator, teacher: Denoiser, network: ConditionalNetwork,
                edm: EDMConfig, initial: Parameters) throws {
        try config.validate()
        guard teacher.dimension == network.inputSize else {
            throw ConfigError("teacher dimension \(teacher.dimension) differs from the network's \(network.inputSize)")
        }
        self.config = config
        self.comm = comm
        self.teacher = teacher
        self.network = network
        self.edm = edm
        // Generator and student gradients lie back to back, so the fused mode moves both in one
        // all-reduce.
        let sets = Parameters.sharingGradients([network.layout, network.layout])
        generatorParameters = sets[0]
        generatorParameters.copyValues(from: initial)
        studentParameters = sets[1]
        studentParameters.copyValues(from: initial)
        generatorAdam = Adam(count: initial.count, learningRate: config.generatorLR, beta1: config.generatorBeta1,
                             beta2: config.generatorBeta2)
        studentAdam = Adam(count: initial.count, learningRate: config.studentLR, beta1: config.studentBeta1,
                           beta2: config.studentBeta2)
        generatorEMA = EMA(generatorParameters, decay: config.emaDecay)
        lo = comm.rank * config.batch / comm.size
        hi = (comm.rank + 1) * config.batch / comm.size
        let n = max(hi - lo, 1), d = network.inputSize
        dim = d
        generator = NetworkDenoiser(network: network, edm: edm, parameters: generatorParameters, maxBatch: n)
        student = NetworkDenoiser(network: network, edm: edm, parameters: studentParameters, maxBatch: n)
        func t() -> Tensor { Tensor(shape: [n, d]) }
        z = t(); eps = t(); drift = t(); x = t(); g = t(); dPhi = t(); dPsi = t(); delta = t(); vjp = t()
        noise = t(); gIn = t(); dg = t()
        sigma = Tensor(shape: [n]); sigmaG = Tensor(shape: [n]); hz = Tensor(shape: [n])
        sigmaG.fill(config.sigmaInit)
    }

    /// Number of samples this rank owns in each global batch.
    public var localBatch: Int { hi - lo }

    @inline(__always) func timed(_ slot: WritableKeyPath<StepTimes, Double>, _ body: () throws -> Void) rethrows {
        let t0 = MPI.wallTime()
        try body()
        times[keyPath: slot] += MPI.wallTime() - t0
    }

    /// g = D_theta(sigma_g z; sigma_g) for the first n rows of `latent`, into `out`.
    func generate(_ latent: Tensor, into out: Tensor, n: Int) {
        let s = config.sigmaInit
        for i in 0..<(n * dim) { gIn[i] = s * latent[i] }
        generator.denoise(gIn.data, sigma: sigmaG.data, out: out.data, batch: n)
    }

    /// vjp = J_g(z)^T delta for the last `generate` call: the generator is D(sigma_g z; sigma_g),
    /// so the Jacobian in z is sigma_g times the denoiser's Jacobian in its input.
    func latentVJP(n: Int) {
        generator.backward(dOut: delta.data, dx: vjp.data, batch: n, paramGrads: false)
        let sg = config.sigmaInit
        for i in 0..<(n * dim) { vjp[i] *= sg }
    }

    /// J_g(z)^T v for `n` latents (row-major n x d) with the live generator: the vector-Jacobian
    /// product the E-step's z drift uses. For diagnostics and tests; n <= localBatch.
    public func latentGradient(z latents: [Float], v: [Float], n: Int) -> [Float] {
        precondition(n <= max(localBatch, 1) && latents.count == n * dim && v.count == n * dim)
        latents.withUnsafeBufferPointer { z.data.update(from: $0.baseAddress!, count: n * dim) }
        generate(z, into: g, n: n)
        v.withUnsafeBufferPointer { delta.data.update(from: $0.baseAddress!, count: n * dim) }
        latentVJP(n: n)
        return Array(UnsafeBufferPointer(start: vjp.data, count: n * dim))
    }

    /// g(z) for `n` latents with the live generator (for diagnostics and tests).
    public func generatorOutput(z latents: [Float], n: Int) -> [Float] {
        latents.withUnsafeBufferPointer { z.data.update(from: $0.baseAddress!, count: n * dim) }
        generate(z, into: g, n: n)
        return Array(UnsafeBufferPointer(start: g.data, count: n * dim))
    }

    /// The chain state after this step's E-step on this rank's shard, without updating anything:
    /// z_K, eps_K, the drift part a_K and the noise levels (for diagnostics and tests).
    public func runEStep() -> (z: [Float], eps: [Float], drift: [Float], sigma: [Float]) {
        let n = localBatch
        initialiseChains(n: n)
        _ = eStep(n: n)
        func copy(_ t: Tensor, _ c: Int) -> [Float] { Array(UnsafeBufferPointer(start: t.data, count: c)) }
        return (copy(z, n * dim), copy(eps, n * dim), copy(drift, n * dim), copy(sigma, n))
    }

    /// The M-step gradient of this step for the local shard (after the E-step), without
    /// updating: a copy of the generator's gradient buffer (for tests).
    public func mStepGradientForCurrentStep() -> [Float] {
        let n = localBatch
        initialiseChains(n: n)
        _ = eStep(n: n)
        _ = mStepGradient(n: n)
        return Array(generatorParameters.gradBuffer)
    }

    /// Draw the step's initial chain state for the local shard.
    func initialiseChains(n: Int) {
        let seed = UInt64(config.seed)
        let logLo = logf(config.sigmaLo), logHi = logf(config.sigmaHi)
        for b in 0..<n {
            let gi = lo + b
            Draws.normal(DrawKey(seed: seed, step: step, purpose: .latent, index: gi), into: z.data + b * dim, count: dim)
            Draws.normal(DrawKey(seed: seed, step: step, purpose: .initialEps, index: gi), into: eps.data + b * dim, count: dim)
            let u = Draws.uniform(DrawKey(seed: seed, step: step, purpose: .distillSigma, index: gi))
            sigma[b] = expf(logLo + u * (logHi - logLo))
            hz[b] = config.effectiveGammaZ * sigma[b] * sigma[b]
        }
        drift.zero()
    }

    /// The E-step: K reparametrised Langevin steps on (eps, z). Leaves z_K, eps_K, the drift
    /// part a_K, and (when z never moved) g(z_K) with its activations. Returns the number of
    /// samples whose drift was non-finite (their chains were held still for that step).
    func eStep(n: Int) -> Int {
        let seed = UInt64(config.seed), K = config.effectiveK, ge = config.gammaEps
        let zStep = config.effectiveGammaZ > 0
        let noiseScale = (2 * ge).squareRoot()
        var guarded = 0
        for k in 0..<K {
            timed(\.generatorForward) { generate(z, into: g, n: n) }
            for b in 0..<n {
                let s = sigma[b]
                for j in 0..<dim { x[b * dim + j] = g[b * dim + j] + s * eps[b * dim + j] }
            }
            timed(\.teacherForward) { teacher.denoise(x.data, sigma: sigma.data, out: dPhi.data, batch: n) }
            timed(\.studentForward) { student.denoise(x.data, sigma: sigma.data, out: dPsi.data, batch: n) }
            for b in 0..<n {
                let inv = 1 / (sigma[b] * sigma[b])
                let row = b * dim
                for j in 0..<dim { delta[row + j] = (dPhi[row + j] - dPsi[row + j]) * inv }
                if !allFinite(delta.data + row, count: dim) {
                    (delta.data + row).update(repeating: 0, count: dim)
                    guarded += 1
                }
            }
            if zStep { timed(\.generatorVJP) { latentVJP(n: n) } }
            // Fresh noise for this Langevin step, keyed by (step, k, global index).
            for b in 0..<n {
                let gi = lo + b, s = sigma[b], row = b * dim
                Draws.normal(DrawKey(seed: seed, step: step, purpose: .langevinEps.sub(k), index: gi),
                             into: noise.data + row, count: dim)
                for j in 0..<dim {
                    let sd = s * delta[row + j]
                    eps[row + j] += ge * (sd - eps[row + j]) + noiseScale * noise[row + j]
                    drift[row + j] = (1 - ge) * drift[row + j] + ge * sd
                }
                if zStep {
                    let h = hz[b], zs = (2 * h).squareRoot()
                    Draws.normal(DrawKey(seed: seed, step: step, purpose: .langevinZ.sub(k), index: gi),
                                 into: noise.data + row, count: dim)
                    for j in 0..<dim { z[row + j] += h * (vjp[row + j] - z[row + j]) + zs * noise[row + j] }
                }
            }
        }
        return guarded
    }

    /// M-step gradient into `generatorParameters.grads` (local shard, divided by the global
    /// batch). Returns the local loss sum.
    func mStepGradient(n: Int) -> Double {
        let zStep = config.effectiveGammaZ > 0
        if zStep || config.effectiveK == 0 {
            timed(\.generatorForward) { generate(z, into: g, n: n) }
        }
        let e = config.effectiveNoiseCancellation ? drift : eps
        if config.normalizeTarget {
            for b in 0..<n {
                let s = sigma[b]
                for j in 0..<dim { x[b * dim + j] = g[b * dim + j] + s * eps[b * dim + j] }
            }
            timed(\.teacherForward) { teacher.denoise(x.data, sigma: sigma.data, out: dPhi.data, batch: n) }
        }
        let invB = 1 / Float(config.batch)
        var loss = 0.0
        for b in 0..<n {
            let s = sigma[b], row = b * dim
            var w: Float = config.weighting == "sigma2" ? s * s / (config.sigmaHi * config.sigmaHi) : 1
            if config.normalizeTarget {
                var m: Float = 0
                for j in 0..<dim { m += abs(dPhi[row + j] - g[row + j]) }
                w /= max(m / Float(dim), 1e-6)
            }
            var l: Float = 0
            for j in 0..<dim {
                // g - target = -sigma * e (the target is held fixed).
                let r = -s * e[row + j]
                l += r * r
                dg[row + j] = w * r * invB
            }
            loss += Double(0.5 * w * l * invB)
        }
        generatorParameters.zeroGrads()
        timed(\.generatorBackward) { generator.backward(dOut: dg.data, dx: nil, batch: n, paramGrads: true) }
        return loss
    }

    // MARK: Student updates, in phases so the overlapped mode can interleave them with
    // all-reduces: draws and generator samples do not depend on the student's parameters.

    /// Draw latents, noise levels and noise of student update `j` for the local shard.
    func studentDraws(_ j: Int, n: Int) {
        let seed = UInt64(config.seed)
        timed(\.studentTraining) {
            for b in 0..<n {
                let gi = lo + b, row = b * dim
                Draws.normal(DrawKey(seed: seed, step: step, purpose: .studentLatent.sub(j), index: gi),
                             into: z.data + row, count: dim)
                sigma[b] = edm.trainingSigma(normal: Draws.normal(DrawKey(seed: seed, step: step, purpose: .studentSigma.sub(j), index: gi)))
                Draws.normal(DrawKey(seed: seed, step: step, purpose: .studentNoise.sub(j), index: gi), into: noise.data + row, count: dim)
            }
        }
    }

    /// Generator samples g(z) and their noisy versions x = g + sigma n (current generator).
    func studentSamples(n: Int) {
        timed(\.studentTraining) {
            generate(z, into: g, n: n)
            for b in 0..<n {
                let row = b * dim
                for k in 0..<dim { x[row + k] = g[row + k] + sigma[b] * noise[row + k] }
            }
        }
    }

    /// Denoising score matching loss of the student on (x, g) and its gradient, the local shard's
    /// share of the global mean, into `studentParameters.grads`. Returns the local loss sum.
    func studentGradient(n: Int) -> Double {
        var loss = 0.0
        timed(\.studentTraining) {
            student.denoise(x.data, sigma: sigma.data, out: dPsi.data, batch: n)
            let scale = 1 / Float(config.batch * dim)
            for b in 0..<n {
                let w = edm.lossWeight(sigma[b]), row = b * dim
                for k in 0..<dim {
                    let e = dPsi[row + k] - g[row + k]
                    loss += Double(w * e * e * scale)
                    dg[row + k] = 2 * w * e * scale
                }
            }
            studentParameters.zeroGrads()
            student.backward(dOut: dg.data, dx: nil, batch: n, paramGrads: true)
        }
        return loss
    }

    /// After the student's gradient has been all-reduced: agree on the loss and on non-finite
    /// values, clip, and take the Adam step. Returns the global loss.
    func studentUpdate(localLoss: Double) throws -> Double {
        let finite = allFinite(studentParameters.grads, count: studentParameters.count)
        try agreed.reach(comm, localLoss: finite ? localLoss : .nan)
        if agreed.nonFiniteRanks > 0 { throw RunStop.nonFinite(step: step, ranks: agreed.nonFiniteRanks) }
        timed(\.optimizer) {
            // The student's norm is not reported: compute it only to clip.
            if config.gradClip > 0 {
                clipGradientNorm(studentParameters.grads, count: studentParameters.count, maxNorm: config.gradClip)
            }
            studentAdam.update(studentParameters)
        }
        return agreed.lossSum
    }

    /// One whole student update with a blocking all-reduce.
    func studentStep(_ j: Int, n: Int) throws -> Double {
        studentDraws(j, n: n)
        studentSamples(n: n)
        let local = studentGradient(n: n)
        try reduce(studentParameters.grads, count: studentParameters.count)
        return try studentUpdate(localLoss: local)
    }

    /// Metrics of one step (global values).
    public struct StepResult {
        public var generatorLoss: Double
        public var studentLoss: Double
        public var generatorGradNorm: Float
        public var guardedSamples: Int
        public var stopRequested: Bool
    }

    /// After the generator's gradient has been all-reduced: agree, then clip, Adam and EMA.
    func generatorUpdate(localLoss: Double, guarded: Int) throws -> (loss: Double, guarded: Int, stop: Bool, norm: Float) {
        let finite = allFinite(generatorParameters.grads, count: generatorParameters.count)
        try agreed.reach(comm, localLoss: finite ? localLoss : .nan, extra: Double(guarded))
        let result = (loss: agreed.lossSum, guarded: Int(agreed.extraSum), stop: agreed.stopRequested)
        if agreed.nonFiniteRanks > 0 { throw RunStop.nonFinite(step: step, ranks: agreed.nonFiniteRanks) }
        var norm: Float = 0
        timed(\.optimizer) {
            norm = clipGradientNorm(generatorParameters.grads, count: generatorParameters.count, maxNorm: config.gradClip)
            generatorAdam.update(generatorParameters)
            generatorEMA.decay = config.emaDecay(atUpdate: step + 1)
            generatorEMA.update(generatorParameters)
        }
        return (result.loss, result.guarded, result.stop, norm)
    }

    /// Blocking sum all-reduce of a gradient buffer, timed (after a timed barrier when
    /// `separateImbalance` is set).
    func reduce(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        if separateImbalance { try timed(\.imbalance) { try comm.barrier() } }
        try timed(\.allreduce) { try comm.allreduce(buffer, count: count, op: .sum) }
    }

    /// Wait for the pending all-reduce (timed as all-reduce).
    func waitPending() throws { try timed(\.allreduce) { try pending.wait() } }

    /// One EM step: E-step and M-step for the generator, then the student's updates. How the
    /// gradients cross ranks follows `config.allreduce` (see DistillConfig).
    public func trainStep() throws -> StepResult {
        let n = localBatch
        let t0 = MPI.wallTime()
        let before = times.total
        initialiseChains(n: n)
        let guarded = eStep(n: n)
        let local = mStepGradient(n: n)
        FaultInjection.apply(rank: comm.rank, step: step, grads: generatorParameters.grads)
        try FaultInjection.check(rank: comm.rank, step: step)
        let ns = config.studentSteps
        var studentLoss = 0.0
        let gen: (loss: Double, guarded: Int, stop: Bool, norm: Float)
        switch config.allreduce {
        case "fused" where ns > 0:
            // Student update 0 is computed against the generator before this step's update, so
            // both gradients travel in one all-reduce of the shared gradient buffer.
            studentDraws(0, n: n)
            studentSamples(n: n)
            let sLocal = studentGradient(n: n)
            try reduce(generatorParameters.grads, count: generatorParameters.count + studentParameters.count)
            gen = try generatorUpdate(localLoss: local, guarded: guarded)
            studentLoss = try studentUpdate(localLoss: sLocal)
            for j in 1..<ns { studentLoss = try studentStep(j, n: n) }
        case "overlap":
            // Same arithmetic as "separate": each all-reduce runs while the next update's
            // draws and generator samples, which do not depend on it, are computed.
            try comm.iallreduce(generatorParameters.grads, count: generatorParameters.count, op: .sum, reusing: pending)
            if ns > 0 { studentDraws(0, n: n); _ = try pending.test() }
            try waitPending()
            gen = try generatorUpdate(localLoss: local, guarded: guarded)
            if ns > 0 {
                studentSamples(n: n)
                var sLocal = studentGradient(n: n)
                for j in 0..<ns {
                    try comm.iallreduce(studentParameters.grads, count: studentParameters.count, op: .sum, reusing: pending)
                    if j + 1 < ns {
                        studentDraws(j + 1, n: n)
                        _ = try pending.test()
                        studentSamples(n: n)
                    }
                    try waitPending()
                    studentLoss = try studentUpdate(localLoss: sLocal)
                    if j + 1 < ns { sLocal = studentGradient(n: n) }
                }
            }
        default:
            try reduce(generatorParameters.grads, count: generatorParameters.count)
            gen = try generatorUpdate(localLoss: local, guarded: guarded)
            for j in 0..<ns { studentLoss = try studentStep(j, n: n) }
        }
        step += 1
        times.steps += 1
        times.other += (MPI.wallTime() - t0) - (times.total - before)
        return StepResult(generatorLoss: gen.loss, studentLoss: studentLoss, generatorGradNorm: gen.norm,
                          guardedSamples: gen.guarded, stopRequested: gen.stop || agreed.stopRequested)
    }

    /// One-step samples g(z) with the EMA generator (or the live one), z keyed by
    /// (seed, global index) under the evaluation purpose.
    public func sample(count: Int, seed: UInt64, first: Int = 0, useEMA: Bool = true) -> [Float] {
        let p = Parameters(layout: network.layout)
        if useEMA { generatorEMA.copy(into: p) } else { p.copyValues(from: generatorParameters) }
        return OneStepGenerator(network: network, edm: edm, parameters: p, sigmaInit: config.sigmaInit)
            .sample(count: count, seed: seed, first: first)
    }

    // MARK: Checkpoints

    public func checkpoint() -> Checkpoint {
        var c = Checkpoint()
        let l = network.layout
        c.add(group: "generator", layout: l, values: generatorParameters.values)
        c.add(group: "generator_ema", layout: l, values: generatorEMA.values.data)
        c.add(group: "generator_adam_m", layout: l, values: generatorAdam.m.data)
        c.add(group: "generator_adam_v", layout: l, values: generatorAdam.v.data)
        c.add(group: "student", layout: l, values: studentParameters.values)
        c.add(group: "student_adam_m", layout: l, values: studentAdam.m.data)
        c.add(group: "student_adam_v", layout: l, values: studentAdam.v.data)
        c.metadata = [
            "format": "emd-checkpoint-1", "kind": "generator", "step": "\(step)",
            "generator_adam_step": "\(generatorAdam.step)", "student_adam_step": "\(studentAdam.step)",
            "seed": "\(config.seed)", "config": StrictConfig.json(config), "edm": StrictConfig.json(edm),
            "sigma_init": "\(config.sigmaInit)", "ranks_at_save": "\(comm.size)",
            "network": networkConfigJSON,
        ]
        return c
    }

    /// The JSON of the network config, set by whoever built the network (for sampling later).
    public var networkConfigJSON = ""

    public func restore(_ c: Checkpoint) throws {
        guard c.metadata["kind"] == "generator" else {
            throw ConfigError("\(c.path): not a distillation checkpoint (kind \(c.metadata["kind"] ?? "none"))")
        }
        let l = network.layout
        try c.load(group: "generator", layout: l, into: generatorParameters.values)
        try c.load(group: "generator_ema", layout: l, into: generatorEMA.values.data)
        try c.load(group: "generator_adam_m", layout: l, into: generatorAdam.m.data)
        try c.load(group: "generator_adam_v", layout: l, into: generatorAdam.v.data)
        try c.load(group: "student", layout: l, into: studentParameters.values)
        try c.load(group: "student_adam_m", layout: l, into: studentAdam.m.data)
        try c.load(group: "student_adam_v", layout: l, into: studentAdam.v.data)
        step = try c.metaInt("step")
        generatorAdam.step = try c.metaInt("generator_adam_step")
        studentAdam.step = try c.metaInt("student_adam_step")
    }
}

/// A trained one-step generator: g(z) = D(sigma_init z; sigma_init).
public struct OneStepGenerator {
    public let network: ConditionalNetwork
    public let edm: EDMConfig
    public let parameters: Parameters
    public let sigmaInit: Float

    public init(network: ConditionalNetwork, edm: EDMConfig, parameters: Parameters, sigmaInit: Float) {
        self.network = network
        self.edm = edm
        self.parameters = parameters
        self.sigmaInit = sigmaInit
    }

    /// Load the EMA generator (or the live one) from a distillation checkpoint.
    public static func load(_ path: String, useEMA: Bool = true) throws -> OneStepGenerator {
        let c = try Checkpoint.read(path)
        guard c.metadata["kind"] == "generator" else {
            throw ConfigError("\(path): not a generator checkpoint (kind \(c.metadata["kind"] ?? "none"))")
        }
        let nc = try c.metaJSON("network", as: NetworkConfig.self)
        let net = try nc.build()
        let p = Parameters(layout: net.layout)
        try c.load(group: useEMA ? "generator_ema" : "generator", layout: net.layout, into: p.values)
        guard let s = Float(try c.meta("sigma_init")) else { throw ConfigError("\(path): bad sigma_init") }
        return OneStepGenerator(network: net, edm: try c.metaJSON("edm", as: EDMConfig.self), parameters: p, sigmaInit: s)
    }

    /// `count` samples, one network evaluation each, latents keyed by (seed, global index).
    public func sample(count: Int, seed: UInt64, first: Int = 0, chunk: Int = 512) -> [Float] {
        let d = network.inputSize
        let den = NetworkDenoiser(network: network, edm: edm, parameters: parameters, maxBatch: chunk)
        let zt = Tensor(shape: [chunk, d]), sg = Tensor(shape: [chunk])
        sg.fill(sigmaInit)
        var out = [Float](repeating: 0, count: count * d)
        var start = 0
        while start < count {
            let n = min(chunk, count - start)
            for b in 0..<n {
                Draws.normal(DrawKey(seed: seed, step: 0, purpose: .evaluation, index: first + start + b),
                             into: zt.data + b * d, count: d)
            }
            for i in 0..<(n * d) { zt[i] *= sigmaInit }
            out.withUnsafeMutableBufferPointer { o in
                den.denoise(zt.data, sigma: sg.data, out: o.baseAddress! + start * d, batch: n)
            }
            start += n
        }
        return out
    }
}
