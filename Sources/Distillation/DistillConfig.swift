import Diffusion
import Foundation
import Training

/// The generator's objective.
public enum DistillMethod: String, Codable, Sendable, CaseIterable {
    /// EM Distillation: K Langevin steps on (eps, z), then the M-step.
    case emd
    /// The Diff-Instruct/DMD reverse-KL gradient: K = 1, no z step, noise cancellation on.
    case baseline
}

/// How gradients cross ranks in one distillation step (see `GradientExchange`).
public enum GradientExchangeMode: String, Codable, Sendable, CaseIterable {
    /// One blocking all-reduce per network update.
    case separate
    /// The same arithmetic, each all-reduce non-blocking while the next update's draws and
    /// generator samples are computed.
    case overlap
    /// The generator's gradient and the first student update's in one all-reduce; that student
    /// update sees the generator before this step's update (a one-update lag).
    case fused
    /// The same arithmetic as `separate`; each student gradient is reduced in buckets, each
    /// posted (non-blocking) as soon as the backward pass has finished it, as DDP and Horovod
    /// do (networks that report their progress: the plain MLP; others in one bucket).
    case bucketed
}

/// The units of the distillation noise levels (`sigmaLo`, `sigmaHi`, `sigmaInit`) and of the
/// z step (`gammaZ`).
public enum NoiseUnits: String, Codable, Sendable, CaseIterable {
    /// Multiples of the teacher's sigma_data, as EDM expresses its own noise levels; the z step
    /// is h_z = gammaZ (sigma / sigma_data)^2, so data in other units (a mixture of another
    /// spread, images) gets the same relative noise levels and the same z dynamics.
    case sigmaData
    /// Absolute noise levels, h_z = gammaZ sigma^2 (the settings before 2026-12-02).
    case absolute
}

/// The noise levels of a run in the teacher's data units.
public struct NoiseLevels: Sendable, Equatable {
    /// The E-step and M-step range [lo, hi] (log-uniform).
    public let lo: Float
    public let hi: Float
    /// The generator's fixed noise level sigma_g.
    public let initial: Float
    /// h_z = min(zStep * sigma^2, zStepMax).
    public let zStep: Float
    public let zStepMax: Float
    // Made only by `DistillConfig.noiseLevels` (the synthesised memberwise initialiser).
}

/// The noise levels sigma' of the student's denoising score matching.
public enum StudentNoise: String, Codable, Sendable, CaseIterable {
    /// EDM's training distribution, LogNormal(P_mean, P_std) (the specification's).
    case logNormal
    /// Log-uniform on the distillation range [sigmaLo, sigmaHi], where the E-step and the
    /// M-step read the student's score.
    case distillationRange
}

/// The M-step's per-sample weight w(sigma).
public enum MStepWeighting: String, Codable, Sendable, CaseIterable {
    /// w = 1.
    case one
    /// w = sigma^2 / sigmaHi^2.
    case sigma2

    @inline(__always)
    func weight(sigma s: Float, sigmaHi: Float) -> Float { self == .sigma2 ? s * s / (sigmaHi * sigmaHi) : 1 }
}

/// Everything that defines an EM Distillation run (see docs/algorithm.md); stored in its
/// checkpoints. Defaults are the settings of ../shared/EMD.md with three changes measured on the
/// 2-D ring (docs/results.md): generator lr 1e-3 (not 3e-4), gamma_z 0.003 sigma^2 (not 0.01)
/// and 5000 generator steps (not 4000); the EMA has EDM's ramp-up (`emaRampup`); and the noise
/// levels are expressed in units of the teacher's sigma_data (`noiseUnits`): the ring's
/// absolute [0.05, 2], 2.5 and 0.003 divided by its sigma_data 1.32 (gamma_z multiplied by
/// its square) and rounded.
public struct DistillConfig: Codable, Sendable, Equatable {
    /// "mixture" (the exact Gaussian-mixture denoiser) or the path of a teacher checkpoint.
    public var teacher = "mixture"
    /// The mixture when `teacher` is "mixture".
    public var mixture = GaussianMixture.ring()
    /// Checkpoint whose weights initialise generator and student. Empty: the teacher checkpoint,
    /// or, for the exact mixture, a network fitted to the mixture for `initSteps` steps first.
    public var initCheckpoint = ""
    public var initSteps = 3000
    /// Architecture of the network fitted for initialisation on the exact mixture.
    public var network = NetworkConfig(kind: .mlp, dimension: 2, hidden: 128, depth: 3, embedding: 64)

    public var method = DistillMethod.emd
    public var steps = 5000
    /// Global batch of generator latents (split across ranks).
    public var batch = 256
    /// The units of sigmaInit, sigmaLo, sigmaHi and gammaZ.
    public var noiseUnits = NoiseUnits.sigmaData
    /// Fixed noise level of the generator: g(z) = D_theta(sigma_g z; sigma_g).
    public var sigmaInit: Float = 1.9
    /// E-step and M-step noise levels: log-uniform on [sigmaLo, sigmaHi].
    public var sigmaLo: Float = 0.04
    public var sigmaHi: Float = 1.5
    /// K, the number of Langevin steps of the E-step.
    public var langevinSteps = 8
    public var gammaEps: Float = 0.3
    /// z step size: h_z = gammaZ (sigma / sigma_data)^2 (or gammaZ sigma^2 in absolute units);
    /// 0 switches the z step off.
    public var gammaZ: Float = 0.005
    /// Cap on the z step: h_z = min(gammaZ (sigma / sigma_data)^2, zStepMax). Without it h_z
    /// grows without bound with sigma_hi (4.4 at 30 sigma_data), and an Euler step of the
    /// prior's own drift, z' = (1 - h) z + sqrt(2 h) zeta, leaves N(0, I) with stationary
    /// variance 1 / (1 - h/2): 0.1 holds that bias to 5%. Inactive below sqrt(0.1 / gammaZ)
    /// sigma_data (4.5 at the default gammaZ), so it changes nothing at the default range.
    public var zStepMax: Float = 0.1
    public var noiseCancellation = true
    /// DMD2-style per-sample normalisation of the M-step target by mean |D_phi - g|.
    public var normalizeTarget = false
    /// M-step weighting w(sigma).
    public var weighting = MStepWeighting.one

    public var generatorLR: Float = 1e-3
    /// Cosine annealing of the generator's learning rate over this many updates: update t
    /// (from 0) uses generatorLR (1 + cos(pi t / N)) / 2, falling to 0 at N, where the run must
    /// end (0: a constant learning rate). The student's stays constant: it keeps tracking the
    /// generator as the generator settles.
    public var generatorLRDecaySteps = 0
    public var generatorBeta1: Float = 0
    public var generatorBeta2: Float = 0.99
    /// EMA decay of the generator once ramped up (half-life ln 0.5 / ln emaDecay updates).
    public var emaDecay: Float = 0.999
    /// EDM's EMA ramp-up: at generator update t the EMA half-life is capped at emaRampup * t
    /// updates, so the average forgets the initial generator at the pace of the run (0: off, a
    /// plain EMA from initialisation, which after 1000 updates at 0.999 still weighs the
    /// initial generator by 0.37).
    public var emaRampup: Float = 0.05
    public var studentLR: Float = 1e-3
    public var studentBeta1: Float = 0.9
    public var studentBeta2: Float = 0.999
    /// Student denoising-score-matching updates per generator update.
    public var studentSteps = 5
    /// Where the student's noise levels are drawn.
    public var studentNoise = StudentNoise.logNormal
    /// How gradients cross ranks.
    public var allreduce = GradientExchangeMode.separate
    /// Bucket size in floats of the bucketed mode (1 MB, as DDP's default order of magnitude).
    public var bucketFloats = 1 << 18
    /// Global gradient-norm clip for both networks (0: off).
    public var gradClip: Float = 0
    /// Class-conditional teachers: the classifier-free guidance scale w of the teacher's score
    /// in the E-step and the M-step (1: the conditional teacher; > 1 sharper classes).
    public var guidance: Float = 1
    /// Shard both networks' Adam moments and the generator's EMA over the ranks (ZeRO stage 1):
    /// gradients reduce-scattered, parameters all-gathered. Same results; checkpoints are
    /// identical. Needs `allreduce` separate.
    public var optimizerSharding = false

    public var seed = 0
    /// Stop after this many seconds of training, at the step where every rank agrees the time is
    /// up (0: no limit). For comparisons at equal wall time.
    public var timeLimit: Double = 0
    public var logEvery = 100
    public var checkpointEvery = 1000
    public var keepCheckpoints = 3

    public init() {}

    /// K after the method is applied.
    public var effectiveK: Int { method == .baseline ? 1 : langevinSteps }
    public var effectiveGammaZ: Float { method == .baseline ? 0 : gammaZ }
    public var effectiveNoiseCancellation: Bool { method == .baseline ? true : noiseCancellation }
    /// Whether the E-step moves z.
    public var movesZ: Bool { effectiveGammaZ > 0 }

    /// The noise levels in data units for a teacher whose data has standard deviation
    /// `sigmaData`: for data scaled by c, the levels scale by c and h_z at corresponding
    /// levels is unchanged.
    public func noiseLevels(sigmaData: Float) -> NoiseLevels {
        let s: Float = noiseUnits == .sigmaData ? sigmaData : 1
        return NoiseLevels(lo: sigmaLo * s, hi: sigmaHi * s, initial: sigmaInit * s, zStep: effectiveGammaZ / (s * s), zStepMax: zStepMax)
    }

    /// Settings a resumed run may change: the schedule and logging, not what is computed.
    public static let resumableKeys: Set<String> = ["steps", "timeLimit", "logEvery", "checkpointEvery", "keepCheckpoints",
                                                   "optimizerSharding", "bucketFloats"]

    /// The generator's learning rate at update `t` (from 0): `generatorLR`, or its cosine
    /// annealing over `generatorLRDecaySteps`.
    public func generatorLR(atUpdate t: Int) -> Float {
        guard generatorLRDecaySteps > 0 else { return generatorLR }
        let f = Double(min(max(t, 0), generatorLRDecaySteps)) / Double(generatorLRDecaySteps)
        return Float(Double(generatorLR) * 0.5 * (1 + cos(Double.pi * f)))
    }

    /// The EMA decay applied at generator update `t` (1 for the first update): `emaDecay`, or
    /// less while `emaRampup * t` is shorter than its half-life.
    public func emaDecay(atUpdate t: Int) -> Float {
        guard emaRampup > 0, emaDecay > 0 else { return emaDecay }
        let rampedHalfLife = Double(emaRampup) * Double(max(t, 1))
        return Float(min(Double(emaDecay), pow(0.5, 1 / rampedHalfLife)))
    }

    public func validate() throws {
        try ResourceLimits.check("steps", steps, in: 1...1_000_000_000)
        try ResourceLimits.check("batch", batch, in: 1...(1 << 24))
        try ResourceLimits.check("initSteps", initSteps, in: 1...1_000_000_000)
        try ResourceLimits.check("langevinSteps", langevinSteps, in: 1...1000)
        try ResourceLimits.check("studentSteps", studentSteps, in: 0...1000)
        for (name, v) in [("sigmaLo", sigmaLo), ("sigmaHi", sigmaHi), ("sigmaInit", sigmaInit), ("gammaEps", gammaEps),
                          ("gammaZ", gammaZ), ("generatorLR", generatorLR), ("studentLR", studentLR), ("gradClip", gradClip),
                          ("emaDecay", emaDecay), ("emaRampup", emaRampup), ("generatorBeta1", generatorBeta1),
                          ("generatorBeta2", generatorBeta2), ("studentBeta1", studentBeta1), ("studentBeta2", studentBeta2)]
        where !v.isFinite {
            throw ConfigError("\(name) must be finite, got \(v)")
        }
        guard sigmaLo > 0, sigmaHi >= sigmaLo, sigmaInit > 0, sigmaHi <= 1e4, sigmaInit <= 1e4 else {
            throw ConfigError("need 0 < sigmaLo <= sigmaHi <= 1e4 and 0 < sigmaInit <= 1e4, got sigmaLo \(sigmaLo), sigmaHi \(sigmaHi), sigmaInit \(sigmaInit)")
        }
        guard gammaEps > 0, gammaEps <= 1, gammaZ >= 0, gammaZ <= 1 else {
            throw ConfigError("need 0 < gammaEps <= 1 and 0 <= gammaZ <= 1, got \(gammaEps) and \(gammaZ)")
        }
        guard zStepMax.isFinite, zStepMax > 0, zStepMax <= 1 else {
            throw ConfigError("need 0 < zStepMax <= 1 (the largest z step h_z), got \(zStepMax)")
        }
        try ResourceLimits.check("generatorLR", generatorLR, in: Float.leastNormalMagnitude...1)
        try ResourceLimits.check("studentLR", studentLR, in: Float.leastNormalMagnitude...1)
        try ResourceLimits.check("generatorLRDecaySteps", generatorLRDecaySteps, in: 0...1_000_000_000)
        guard generatorLRDecaySteps == 0 || steps <= generatorLRDecaySteps else {
            throw ConfigError("steps (\(steps)) runs past generatorLRDecaySteps (\(generatorLRDecaySteps)), where the generator's "
                              + "learning rate has reached 0: set the decay to the run's length")
        }
        for (name, beta) in [("generatorBeta1", generatorBeta1), ("studentBeta1", studentBeta1)] {
            try ResourceLimits.check(name, beta, in: 0...0.9999)
        }
        for (name, beta) in [("generatorBeta2", generatorBeta2), ("studentBeta2", studentBeta2)] {
            try ResourceLimits.check(name, beta, in: 0.5...0.999999)
        }
        guard gradClip >= 0 else { throw ConfigError("gradClip must be >= 0 (0: off), got \(gradClip)") }
        guard emaDecay >= 0, emaDecay < 1 else { throw ConfigError("emaDecay must be in [0, 1)") }
        guard emaRampup >= 0 else { throw ConfigError("emaRampup must be >= 0") }
        guard guidance.isFinite, abs(guidance) <= 100 else { throw ConfigError("guidance must be finite with |w| <= 100, got \(guidance)") }
        try ResourceLimits.check("bucketFloats", bucketFloats, in: 1...(1 << 30))
        guard !optimizerSharding || allreduce == .separate else {
            throw ConfigError("optimizerSharding needs allreduce separate (got \(allreduce.rawValue))")
        }
        guard timeLimit >= 0, timeLimit.isFinite else { throw ConfigError("timeLimit must be >= 0 seconds") }
        try ResourceLimits.check("logEvery", logEvery, in: 1...1_000_000_000)
        try ResourceLimits.check("checkpointEvery", checkpointEvery, in: 1...1_000_000_000)
        try ResourceLimits.check("keepCheckpoints", keepCheckpoints, in: 1...1_000_000)
        if teacher == "mixture" { try mixture.validate() }
    }
}
