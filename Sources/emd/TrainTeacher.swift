import ArgumentParser
import Foundation
import Diffusion
import Training

/// `emd train-teacher`: EDM training of a denoiser, data-parallel across ranks.
struct TrainTeacher: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-teacher",
        abstract: "Train an EDM teacher (data-parallel across MPI ranks).")

    @OptionGroup var opts: RunOptions
    @OptionGroup var shared: LoopFlags

    @Option(help: "mixture | fashion-mnist | idx:IMAGES[,LABELS] | csv:PATH")
    var data: String?
    @Option(help: "Network: mlp | resmlp | unet | edm-unet.") var network: NetworkKind?
    @Option(help: "Hidden width (MLP).") var hidden: Int?
    @Option(help: "Depth (MLP hidden layers or residual blocks + 1).") var depth: Int?
    @Option(help: "U-Net base channels.") var channels: Int?
    @Option(help: "edm-unet: channel multiplier per resolution (comma-separated, e.g. 1,2,2).") var channelMultipliers: String?
    @Option(help: "edm-unet: residual blocks per resolution.") var blocksPerLevel: Int?
    @Option(help: "edm-unet: resolutions with self-attention (comma-separated, 0 = full resolution; none for no attention).")
    var attentionLevels: String?
    @Option(help: "Training steps.") var steps: Int?
    @Option(help: "Global batch size.") var batch: Int?
    @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate: Float?
    @Option(help: "EMA decay.") var emaDecay: Float?
    @Flag(help: "Class-conditional teacher (U-Net): one label per class of the data (labels from IDX label files or Fashion-MNIST), with label dropout for classifier-free guidance.")
    var conditional = false
    @Option(help: "Probability that a training label is replaced by \"no class\" (class-conditional teachers).")
    var labelDropout: Float?
    @Option(help: "edm-unet: dropout rate in the residual blocks during training (0: none; sampling never drops).")
    var dropout: Float?
    @Flag(help: "Shard Adam's moments and the EMA over the ranks (ZeRO stage 1: reduce-scatter, update 1/R, all-gather). Same results and checkpoints.")
    var optimizerSharding = false

    static let overlay: [ConfigOverlay<TrainTeacher, TeacherConfig>] = [
        .init(\.data, \.data), .init(\.network, \.network.kind), .init(\.hidden, \.network.hidden),
        .init(\.depth, \.network.depth), .init(\.channels, \.network.channels), .init(\.steps, \.steps),
        .init(\.batch, \.batch), .init(\.learningRate, \.learningRate), .init(\.emaDecay, \.emaDecay),
        .init(\.shared.seed, \.seed), .init(\.shared.logEvery, \.logEvery), .init(\.shared.checkpointEvery, \.checkpointEvery),
        .init(\.optimizerSharding, \.optimizerSharding, to: true), .init(\.labelDropout, \.labelDropout),
        .init(\.blocksPerLevel, \.network.blocksPerLevel), .init(\.dropout, \.network.dropout),
    ]

    /// A comma-separated list of small integers ("none": empty).
    static func integers(_ s: String, _ flag: String) throws -> [Int] {
        if s == "none" { return [] }
        let items = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !items.isEmpty, items.allSatisfy({ $0 != nil && (0...64).contains($0!) }) else {
            throw ValidationError("\(flag): comma-separated integers in 0...64, got \(s)")
        }
        return items.map { $0! }
    }

    func resolvedConfig() throws -> TeacherConfig {
        var c = TeacherConfig()
        if let path = opts.config { c = try StrictConfig.load(c, path: path) }
        let dataSpec = data ?? c.data
        if dataSpec != "mixture" && opts.config == nil && network == nil {
            // Images: a wider MLP by default (flags below still override it).
            c.network = NetworkConfig(kind: .mlp, dimension: 784, hidden: 1024, depth: 3, embedding: 64)
            c.batch = 128
            c.learningRate = 2e-4
        }
        if let m = try parseMixture(shared.mixture) { c.mixture = m }
        ConfigOverlay.apply(Self.overlay, from: self, to: &c)
        if let m = channelMultipliers { c.network.channelMultipliers = try Self.integers(m, "--channel-multipliers") }
        if let a = attentionLevels { c.network.attentionLevels = try Self.integers(a, "--attention-levels") }
        try c.validate()
        return c
    }

    func run() throws {
        Preemption.install()
        let env = CommandEnvironment()
        let (config, mode) = try opts.resolve(resolvedConfig)
        let collectives = startRun(blasThreads: opts.blasThreads)
        try runCommand(collectives) {
            let data: TrainingData = config.data == "mixture" ? MixtureData(config.mixture) : try ArrayDataset.load(config.data)
            var cfg = config
            if let images = data as? ArrayDataset, let side = images.imageSide { cfg.network.imageSide = side }
            if conditional {
                guard data.classes > 0 else { throw ValidationError("--conditional needs labelled data (idx:IMAGES,LABELS or fashion-mnist)") }
                guard cfg.network.kind == .unet || cfg.network.kind == .edmUnet else {
                    throw ValidationError("--conditional needs --network unet or edm-unet")
                }
                cfg.network.classes = data.classes
            }
            let trainer = try TeacherTrainer(config: cfg, collectives: collectives, data: data, faults: env.faults)
            let loop = try opts.openLoop(collectives, mode: mode, keep: cfg.keepCheckpoints,
                                         schedule: TrainingSchedule(steps: cfg.steps, checkpointEvery: cfg.checkpointEvery),
                                         logEvery: cfg.logEvery, clearing: ["teacher.safetensors"], style: env.progressStyle)
            let progress = loop.progress
            trainer.allowedChanges = opts.allowedChanges
            if mode == .resume { try loop.resume(trainer) }
            progress.log("teacher: \(cfg.data), network \(cfg.network.kind.rawValue)\(cfg.network.classes > 0 ? ", \(cfg.network.classes) classes" : "") (\(trainer.parameters.count) parameters), sigma_data \(trainer.edm.sigmaData), \(collectives.size) rank(s), global batch \(cfg.batch)")
            let final = try loop.run(trainer, finalName: "teacher.safetensors")
            try reportChecksums(collectives, [("params", trainer.parameters.checksum())], out: opts.out, log: progress)
            progress.log("teacher written to \(final) (\(String(format: "%.1f", progress.elapsed)) s)")
        }
    }
}
