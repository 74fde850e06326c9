import Diffusion

/// A one-step generator's mixture metrics beside the ceiling: the exact teacher's own Heun
/// samples scored with the same metrics (docs/results.md reports both in every table).
public enum MixtureEvaluation {
    /// Noise levels of the teacher's Heun sampler (35 function evaluations).
    public static let teacherSteps = 18

    /// `samples` scored on `mixture`, with the heaviest mode's share of the on-mode samples
    /// (a mode-seeking objective piles mass there).
    public static func row(_ samples: [Float], mixture: GaussianMixture) -> [String: Any] {
        let r = MixtureMetrics.evaluate(samples, mixture: mixture)
        var row = r.dictionary
        row["heaviest_share"] = heaviestShare(r, mixture: mixture)
        row["heaviest_weight"] = Double(mixture.weights.max() ?? 0)
        return row
    }

    /// The share of on-mode samples that landed in the heaviest mode.
    public static func heaviestShare(_ r: MixtureReport, mixture: GaussianMixture) -> Double {
        guard let i = mixture.weights.indices.max(by: { mixture.weights[$0] < mixture.weights[$1] }), i < r.modeShares.count else {
            return 0
        }
        return r.modeShares[i]
    }

    /// `count` Heun samples (35 NFE) of the exact mixture teacher, keyed by `seed`. Asks `stop`
    /// between chunks and noise levels; throws `SamplingStopped` once it returns true.
    public static func teacherSamples(_ mixture: GaussianMixture, edm: EDMConfig, count: Int, seed: UInt64,
                                      stop: () -> Bool = { false }) throws -> [Float] {
        try Sampler.heun.sample(ExactMixtureDenoiser(mixture), edm: edm, steps: teacherSteps, count: count, seed: seed, stop: stop)
    }
}
