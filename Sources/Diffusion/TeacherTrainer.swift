import Foundation
import NN
import CounterRNG
import Training

/// Data-parallel EDM training: each rank takes its shard of every global batch, gradients are
/// summed with one all-reduce, every rank applies the same Adam step. Driven by `TrainingLoop`.
public final class TeacherTrainer: Trainable {
    public let config: TeacherConfig
    public let collectives: Collectives
    public let data: TrainingData
    public let network: ConditionalNetwork
    public let edm: EDMConfig
    public let parameters: Parameters
    /// Adam and the EMA, replicated or sharded over the ranks (`optimizerSharding`).
    public let optimizer: DataParallelAdam
    /// Adam over this rank's block of the parameters (all of them unless sharded).
    public var adam: Adam { optimizer.adam }
    /// The EMA of this rank's block of the parameters (all of them unless sharded).
    public var ema: EMA { optimizer.ema! }
    public let faults: FaultPlan
    /// Settings a resume may change beyond `TeacherConfig.resumableKeys`, because the user said
    /// so (`--allow-changed`).
    public var allowedChanges: Set<String> = []
    public private(set) var step = 0
    let denoiser: NetworkDenoiser
    let shard: Shard
    let loss: DenoisingScoreMatching
    let x0, noise, sigma: Tensor
    /// This shard's class labels ("no class" where dropped), for a class-conditional network.
    let labels: UnsafeMutablePointer<Int32>
    let agreed = StepAgreement()
    var lastLoss = 0.0, lastNorm: Float = 0

    public init(config: TeacherConfig, collectives: Collectives, data: TrainingData, faults: FaultPlan = .none) throws {
        try config.validate()
        var nc = config.network
        nc.dimension = data.dimension
        var cfg = config
        cfg.network = nc
        if cfg.edm.sigmaData <= 0 { cfg.edm.sigmaData = data.dataStd }
        self.config = cfg
        self.collectives = collectives
        self.data = data
        self.faults = faults
        edm = cfg.edm
        let network = try nc.build()
        self.network = network
        let rows = Shard(collectives, globalBatch: cfg.batch).capacity
        // Activations and per-sample buffers, plus parameters, gradients, Adam's two moments and the EMA.
        let dimension = data.dimension
        let perRank = nc.activationFloatsPerSample.flatMap { act in ResourceLimits.product([rows, 6 * dimension + act]) }
        try ResourceLimits.checkMemory(floats: perRank.flatMap { a in ResourceLimits.product([network.layout.count, 5]).map { a + $0 } },
                                       what: "teacher training of \(network.layout.count) parameters with a global batch of \(cfg.batch)")
        parameters = Parameters(layout: network.layout)
        parameters.initialize(seed: UInt64(cfg.seed))
        optimizer = DataParallelAdam(count: parameters.count, collectives: collectives, sharded: cfg.optimizerSharding,
                                     emaDecay: cfg.emaDecay, initial: parameters.values) { n in
            Adam(count: n, learningRate: cfg.learningRate, beta1: cfg.beta1, beta2: cfg.beta2, weightDecay: cfg.weightDecay)
        }
        shard = Shard(collectives, globalBatch: cfg.batch)
        let n = shard.capacity, d = data.dimension
        denoiser = NetworkDenoiser(network: network, edm: edm, parameters: parameters, maxBatch: min(n, Self.chunk))
        loss = DenoisingScoreMatching(edm: edm, dimension: d, capacity: min(n, Self.chunk))
        x0 = Tensor(shape: [n, d]); noise = Tensor(shape: [n, d]); sigma = Tensor(shape: [n])
        labels = .allocate(capacity: n)
        labels.initialize(repeating: 0, count: n)
        if network.classes > 0 {
            guard data.classes > 0 else {
                throw ConfigError("a class-conditional network (classes \(network.classes)) needs labelled data (idx:IMAGES,LABELS or fashion-mnist)")
            }
            guard data.classes <= network.classes else {
                throw ConfigError("the data has \(data.classes) classes, the network \(network.classes)")
            }
            denoiser.labels = UnsafePointer(labels)
        }
    }

    deinit { labels.deallocate() }

    public var samplesPerStep: Int { config.batch }

    /// Samples per forward and backward pass: a larger shard goes through in chunks whose
    /// gradients add up to the shard's (a shard of at most `chunk` is one pass).
    public static let chunk = 4096

    /// This rank's loss sum for the current step, gradients into `parameters.grads`; nil when a
    /// job of one rank was asked to stop between chunks (nothing updated: the step not taken).
    func localLossAndGradient() -> Double? {
        let d = data.dimension, seed = UInt64(config.seed)
        for b in 0..<shard.count {
            let gi = shard.lower + b
            data.fill(step: step, position: gi, batch: config.batch, seed: seed, into: x0.data + b * d)
            sigma[b] = edm.trainingSigma(normal: Draws.normal(DrawKey(seed: seed, step: step, purpose: .dataSigma, index: gi)))
            Draws.normal(DrawKey(seed: seed, step: step, purpose: .dataNoise, index: gi), into: noise.data + b * d, count: d)
            if network.classes > 0 {
                let dropped = Draws.uniform(DrawKey(seed: seed, step: step, purpose: .labelDropout, index: gi)) < config.labelDropout
                labels[b] = Int32(dropped ? network.classes : data.label(step: step, position: gi, batch: config.batch, seed: seed))
            }
        }
        guard shard.count > 0 else {  // an idle rank (more ranks than samples) adds nothing
            parameters.zeroGrads()
            return 0
        }
        var total = 0.0, first = 0
        while first < shard.count {
            if first > 0 && collectives.size == 1 && Preemption.requested { return nil }
            let n = min(Self.chunk, shard.count - first)
            if network.classes > 0 { denoiser.labels = UnsafePointer(labels + first) }
            if config.network.dropout > 0 { denoiser.setDropout(DropoutKey(seed: seed, step: step, firstIndex: shard.lower + first)) }
            loss.prepare(clean: x0.data + first * d, sigma: sigma.data + first, noise: noise.data + first * d, count: n)
            total += loss.lossAndGradient(denoiser, clean: x0.data + first * d, sigma: sigma.data + first, count: n,
                                          globalBatch: config.batch, accumulate: first > 0)
            first += n
        }
        return total
    }

    public func trainStep() throws -> Bool {
        guard let local = localLossAndGradient() else { return true }
        try faults.inject(rank: collectives.rank, step: step, grads: parameters.grads)
        try optimizer.reduceGradients(parameters.grads)
        let finite = optimizer.reducedGradientsFinite(parameters.grads)
        try agreed.reach(collectives, localLoss: finite ? local : .nan)
        try agreed.throwIfNonFinite(step: step)
        lastNorm = try optimizer.apply(values: parameters.values, grads: parameters.grads, maxNorm: config.gradClip, wantNorm: true)
        // Every rank holds the same parameters, so each reaches the same verdict alone.
        guard allFinite(parameters.values, count: parameters.count) else {
            throw RunStop.nonFiniteParameters(step: step)
        }
        optimizer.updateEMA(values: parameters.values, decay: config.emaDecay)
        lastLoss = agreed.lossSum
        step += 1
        return agreed.stopRequested
    }

    public func metrics() -> [(String, Double)] { [("loss", lastLoss), ("grad_norm", Double(lastNorm))] }

    /// The optimiser's states by checkpoint group (one list for save and restore).
    static let optimizerGroups: [(String, DataParallelAdam.State)] = [("ema", .ema), ("adam_m", .adamM), ("adam_v", .adamV)]

    public func prepareCheckpoint() throws { try optimizer.stageWholeState() }

    public func checkpoint() -> Checkpoint {
        var c = Checkpoint()
        c.add(group: "params", layout: network.layout, values: parameters.values)
        for (group, state) in Self.optimizerGroups { c.add(group: group, layout: network.layout, values: optimizer.whole(state)!) }
        optimizer.releaseStaged()
        c.metadata = [
            "format": "emd-checkpoint-1", "kind": CheckpointKind.teacher.rawValue, "step": "\(step)", "adam_step": "\(adam.step)",
            "seed": "\(config.seed)", "config": StrictConfig.json(config), "network": StrictConfig.json(config.network),
            "edm": StrictConfig.json(edm), "data": config.data, "ranks_at_save": "\(collectives.size)",
        ]
        return c
    }

    /// Restore a state written by `checkpoint()` (any rank count) of the same run: its stored
    /// config must match this one but for the schedule and logging.
    public func restore(_ c: Checkpoint) throws {
        try CheckpointKind.teacher.check(c)
        let saved = try c.metaJSON("network", as: NetworkConfig.self)
        guard saved == config.network else {
            throw ConfigError("\(c.path): checkpoint network \(StrictConfig.json(saved)) differs from the configured \(StrictConfig.json(config.network))")
        }
        try ConfigCompatibility.check(saved: try c.meta("config"), current: StrictConfig.json(config),
                                      mutable: TeacherConfig.resumableKeys.union(allowedChanges), source: c.path,
                                      defaults: StrictConfig.json(TeacherConfig()))
        try c.load(group: "params", layout: network.layout, into: parameters.values)
        let whole = Tensor(shape: [parameters.count])
        for (group, state) in Self.optimizerGroups {
            try c.load(group: group, layout: network.layout, into: whole.data)
            optimizer.restore(state, from: whole.data)
        }
        step = try c.metaInt("step")
        adam.step = try c.metaInt("adam_step")
    }

    public func stateChecksum() -> UInt64 { parameters.checksum() ^ UInt64(step) }
}
