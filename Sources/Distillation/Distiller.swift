import Foundation
import NN
import Diffusion
import Training

/// The agreed results of a generator update.
struct GeneratorUpdate {
    var loss: Double
    var guarded: Int
    var stop: Bool
    var norm: Float
    /// Global means over the batch of |z_K|^2/d, |a_K|^2/d and |sigma e|^2/d.
    var zSquare = 0.0, aSquare = 0.0, stepSquare = 0.0
}

/// EM Distillation (docs/algorithm.md): a one-step generator g(z) = D_theta(sigma_g z; sigma_g)
/// trained by EM against a frozen teacher D_phi, with a student D_psi tracking the generator's
/// score. Each step: the E-step (`LangevinChains`) on this rank's shard of latents, the M-step
/// (`MStep`), then the generator update and the student's updates (`StudentUpdate`), their
/// gradients crossing ranks by the configured `GradientExchange`.
public final class Distiller: Trainable {
    public let config: DistillConfig
    public let collectives: Collectives
    public let teacher: Denoiser
    public let network: ConditionalNetwork
    public let networkConfig: NetworkConfig
    public let edm: EDMConfig
    public let generatorParameters: Parameters
    public let studentParameters: Parameters
    /// The generator's Adam and EMA, replicated or sharded over the ranks.
    public let generatorOptimizer: DataParallelAdam
    /// The student's Adam, replicated or sharded over the ranks.
    public let studentOptimizer: DataParallelAdam
    /// Adam over this rank's block of the generator (all of it unless sharded).
    public var generatorAdam: Adam { generatorOptimizer.adam }
    /// Adam over this rank's block of the student (all of it unless sharded).
    public var studentAdam: Adam { studentOptimizer.adam }
    /// The EMA of this rank's block of the generator (all of it unless sharded).
    public var generatorEMA: EMA { generatorOptimizer.ema! }
    public let faults: FaultPlan
    /// The noise levels in the teacher's data units (`config.noiseLevels(sigmaData:)`).
    public let noise: NoiseLevels
    public internal(set) var step = 0
    /// Settings a resume may change beyond `DistillConfig.resumableKeys`, because the user said
    /// so (`--allow-changed`).
    public var allowedChanges: Set<String> = []
    /// Diagnostics: put a timed barrier before each blocking all-reduce, so that `times.imbalance`
    /// holds the wait for the slowest rank and `times.allreduce` the reduction itself. Costs one
    /// barrier per reduction; leaves the arithmetic unchanged. For benchmarks, off in training.
    public var separateImbalance = false
    /// Asked before each Langevin step: true ends the step there, before anything is updated,
    /// so the state is still the step's starting state and a checkpoint of it resumes exactly.
    /// A job of one rank stops so on a stop signal (a step of a huge batch can take minutes);
    /// ranks of a larger job cannot leave a step alone and stop at its end, as agreed.
    var abortStep: () -> Bool = { Preemption.requested }

    let shard: Shard
    let generator: Generator
    let student: NetworkDenoiser
    let chains: LangevinChains
    let mStep: MStep
    let studentUpdate: StudentUpdate
    let exchange: GradientExchange
    let timer = PhaseTimer()
    let agreed = StepAgreement()
    var last = (generator: GeneratorUpdate(loss: 0, guarded: 0, stop: false, norm: 0), studentLoss: 0.0)
    /// This shard's sums for the step's diagnostics, summed over ranks in the generator update's
    /// agreement: guarded (chain, step) pairs, |z_K|^2/d, |a_K|^2/d, |sigma e|^2/d.
    var diagnostics = SIMD4<Double>()
    /// Sharded optimiser only: the whole EMA generator as of the last checkpoint rank 0 built.
    var lastWholeEMA: [Float]?

    /// - Parameters: teacher: the frozen D_phi; networkConfig: the architecture of generator and
    ///   student (stored in checkpoints); initial: parameters that initialise both.
    public init(config: DistillConfig, collectives: Collectives, teacher: Denoiser, networkConfig: NetworkConfig,
                edm: EDMConfig, initial: Parameters, faults: FaultPlan = .none) throws {
        try config.validate()
        let network = try networkConfig.build()
        guard teacher.dimension == network.inputSize else {
            throw ConfigError("teacher dimension \(teacher.dimension) differs from the network's \(network.inputSize)")
        }
        guard initial.count == network.layout.count else {
            throw ConfigError("initial parameters (\(initial.count)) do not fit the network (\(network.layout.count))")
        }
        let rows = Shard(collectives, globalBatch: config.batch).capacity
        // Activations of three networks and the chain buffers, plus two parameter sets with their
        // gradients, Adam moments, the EMA and the initial weights.
        let perRank = networkConfig.activationFloatsPerSample.flatMap { act in
            ResourceLimits.product([rows, 25 * network.inputSize + 3 * act]) }
        try ResourceLimits.checkMemory(floats: perRank.flatMap { a in ResourceLimits.product([network.layout.count, 11]).map { a + $0 } },
                                       what: "distillation of \(network.layout.count)-parameter networks with a global batch of \(config.batch)")
        self.config = config
        self.collectives = collectives
        self.teacher = teacher
        self.network = network
        self.networkConfig = networkConfig
        self.edm = edm
        self.faults = faults
        noise = config.noiseLevels(sigmaData: edm.sigmaData)
        guard noise.lo.isFinite, noise.hi.isFinite, noise.initial.isFinite, noise.zStep.isFinite, noise.lo > 0 else {
            throw ConfigError("the noise levels \(noise) are not finite positive numbers for sigma_data \(edm.sigmaData)")
        }
        // Generator and student gradients lie back to back, so the fused mode moves both in one
        // all-reduce.
        let sets = Parameters.sharingGradients([network.layout, network.layout])
        generatorParameters = sets[0]
        generatorParameters.copyValues(from: initial)
        studentParameters = sets[1]
        studentParameters.copyValues(from: initial)
        generatorOptimizer = DataParallelAdam(count: initial.count, collectives: collectives, sharded: config.optimizerSharding,
                                              emaDecay: config.emaDecay, initial: generatorParameters.values) { n in
            Adam(count: n, learningRate: config.generatorLR, beta1: config.generatorBeta1, beta2: config.generatorBeta2)
        }
        studentOptimizer = DataParallelAdam(count: initial.count, collectives: collectives, sharded: config.optimizerSharding,
                                            emaDecay: nil, initial: studentParameters.values) { n in
            Adam(count: n, learningRate: config.studentLR, beta1: config.studentBeta1, beta2: config.studentBeta2)
        }
        shard = Shard(collectives, globalBatch: config.batch)
        let n = shard.capacity, d = network.inputSize
        generator = Generator(network: network, edm: edm, parameters: generatorParameters, sigmaInit: noise.initial, capacity: n)
        student = NetworkDenoiser(network: network, edm: edm, parameters: studentParameters, maxBatch: n)
        if network.classes > 0 {
            guard let guided = teacher as? GuidedDenoiser<NetworkDenoiser>, guided.base.network.classes == network.classes else {
                throw ConfigError("a class-conditional generator (\(network.classes) classes) needs a guided teacher with the same classes")
            }
        }
        chains = LangevinChains(shard: shard, dimension: d, classes: network.classes)
        mStep = MStep(dimension: d, capacity: n)
        studentUpdate = StudentUpdate(shard: shard, student: student, edm: edm, globalBatch: config.batch, classes: network.classes,
                                      sigmaRange: config.studentNoise == .distillationRange ? (noise.lo, noise.hi) : nil)
        exchange = config.allreduce.schedule(bucketFloats: config.bucketFloats)
    }

    /// Number of samples this rank owns in each global batch.
    public var localBatch: Int { shard.count }
    public var samplesPerStep: Int { config.batch }
    /// Seconds per phase on this rank since the last reset.
    public var times: StepTimes {
        get { timer.times }
        set { timer.times = newValue }
    }

    /// E-step on this step's fresh chains: returns the number of guarded (chain, step) pairs,
    /// or nil when `abortStep` ended it (one rank only).
    func eStep() -> Int? {
        chains.initialise(seed: UInt64(config.seed), step: step, sigmaLo: noise.lo, sigmaHi: noise.hi, zStep: noise.zStep, zStepMax: noise.zStepMax)
        // The E-step and the M-step evaluate generator and student at the chains' labels.
        generator.denoiser.labels = chains.labelPointer
        student.labels = chains.labelPointer
        let single = collectives.size == 1
        return chains.run(K: config.effectiveK, gammaEps: config.gammaEps, moveZ: config.movesZ, seed: UInt64(config.seed),
                          step: step, generator: generator, teacher: teacher, student: student, timer: timer,
                          abort: { single && self.abortStep() })
    }

    /// One EM step: E-step and M-step for the generator, then the student's updates.
    public func trainStep() throws -> Bool {
        let t0 = WallClock.now(), before = timer.times.total
        // Ended by a stop signal before any update: stop, the step not taken.
        guard let guarded = eStep() else { return true }
        let stats = chains.statistics(cancelNoise: config.effectiveNoiseCancellation)
        diagnostics = SIMD4(Double(guarded), stats.zSquare, stats.aSquare, stats.stepSquare)
        let local = mStep.gradient(chains, config: config, sigmaHi: noise.hi, generator: generator, teacher: teacher, timer: timer)
        try faults.inject(rank: collectives.rank, step: step, grads: generatorParameters.grads)
        let (gen, studentLoss) = try exchange.exchange(self, generatorLoss: local)
        last = (gen, studentLoss)
        step += 1
        timer.times.steps += 1
        timer.times.other += (WallClock.now() - t0) - (timer.times.total - before)
        return gen.stop || agreed.stopRequested
    }

    /// Losses and gradient norm, and diagnostics of the chains (global means over the batch):
    /// `z_rms` sqrt(|z_K|^2/d), about 1 while the z-chains stay in the prior; `a_rms`
    /// sqrt(|a_K|^2/d), the drift part of eps; `step_rms` sqrt(|sigma e|^2/d) over sigma_data,
    /// the M-step's displacement of g relative to the data scale; `guarded_frac` the share of
    /// (chain, Langevin step) pairs whose drift was non-finite.
    public func metrics() -> [(String, Double)] {
        let g = last.generator, B = Double(config.batch)
        return [("g_loss", g.loss), ("s_loss", last.studentLoss), ("g_grad", Double(g.norm)),
                ("z_rms", (g.zSquare / B).squareRoot()), ("a_rms", (g.aSquare / B).squareRoot()),
                ("step_rms", (g.stepSquare / B).squareRoot() / Double(edm.sigmaData)),
                ("guarded_frac", Double(g.guarded) / (B * Double(max(config.effectiveK, 1))))]
    }

    // MARK: Phases the gradient exchanges call

    func studentDraw(_ j: Int) { timer.timed(\.studentTraining) { studentUpdate.draw(j, seed: UInt64(config.seed), step: step) } }
    func studentSamples() { timer.timed(\.studentTraining) { studentUpdate.samples(generator) } }

    func studentGradient() -> Double {
        var loss = 0.0
        timer.timed(\.studentTraining) { loss = studentUpdate.gradient() }
        return loss
    }

    /// One whole student update with a blocking all-reduce.
    func studentStep(_ j: Int) throws -> Double {
        studentDraw(j)
        studentSamples()
        let local = studentGradient()
        try reduce(studentOptimizer, studentParameters.grads)
        return try updateStudent(localLoss: local)
    }

    /// After the generator's gradient has been all-reduced: agree, then clip, Adam and EMA.
    func updateGenerator(localLoss: Double) throws -> GeneratorUpdate {
        let finite = generatorOptimizer.reducedGradientsFinite(generatorParameters.grads)
        try agreed.reach(collectives, localLoss: finite ? localLoss : .nan, extra: diagnostics)
        let sums = agreed.extraSum
        var result = GeneratorUpdate(loss: agreed.lossSum, guarded: Int(sums[0]), stop: agreed.stopRequested, norm: 0,
                                     zSquare: sums[1], aSquare: sums[2], stepSquare: sums[3])
        try agreed.throwIfNonFinite(step: step)
        generatorOptimizer.adam.learningRate = config.generatorLR(atUpdate: step)
        result.norm = try optimize(generatorOptimizer, generatorParameters, wantNorm: true)
        // Every rank holds the same parameters, so each reaches the same verdict alone.
        guard allFinite(generatorParameters.values, count: generatorParameters.count) else {
            throw RunStop.nonFiniteParameters(step: step)
        }
        timer.timed(\.optimizer) {
            generatorOptimizer.updateEMA(values: generatorParameters.values, decay: config.emaDecay(atUpdate: step + 1))
        }
        return result
    }

    /// After the student's gradient has been all-reduced: agree, clip, Adam. Returns the loss.
    func updateStudent(localLoss: Double) throws -> Double {
        let finite = studentOptimizer.reducedGradientsFinite(studentParameters.grads)
        try agreed.reach(collectives, localLoss: finite ? localLoss : .nan)
        try agreed.throwIfNonFinite(step: step)
        // The student's norm is not reported: computed only to clip.
        try optimize(studentOptimizer, studentParameters, wantNorm: false)
        guard allFinite(studentParameters.values, count: studentParameters.count) else {
            throw RunStop.nonFiniteParameters(step: step)
        }
        return agreed.lossSum
    }

    /// Blocking sum all-reduce of a gradient buffer, timed (after a timed barrier when
    /// `separateImbalance` is set).
    func reduce(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        if separateImbalance { try timer.timed(\.imbalance) { try collectives.barrier() } }
        try timer.timed(\.allreduce) { try collectives.allreduceSum(buffer, count: count) }
    }

    /// A network's gradient summed over ranks by its optimiser (all-reduce, or reduce-scatter
    /// when sharded), timed like `reduce`.
    func reduce(_ optimizer: DataParallelAdam, _ grads: UnsafeMutablePointer<Float>) throws {
        if separateImbalance { try timer.timed(\.imbalance) { try collectives.barrier() } }
        try timer.timed(\.allreduce) { try optimizer.reduceGradients(grads) }
    }

    /// Clip, Adam (and, sharded, the parameters' all-gather, timed as all-reduce). Returns the
    /// global gradient norm when `wantNorm` or clipping is on.
    @discardableResult
    func optimize(_ optimizer: DataParallelAdam, _ p: Parameters, wantNorm: Bool) throws -> Float {
        let t0 = WallClock.now()
        let norm = try optimizer.apply(values: p.values, grads: p.grads, maxNorm: config.gradClip, wantNorm: wantNorm)
        let spent = WallClock.now() - t0, communication = optimizer.lastCommunicationSeconds
        timer.times.optimizer += spent - communication
        timer.times.allreduce += communication
        return norm
    }

    /// Wait for the in-flight all-reduce (timed as all-reduce).
    func waitPending() throws { try timer.timed(\.allreduce) { try collectives.finishPending() } }

    /// One-step samples g(z) with the EMA generator (or the live one), z keyed by
    /// (seed, global index) under the evaluation purpose. With a sharded optimiser the EMA is
    /// whole only on rank 0 and as of its last checkpoint (a run's final one, when it ends).
    public func sample(count: Int, seed: UInt64, first: Int = 0, useEMA: Bool = true) -> [Float] {
        let p = Parameters(layout: network.layout)
        if !useEMA {
            p.copyValues(from: generatorParameters)
        } else if generatorOptimizer.sharded {
            guard let whole = lastWholeEMA else { preconditionFailure("sharded EMA: sample on rank 0 after a checkpoint") }
            whole.withUnsafeBufferPointer { p.values.update(from: $0.baseAddress!, count: p.count) }
        } else {
            generatorEMA.copy(into: p)
        }
        return OneStepGenerator(network: network, edm: edm, parameters: p, sigmaInit: noise.initial)
            .sample(count: count, seed: seed, first: first)
    }

    public func stateChecksum() -> UInt64 { generatorParameters.checksum() ^ studentParameters.checksum() ^ UInt64(step) }
}
