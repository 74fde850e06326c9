import Foundation
import SwiftMPI
import NN
import CounterRNG
import FileFormats

/// Everything that defines a teacher training run; stored in its checkpoints.
public struct TeacherConfig: Codable, Sendable, Equatable {
    /// "mixture", "fashion-mnist", "idx:IMAGES[,LABELS]" or "csv:PATH".
    public var data = "mixture"
    /// The mixture used when `data` is "mixture".
    public var mixture = GaussianMixture.ring()
    public var network = NetworkConfig(kind: "mlp", dimension: 2, hidden: 128, depth: 3, embedding: 64)
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
    public var seed = 0
    public var logEvery = 100
    public var checkpointEvery = 1000
    public var keepCheckpoints = 3

    public init() {}

    public func validate() throws {
        guard steps > 0 else { throw ConfigError("steps must be positive, got \(steps)") }
        guard batch > 0 else { throw ConfigError("batch must be positive, got \(batch)") }
        guard learningRate > 0, learningRate.isFinite else { throw ConfigError("learningRate must be positive") }
        guard emaDecay >= 0, emaDecay < 1 else { throw ConfigError("emaDecay must be in [0, 1)") }
        guard checkpointEvery > 0, logEvery > 0 else { throw ConfigError("checkpointEvery and logEvery must be positive") }
        var e = edm
        if e.sigmaData <= 0 { e.sigmaData = 1 }  // "measure it from the data"
        try e.validate()
        var n = network  // its dimension is set from the data later
        n.dimension = n.kind == "unet" ? n.imageSide * n.imageSide : max(n.dimension, 1)
        _ = try n.build()
        if data == "mixture" { try mixture.validate() }
    }
}

/// A trained denoiser loaded from a checkpoint: network definition, EDM settings and weights
/// (the EMA when present).
public struct TeacherModel {
    public let network: ConditionalNetwork
    public let networkConfig: NetworkConfig
    public let edm: EDMConfig
    public let parameters: Parameters
    public let metadata: [String: String]

    public init(network: ConditionalNetwork, networkConfig: NetworkConfig, edm: EDMConfig, parameters: Parameters,
                metadata: [String: String]) {
        self.network = network
        self.networkConfig = networkConfig
        self.edm = edm
        self.parameters = parameters
        self.metadata = metadata
    }

    public static func load(_ path: String, useEMA: Bool = true) throws -> TeacherModel {
        try TeacherModel(checkpoint: Checkpoint.read(path), useEMA: useEMA)
    }

    /// The model in a checkpoint already read. The network its metadata describes is checked
    /// against the tensors present before any parameter memory is allocated, so a hostile
    /// config (a huge hidden width) is refused rather than allocated.
    public init(checkpoint ck: Checkpoint, useEMA: Bool = true) throws {
        let path = ck.path
        let nc = try ck.metaJSON("network", as: NetworkConfig.self)
        let edm = try ck.metaJSON("edm", as: EDMConfig.self)
        do { try edm.validate() } catch { throw FileFormatError(path: path, "metadata 'edm': \(error)") }
        let net: ConditionalNetwork
        do { net = try nc.build() } catch { throw FileFormatError(path: path, "metadata 'network': \(error)") }
        guard ck.matches(group: "params", layout: net.layout) else {
            throw FileFormatError(path: path, "the tensors under 'params' do not match the network in its metadata (\(StrictConfig.json(nc)))")
        }
        let p = Parameters(layout: net.layout)
        let group = useEMA && ck.has(group: "ema", layout: net.layout) ? "ema" : "params"
        try ck.load(group: group, layout: net.layout, into: p.values)
        self.init(network: net, networkConfig: nc, edm: edm, parameters: p, metadata: ck.metadata)
    }

    public func denoiser(maxBatch: Int) -> NetworkDenoiser {
        NetworkDenoiser(network: network, edm: edm, parameters: parameters, maxBatch: maxBatch)
    }
}

/// Data-parallel EDM training: each rank takes its shard of every global batch, gradients are
/// summed with one all-reduce, every rank applies the same Adam step.
public final class TeacherTrainer {
    public let config: TeacherConfig
    public let comm: Communicator
    public let data: TrainingData
    public let network: ConditionalNetwork
    public let edm: EDMConfig
    public let parameters: Parameters
    public let adam: Adam
    public let ema: EMA
    public private(set) var step = 0
    let denoiser: NetworkDenoiser
    let lo: Int, hi: Int
    let x0, xNoisy, den, grad, sig: Tensor
    let agreed = StepAgreement()

    public init(config: TeacherConfig, comm: Communicator, data: TrainingData) throws {
        try config.validate()
        var nc = config.network
        nc.dimension = data.dimension
        var cfg = config
        cfg.network = nc
        if cfg.edm.sigmaData <= 0 { cfg.edm.sigmaData = data.dataStd }
        self.config = cfg
        self.comm = comm
        self.data = data
        edm = cfg.edm
        network = try nc.build()
        parameters = Parameters(layout: network.layout)
        parameters.initialize(seed: UInt64(cfg.seed))
        adam = Adam(count: parameters.count, learningRate: cfg.learningRate, beta1: cfg.beta1, beta2: cfg.beta2,
                    weightDecay: cfg.weightDecay)
        ema = EMA(parameters, decay: cfg.emaDecay)
        lo = comm.rank * cfg.batch / comm.size
        hi = (comm.rank + 1) * cfg.batch / comm.size
        let n = max(hi - lo, 1), d = data.dimension
        denoiser = NetworkDenoiser(network: network, edm: edm, parameters: parameters, maxBatch: n)
        x0 = Tensor(shape: [n, d]); xNoisy = Tensor(shape: [n, d]); den = Tensor(shape: [n, d])
        grad = Tensor(shape: [n, d]); sig = Tensor(shape: [n])
    }

    /// Local part of the loss and gradient for the current step (gradients into `parameters.grads`).
    func localLossAndGradient() -> Double {
        let n = hi - lo, d = data.dimension, seed = UInt64(config.seed), B = config.batch
        parameters.zeroGrads()
        guard n > 0 else { return 0 }
        for b in 0..<n {
            let gi = lo + b
            data.fill(step: step, position: gi, batch: B, seed: seed, into: x0.data + b * d)
            sig[b] = edm.trainingSigma(normal: Draws.normal(DrawKey(seed: seed, step: step, purpose: .dataSigma, index: gi)))
            Draws.normal(DrawKey(seed: seed, step: step, purpose: .dataNoise, index: gi), into: xNoisy.data + b * d, count: d)
            for j in 0..<d { xNoisy[b * d + j] = x0[b * d + j] + sig[b] * xNoisy[b * d + j] }
        }
        denoiser.denoise(xNoisy.data, sigma: sig.data, out: den.data, batch: n)
        var loss = 0.0
        let scale = 1 / Float(B * d)
        for b in 0..<n {
            let w = edm.lossWeight(sig[b])
            for j in 0..<d {
                let e = den[b * d + j] - x0[b * d + j]
                loss += Double(w * e * e * scale)
                grad[b * d + j] = 2 * w * e * scale
            }
        }
        denoiser.backward(dOut: grad.data, dx: nil, batch: n, paramGrads: true)
        return loss
    }

    /// One synchronous training step. Returns the global loss and the gradient norm.
    public func trainStep() throws -> (loss: Double, gradNorm: Float, stop: Bool) {
        let local = localLossAndGradient()
        FaultInjection.apply(rank: comm.rank, step: step, grads: parameters.grads)
        try FaultInjection.check(rank: comm.rank, step: step)
        try comm.allreduce(parameters.grads, count: parameters.count, op: .sum)
        let finite = allFinite(parameters.grads, count: parameters.count)
        try agreed.reach(comm, localLoss: finite ? local : .nan)
        if agreed.nonFiniteRanks > 0 { throw RunStop.nonFinite(step: step, ranks: agreed.nonFiniteRanks) }
        let norm = clipGradientNorm(parameters.grads, count: parameters.count, maxNorm: config.gradClip)
        adam.update(parameters)
        ema.update(parameters)
        step += 1
        return (agreed.lossSum, norm, agreed.stopRequested)
    }

    /// The full training state.
    public func checkpoint() -> Checkpoint {
        var c = Checkpoint()
        c.add(group: "params", layout: network.layout, values: parameters.values)
        c.add(group: "ema", layout: network.layout, values: ema.values.data)
        c.add(group: "adam_m", layout: network.layout, values: adam.m.data)
        c.add(group: "adam_v", layout: network.layout, values: adam.v.data)
        c.metadata = [
            "format": "emd-checkpoint-1", "kind": "teacher", "step": "\(step)", "adam_step": "\(adam.step)",
            "seed": "\(config.seed)", "config": StrictConfig.json(config), "network": StrictConfig.json(config.network),
            "edm": StrictConfig.json(edm), "data": config.data, "ranks_at_save": "\(comm.size)",
        ]
        return c
    }

    /// Restore a state written by `checkpoint()` (any rank count).
    public func restore(_ c: Checkpoint) throws {
        guard c.metadata["kind"] == "teacher" else {
            throw ConfigError("\(c.path): not a teacher checkpoint (kind \(c.metadata["kind"] ?? "none"))")
        }
        let saved = try c.metaJSON("network", as: NetworkConfig.self)
        guard saved == config.network else {
            throw ConfigError("\(c.path): checkpoint network \(StrictConfig.json(saved)) differs from the configured \(StrictConfig.json(config.network))")
        }
        try c.load(group: "params", layout: network.layout, into: parameters.values)
        try c.load(group: "ema", layout: network.layout, into: ema.values.data)
        try c.load(group: "adam_m", layout: network.layout, into: adam.m.data)
        try c.load(group: "adam_v", layout: network.layout, into: adam.v.data)
        step = try c.metaInt("step")
        adam.step = try c.metaInt("adam_step")
    }

    /// Train to `config.steps`, checkpointing into `out` (rank 0 writes). With `resume`, continue
    /// from the newest checkpoint in `out`. Returns the path of the final checkpoint.
    @discardableResult
    public func run(out: String, resume: Bool, log: TrainingProgress) throws -> String {
        let dir = CheckpointDirectory(path: out, keep: config.keepCheckpoints)
        if resume, let latest = dir.latest() {
            try restore(try Checkpoint.read(latest))
            log.log("resumed from \(latest) at step \(step)")
        }
        if comm.isRoot { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) }
        log.log("teacher: \(config.data), network \(config.network.kind) (\(parameters.count) parameters), sigma_data \(edm.sigmaData), \(comm.size) rank(s), global batch \(config.batch)")
        while step < config.steps {
            let r = try trainStep()
            if log.due(step) {
                log.report(step: step, samplesPerStep: config.batch, metrics: [("loss", r.loss), ("grad_norm", Double(r.gradNorm))])
            }
            if r.stop {
                let path = dir.file(step: step)
                if comm.isRoot { try dir.save(checkpoint(), step: step) }
                try comm.barrier()
                throw RunStop.preempted(step: step, checkpoint: path)
            }
            if step % config.checkpointEvery == 0 || step == config.steps {
                if comm.isRoot { try dir.save(checkpoint(), step: step) }
            }
        }
        let final = (out as NSString).appendingPathComponent("teacher.safetensors")
        if comm.isRoot { try checkpoint().write(to: final) }
        try comm.barrier()
        return final
    }
}
