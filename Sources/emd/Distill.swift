import ArgumentParser
import Foundation
import SwiftMPI
import Diffusion
import Distillation
import Evaluation
import FileFormats

/// `emd distill`: EM Distillation of a teacher into a one-step generator.
struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Distill a teacher into a one-step generator with EM Distillation (or the K = 1 baseline).")

    @OptionGroup var opts: RunOptions

    @Option(help: "Teacher: 'mixture' (exact Gaussian-mixture denoiser) or a teacher checkpoint.")
    var teacher: String?
    @Option(help: "Mixture for --teacher mixture: ring (default), random:D, or a JSON file.")
    var mixture: String?
    @Option(name: .customLong("init"), help: "Checkpoint that initialises generator and student.")
    var initCheckpoint: String?
    @Option(help: "Steps fitting the initial network to an exact mixture (when no --init).")
    var initSteps: Int?
    @Option(help: "emd | baseline (the Diff-Instruct/DMD gradient: K = 1, no z step).")
    var method: String?
    @Option(help: "Generator steps.") var steps: Int?
    @Option(help: "Global batch of latents.") var batch: Int?
    @Option(name: .customLong("langevin-steps"), help: "K, Langevin steps per E-step.") var langevinSteps: Int?
    @Option(help: "Langevin step size for eps.") var gammaEps: Float?
    @Option(help: "Langevin step size for z (scaled by sigma^2; 0 switches the z step off).") var gammaZ: Float?
    @Flag(help: "Switch noise cancellation off.") var noNoiseCancellation = false
    @Flag(help: "DMD2-style normalisation of the target step.") var normalizeTarget = false
    @Option(help: "Lower end of the distillation noise range.") var sigmaLo: Float?
    @Option(help: "Upper end of the distillation noise range.") var sigmaHi: Float?
    @Option(help: "Generator noise level sigma_init.") var sigmaInit: Float?
    @Option(help: "Student updates per generator update.") var studentSteps: Int?
    @Option(help: "Generator learning rate.") var generatorLr: Float?
    @Option(help: "Student learning rate.") var studentLr: Float?
    @Option(help: "Gradient-norm clip (0: off).") var gradClip: Float?
    @Option(help: "Generator EMA decay once ramped up.") var emaDecay: Float?
    @Option(help: "EMA ramp-up: half-life capped at this fraction of the updates so far (0: plain EMA from initialisation).")
    var emaRampup: Float?
    @Option(help: "Gradient all-reduce: separate, overlap (non-blocking, same arithmetic) or fused (generator and first student update in one buffer).")
    var allreduce: String?
    @Option(help: "Seed.") var seed: Int?
    @Option(help: "Stop after this many seconds of training (equal-wall-time comparisons).") var timeLimit: Double?
    @Option(help: "Log every N steps.") var logEvery: Int?
    @Option(help: "Checkpoint every N steps.") var checkpointEvery: Int?
    @Option(help: "Samples for the final evaluation on a mixture teacher (0: none).") var evalSamples = 10000

    func resolvedConfig() throws -> DistillConfig {
        var c = DistillConfig()
        if let path = opts.config { c = try StrictConfig.load(c, path: path) }
        if let teacher { c.teacher = teacher }
        if let m = try parseMixture(mixture) {
            c.mixture = m
            c.network.dimension = m.dimension
        }
        if let initCheckpoint { c.initCheckpoint = initCheckpoint }
        if let initSteps { c.initSteps = initSteps }
        if let method { c.method = method }
        if let steps { c.steps = steps }
        if let batch { c.batch = batch }
        if let langevinSteps { c.langevinSteps = langevinSteps }
        if let gammaEps { c.gammaEps = gammaEps }
        if let gammaZ { c.gammaZ = gammaZ }
        if noNoiseCancellation { c.noiseCancellation = false }
        if normalizeTarget { c.normalizeTarget = true }
        if let sigmaLo { c.sigmaLo = sigmaLo }
        if let sigmaHi { c.sigmaHi = sigmaHi }
        if let sigmaInit { c.sigmaInit = sigmaInit }
        if let studentSteps { c.studentSteps = studentSteps }
        if let generatorLr { c.generatorLR = generatorLr }
        if let studentLr { c.studentLR = studentLr }
        if let gradClip { c.gradClip = gradClip }
        if let emaDecay { c.emaDecay = emaDecay }
        if let emaRampup { c.emaRampup = emaRampup }
        if let allreduce { c.allreduce = allreduce }
        if let seed { c.seed = seed }
        if let timeLimit { c.timeLimit = timeLimit }
        if let logEvery { c.logEvery = logEvery }
        if let checkpointEvery { c.checkpointEvery = checkpointEvery }
        try c.validate()
        return c
    }

    func run() throws {
        let config: DistillConfig
        do { config = try resolvedConfig() } catch let e as ConfigError { throw ValidationError(e.description) }
        let comm = startRun(blasThreads: opts.blasThreads)
        try runCommand(comm) {
            ensureDir(opts.out)
            let progress = try TrainingProgress(isRoot: comm.isRoot, totalSteps: config.steps, startStep: 0,
                                                every: config.logEvery,
                                                metricsPath: comm.isRoot ? opts.out + "/metrics.jsonl" : nil)
            progress.timeLimit = config.timeLimit
            let d = try DistillationRun.makeDistiller(config, comm: comm, initOut: opts.out + "/init", log: progress)
            let final = try DistillationRun.train(d, out: opts.out, resume: opts.resume, log: progress)
            try reportChecksums(comm, [("generator", d.generatorParameters.checksum()),
                                       ("student", d.studentParameters.checksum())], out: opts.out, log: progress)
            progress.log("generator written to \(final) (\(String(format: "%.1f", progress.elapsed)) s)")
            if config.teacher == "mixture" && evalSamples > 0 && comm.isRoot {
                let s = d.sample(count: evalSamples, seed: UInt64(config.seed) &+ 1000)
                let r = MixtureMetrics.evaluate(s, mixture: config.mixture)
                try writeJSON(r.dictionary, to: opts.out + "/eval.json")
                try AtomicFile.write(try ScatterPlot.png(samples: s, mixture: config.mixture), to: opts.out + "/scatter.png")
                progress.log(String(format: "eval (EMA generator, %d samples): on_mode %.3f  modes_covered %d/%d  weight_tv %.3f",
                                    r.count, r.onMode, r.modesCovered, config.mixture.modes, r.weightTV))
            }
        }
    }
}
