import ArgumentParser
import Foundation
import SwiftMPI
import Diffusion

/// `emd train-teacher`: EDM training of a denoiser, data-parallel across ranks.
struct TrainTeacher: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-teacher",
        abstract: "Train an EDM teacher (data-parallel across MPI ranks).")

    @OptionGroup var opts: RunOptions

    @Option(help: "mixture | fashion-mnist | idx:IMAGES[,LABELS] | csv:PATH")
    var data: String?
    @Option(help: "Mixture for --data mixture: ring (default), random:D, or a JSON file.")
    var mixture: String?
    @Option(help: "Network: mlp | resmlp | unet.") var network: String?
    @Option(help: "Hidden width (MLP).") var hidden: Int?
    @Option(help: "Depth (MLP hidden layers or residual blocks + 1).") var depth: Int?
    @Option(help: "U-Net base channels.") var channels: Int?
    @Option(help: "Training steps.") var steps: Int?
    @Option(help: "Global batch size.") var batch: Int?
    @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate: Float?
    @Option(help: "EMA decay.") var emaDecay: Float?
    @Option(help: "Seed.") var seed: Int?
    @Option(help: "Log every N steps.") var logEvery: Int?
    @Option(help: "Checkpoint every N steps.") var checkpointEvery: Int?

    func resolvedConfig() throws -> TeacherConfig {
        var c = TeacherConfig()
        if let path = opts.config { c = try StrictConfig.load(c, path: path) }
        if let data { c.data = data }
        if let m = try parseMixture(mixture) { c.mixture = m }
        if c.data != "mixture" && opts.config == nil && network == nil {
            // Images: a wider MLP by default.
            c.network = NetworkConfig(kind: "mlp", dimension: 784, hidden: 1024, depth: 3, embedding: 64)
            c.batch = 128
            c.learningRate = 2e-4
        }
        if let network { c.network.kind = network }
        if let hidden { c.network.hidden = hidden }
        if let depth { c.network.depth = depth }
        if let channels { c.network.channels = channels }
        if let steps { c.steps = steps }
        if let batch { c.batch = batch }
        if let learningRate { c.learningRate = learningRate }
        if let emaDecay { c.emaDecay = emaDecay }
        if let seed { c.seed = seed }
        if let logEvery { c.logEvery = logEvery }
        if let checkpointEvery { c.checkpointEvery = checkpointEvery }
        try c.validate()
        return c
    }

    func run() throws {
        let config: TeacherConfig
        do { config = try resolvedConfig() } catch let e as ConfigError { throw ValidationError(e.description) }
        let comm = startRun(blasThreads: opts.blasThreads)
        try runCommand(comm) {
            let data: TrainingData = config.data == "mixture" ? MixtureData(config.mixture) : try ArrayDataset.load(config.data)
            var cfg = config
            if let images = data as? ArrayDataset, let side = images.imageSide { cfg.network.imageSide = side }
            let trainer = try TeacherTrainer(config: cfg, comm: comm, data: data)
            let progress = try TrainingProgress(isRoot: comm.isRoot, totalSteps: cfg.steps, startStep: 0, every: cfg.logEvery,
                                        metricsPath: comm.isRoot ? ensureDir(opts.out) + "/metrics.jsonl" : nil)
            let final = try trainer.run(out: opts.out, resume: opts.resume, log: progress)
            try reportChecksums(comm, [("params", trainer.parameters.checksum())], out: opts.out, log: progress)
            progress.log("teacher written to \(final) (\(String(format: "%.1f", progress.elapsed)) s)")
        }
    }
}

@discardableResult
func ensureDir(_ path: String) -> String {
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
