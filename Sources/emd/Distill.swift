import ArgumentParser
import Foundation
import Diffusion
import Distillation
import Evaluation
import FileFormats
import Training

/// `emd distill`: EM Distillation of a teacher into a one-step generator.
struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Distill a teacher into a one-step generator with EM Distillation (or the K = 1 baseline).")

    @OptionGroup var opts: RunOptions
    @OptionGroup var shared: LoopFlags

    @Option(help: "Teacher: 'mixture' (exact Gaussian-mixture denoiser) or a teacher checkpoint.")
    var teacher: String?
    @Option(name: .customLong("init"), help: "Checkpoint that initialises generator and student.")
    var initCheckpoint: String?
    @Option(help: "Steps fitting the initial network to an exact mixture (when no --init).")
    var initSteps: Int?
    @Option(help: "emd | baseline (the Diff-Instruct/DMD gradient: K = 1, no z step).")
    var method: DistillMethod?
    @Option(help: "Generator steps.") var steps: Int?
    @Option(help: "Global batch of latents.") var batch: Int?
    @Option(name: .customLong("langevin-steps"), help: "K, Langevin steps per E-step.") var langevinSteps: Int?
    @Option(help: "Langevin step size for eps.") var gammaEps: Float?
    @Option(help: "Langevin step size for z: h_z = gamma_z (sigma/sigma_data)^2 (0 switches the z step off).") var gammaZ: Float?
    @Option(help: "Largest z step: h_z = min(gamma_z (sigma/sigma_data)^2, this) (default 0.1; binds only above sqrt(0.1 / gamma_z) sigma_data).")
    var zStepMax: Float?
    @Option(help: "Units of --sigma-lo, --sigma-hi, --sigma-init and --gamma-z: sigmaData (multiples of the teacher's sigma_data, the default) or absolute.")
    var noiseUnits: NoiseUnits?
    @Flag(help: "Switch noise cancellation off.") var noNoiseCancellation = false
    @Flag(help: "DMD2-style normalisation of the target step.") var normalizeTarget = false
    @Option(help: "Lower end of the distillation noise range (in --noise-units).") var sigmaLo: Float?
    @Option(help: "Upper end of the distillation noise range (in --noise-units).") var sigmaHi: Float?
    @Option(help: "Generator noise level sigma_init (in --noise-units).") var sigmaInit: Float?
    @Option(help: "Student updates per generator update.") var studentSteps: Int?
    @Option(help: "Noise levels of the student's score matching: logNormal (EDM's, the default) or distillationRange (log-uniform on [--sigma-lo, --sigma-hi]).")
    var studentNoise: StudentNoise?
    @Option(help: "Generator learning rate.") var generatorLr: Float?
    @Option(help: "Anneal the generator's learning rate to 0 along a cosine over this many updates (0: constant, the default); --steps may not exceed it.")
    var generatorLrDecaySteps: Int?
    @Option(help: "Student learning rate.") var studentLr: Float?
    @Option(help: "Gradient-norm clip (0: off).") var gradClip: Float?
    @Option(help: "Generator EMA decay once ramped up.") var emaDecay: Float?
    @Option(help: "EMA ramp-up: half-life capped at this fraction of the updates so far (0: plain EMA from initialisation).")
    var emaRampup: Float?
    @Option(help: "Gradient all-reduce: separate, overlap (non-blocking, same arithmetic), fused (generator and first student update in one buffer) or bucketed (student gradients reduced in buckets during the backward pass, same arithmetic).")
    var allreduce: GradientExchangeMode?
    @Option(help: "Bucket size in floats for --allreduce bucketed.") var bucketFloats: Int?
    @Option(help: "Class-conditional teacher: classifier-free guidance scale w of its score in the E- and M-step (1: conditional).")
    var guidance: Float?
    @Flag(help: "Shard both networks' Adam moments and the generator EMA over the ranks (ZeRO stage 1). Same results and checkpoints; needs --allreduce separate.")
    var optimizerSharding = false
    @Option(help: "Stop after this many seconds of training (equal-wall-time comparisons).") var timeLimit: Double?
    @Option(help: "Samples for the final evaluation on a mixture teacher (0: none): the generator's metrics in eval.json, the exact teacher's (Heun, 35 NFE) in eval-teacher.json.")
    var evalSamples = 10000

    static let overlay: [ConfigOverlay<Distill, DistillConfig>] = [
        .init(\.teacher, \.teacher), .init(\.initCheckpoint, \.initCheckpoint), .init(\.initSteps, \.initSteps),
        .init(\.method, \.method), .init(\.steps, \.steps), .init(\.batch, \.batch),
        .init(\.langevinSteps, \.langevinSteps), .init(\.gammaEps, \.gammaEps), .init(\.gammaZ, \.gammaZ), .init(\.zStepMax, \.zStepMax),
        .init(\.noNoiseCancellation, \.noiseCancellation, to: false), .init(\.normalizeTarget, \.normalizeTarget, to: true),
        .init(\.noiseUnits, \.noiseUnits), .init(\.sigmaLo, \.sigmaLo), .init(\.sigmaHi, \.sigmaHi), .init(\.sigmaInit, \.sigmaInit),
        .init(\.studentSteps, \.studentSteps), .init(\.studentNoise, \.studentNoise), .init(\.generatorLr, \.generatorLR),
        .init(\.generatorLrDecaySteps, \.generatorLRDecaySteps), .init(\.studentLr, \.studentLR),
        .init(\.gradClip, \.gradClip), .init(\.emaDecay, \.emaDecay), .init(\.emaRampup, \.emaRampup),
        .init(\.allreduce, \.allreduce), .init(\.optimizerSharding, \.optimizerSharding, to: true), .init(\.guidance, \.guidance), .init(\.bucketFloats, \.bucketFloats),
        .init(\.shared.seed, \.seed), .init(\.timeLimit, \.timeLimit),
        .init(\.shared.logEvery, \.logEvery), .init(\.shared.checkpointEvery, \.checkpointEvery),
    ]

    func resolvedConfig() throws -> DistillConfig {
        var c = DistillConfig()
        if let path = opts.config { c = try StrictConfig.load(c, path: path) }
        if let m = try parseMixture(shared.mixture) {
            c.mixture = m
            c.network.dimension = m.dimension
        }
        ConfigOverlay.apply(Self.overlay, from: self, to: &c)
        try c.validate()
        return c
    }

    func run() throws {
        Preemption.install()
        let env = CommandEnvironment()
        let (config, mode) = try opts.resolve(resolvedConfig)
        try InputLimits.require(evalSamples, "--eval-samples", in: 0...10_000_000)
        if config.teacher == "mixture" && evalSamples > 0 {
            // The generator's and the teacher's samples and the scatter plot's copy.
            try requireSampleMemory(count: evalSamples, dimension: config.mixture.dimension, copies: 3)
        }
        let collectives = startRun(blasThreads: opts.blasThreads)
        try runCommand(collectives) {
            let loop = try opts.openLoop(collectives, mode: mode, keep: config.keepCheckpoints,
                                         schedule: TrainingSchedule(steps: config.steps, checkpointEvery: config.checkpointEvery,
                                                                    timeLimit: config.timeLimit),
                                         logEvery: config.logEvery, clearing: ["init", "generator.safetensors", "eval.json", "scatter.png"],
                                         style: env.progressStyle)
            let progress = loop.progress
            if mode == .resume {
                // Refuse other settings before the teacher is loaded (or, for the mixture, fitted).
                try loop.precheckResume { try Distiller.checkResumable($0, config: config, allowedChanges: opts.allowedChanges) }
            }
            let d = try DistillationRun.makeDistiller(config, collectives: collectives, initOut: opts.out + "/init", log: progress,
                                                      faults: env.faults, style: env.progressStyle)
            d.allowedChanges = opts.allowedChanges
            if mode == .resume { try loop.resume(d) }
            let c = config
            let n = d.noise
            progress.log(String(format: "distill: method %@, K %d, gamma_eps %g, noise cancellation %@, sigma_data %.4g: sigma [%.4g, %.4g], sigma_init %.4g, h_z min(%.4g sigma^2, %.4g), student sigma' %@; %d rank(s), global batch %d; lr %g (generator%@), %g (student)",
                                c.method.rawValue, c.effectiveK, c.gammaEps, c.effectiveNoiseCancellation ? "on" : "off", d.edm.sigmaData,
                                n.lo, n.hi, n.initial, n.zStep, n.zStepMax,
                                c.studentNoise == .logNormal ? "log-normal" : "log-uniform on the range", collectives.size, c.batch,
                                c.generatorLR, c.generatorLRDecaySteps > 0 ? ", cosine to 0 over \(c.generatorLRDecaySteps) updates" : "",
                                c.studentLR))
            let final = try loop.run(d, finalName: "generator.safetensors")
            if let summary = DistillationRun.timeSummary(d) { progress.log(summary) }
            try reportChecksums(collectives, [("generator", d.generatorParameters.checksum()),
                                              ("student", d.studentParameters.checksum())], out: opts.out, log: progress)
            progress.log("generator written to \(final) (\(String(format: "%.1f", progress.elapsed)) s)")
            if config.teacher == "mixture" && evalSamples > 0 && collectives.isRoot {
                // The generator is final and written; `emd eval --checkpoint` recomputes the rest.
                let (s, exact) = try stoppableEvaluation("the final evaluation (generator written to \(final))", log: progress.log) { stop in
                    (try chunkedSamples(count: evalSamples, dimension: config.mixture.dimension, stop: stop) { first, n in
                        d.sample(count: n, seed: UInt64(config.seed) &+ 1000, first: first)
                     },
                     try MixtureEvaluation.teacherSamples(config.mixture, edm: d.edm, count: evalSamples,
                                                          seed: UInt64(config.seed) &+ 2000, stop: stop))
                }
                let result = MixtureEvaluation.row(s, mixture: config.mixture)
                let teacher = MixtureEvaluation.row(exact, mixture: config.mixture)
                try writeJSON(result, to: opts.out + "/eval.json")
                try writeJSON(teacher, to: opts.out + "/eval-teacher.json")
                try AtomicFile.write(try ScatterPlot.png(samples: s, mixture: config.mixture), to: opts.out + "/scatter.png")
                func line(_ r: [String: Any]) -> String {
                    String(format: "on_mode %.3f  modes_covered %d/%d  weight_tv %.3f  heaviest_share %.3f (weight %.3f)",
                           r["on_mode"] as? Double ?? .nan, r["modes_covered"] as? Int ?? 0, config.mixture.modes,
                           r["weight_tv"] as? Double ?? .nan, r["heaviest_share"] as? Double ?? .nan, r["heaviest_weight"] as? Double ?? .nan)
                }
                progress.log("eval (EMA generator, \(evalSamples) samples, one step): " + line(result))
                progress.log("     (exact teacher, Heun \(2 * MixtureEvaluation.teacherSteps - 1) NFE):  " + line(teacher))
            }
        }
    }
}
