import Foundation
import Training

/// Everything that defines a teacher training run; stored in its checkpoints.
public struct TeacherConfig: Codable, Sendable, Equatable {
    /// "mixture", "fashion-mnist", "idx:IMAGES[,LABELS]" or "csv:PATH".
    public var data = "mixture"
    /// The mixture used when `data` is "mixture".
    public var mixture = GaussianMixture.ring()
    public var network = NetworkConfig(kind: .mlp, dimension: 2, hidden: 128, depth: 3, embedding: 64)
    /// EDM settings; `edm.sigmaData <= 0` means "measure it from the data".
    public var edm: EDMConfig = { var e = EDMConfig(); e.sigmaData = 0; return e }()
    public var steps = 3000
    /// Global batch (split across ranks).
    public var batch = 256
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var weightDecay: Float = 0
    /// Global gradient-norm clip (0: off).
    public var gradClip: Float = 1
    public var emaDecay: Float = 0.999
    /// Class-conditional networks: the probability that a training sample's label is replaced
    /// by "no class", so that one network learns both branches of classifier-free guidance.
    public var labelDropout: Float = 0.1
    /// Shard Adam's moments and the EMA over the ranks (ZeRO stage 1): gradients
    /// reduce-scattered, parameters all-gathered. Same results; checkpoints are identical.
    public var optimizerSharding = false
    public var seed = 0
    public var logEvery = 100
    public var checkpointEvery = 1000
    public var keepCheckpoints = 3

    public init() {}

    public func validate() throws {
        try ResourceLimits.check("steps", steps, in: 1...1_000_000_000)
        try ResourceLimits.check("batch", batch, in: 1...(1 << 24))
        for (name, v) in [("learningRate", learningRate), ("beta1", beta1), ("beta2", beta2), ("weightDecay", weightDecay),
                          ("gradClip", gradClip), ("emaDecay", emaDecay)] where !v.isFinite {
            throw ConfigError("\(name) must be finite, got \(v)")
        }
        try ResourceLimits.check("learningRate", learningRate, in: Float.leastNormalMagnitude...1)
        try ResourceLimits.check("beta1", beta1, in: 0...0.9999)
        try ResourceLimits.check("beta2", beta2, in: 0.5...0.999999)
        try ResourceLimits.check("weightDecay", weightDecay, in: 0...1)
        guard gradClip >= 0 else { throw ConfigError("gradClip must be >= 0 (0: off), got \(gradClip)") }
        guard emaDecay >= 0, emaDecay < 1 else { throw ConfigError("emaDecay must be in [0, 1)") }
        guard labelDropout.isFinite, labelDropout >= 0, labelDropout <= 1 else {
            throw ConfigError("labelDropout must be in [0, 1], got \(labelDropout)")
        }
        try ResourceLimits.check("logEvery", logEvery, in: 1...1_000_000_000)
        try ResourceLimits.check("checkpointEvery", checkpointEvery, in: 1...1_000_000_000)
        try ResourceLimits.check("keepCheckpoints", keepCheckpoints, in: 1...1_000_000)
        var e = edm
        if e.sigmaData <= 0 { e.sigmaData = 1 }  // "measure it from the data"
        try e.validate()
        var n = network  // its dimension is set from the data later
        switch n.kind {
        case .unet: n.dimension = n.imageSide * n.imageSide
        case .edmUnet: n.dimension = n.imageChannels * n.imageSide * n.imageSide
        case .mlp, .resmlp: n.dimension = max(n.dimension, 1)
        }
        _ = try n.build()
        if data == "mixture" { try mixture.validate() }
    }
}


extension TeacherConfig {
    /// Settings a resumed run may change: the schedule and logging, not what is computed.
    public static let resumableKeys: Set<String> = ["steps", "logEvery", "checkpointEvery", "keepCheckpoints", "optimizerSharding"]
}
