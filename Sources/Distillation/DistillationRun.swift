import Foundation
import SwiftMPI
import NN
import Diffusion

/// Builds the pieces of a distillation run from its config (teacher, network, initial weights)
/// and drives the training loop with checkpoints, progress and preemption.
public enum DistillationRun {
    /// The teacher, the network definition shared by generator and student, and their initial weights.
    public struct Setup {
        public let teacher: Denoiser
        public let network: ConditionalNetwork
        public let networkConfig: NetworkConfig
        public let edm: EDMConfig
        public let initial: Parameters
    }

    /// Resolve the teacher and initial weights. For the exact mixture without an init
    /// checkpoint, first fits `config.network` to the mixture by EDM training (all ranks).
    public static func setup(_ config: DistillConfig, comm: Communicator, initOut: String?, log: TrainingProgress) throws -> Setup {
        let localBatch = max(1, (comm.rank + 1) * config.batch / comm.size - comm.rank * config.batch / comm.size)
        var initModel: TeacherModel? = nil
        if !config.initCheckpoint.isEmpty { initModel = try TeacherModel.load(config.initCheckpoint) }
        if config.teacher == "mixture" {
            let exact = ExactMixtureDenoiser(config.mixture)
            if initModel == nil {
                var tc = TeacherConfig()
                tc.data = "mixture"
                tc.mixture = config.mixture
                tc.network = config.network
                tc.network.dimension = config.mixture.dimension
                tc.steps = config.initSteps
                tc.seed = config.seed
                tc.logEvery = max(1, config.initSteps / 5)
                tc.checkpointEvery = config.initSteps
                let trainer = try TeacherTrainer(config: tc, comm: comm, data: MixtureData(config.mixture))
                let out = initOut ?? NSTemporaryDirectory() + "emd-init-\(getpid())"
                log.log("fitting the initial network to the mixture (\(tc.steps) steps)")
                let sub = try TrainingProgress(isRoot: comm.isRoot, totalSteps: tc.steps, startStep: 0, every: tc.logEvery, metricsPath: nil)
                let path = try trainer.run(out: out, resume: initOut != nil, log: sub)
                initModel = try TeacherModel.load(path)
            }
            let m = initModel!
            guard m.network.inputSize == config.mixture.dimension else {
                throw ConfigError("init network dimension \(m.network.inputSize) differs from the mixture's \(config.mixture.dimension)")
            }
            return Setup(teacher: exact, network: m.network, networkConfig: m.networkConfig, edm: m.edm, initial: m.parameters)
        }
        let teacherModel = try TeacherModel.load(config.teacher)
        let m = initModel ?? teacherModel
        guard m.networkConfig == teacherModel.networkConfig else {
            throw ConfigError("init checkpoint network differs from the teacher's")
        }
        return Setup(teacher: teacherModel.denoiser(maxBatch: localBatch), network: teacherModel.network,
                     networkConfig: teacherModel.networkConfig, edm: teacherModel.edm, initial: m.parameters)
    }

    /// Make the distiller for a config.
    public static func makeDistiller(_ config: DistillConfig, comm: Communicator, initOut: String?, log: TrainingProgress) throws -> Distiller {
        let s = try setup(config, comm: comm, initOut: initOut, log: log)
        let d = try Distiller(config: config, comm: comm, teacher: s.teacher, network: s.network, edm: s.edm, initial: s.initial)
        d.networkConfigJSON = StrictConfig.json(s.networkConfig)
        return d
    }

    /// Train to `config.steps`, checkpointing into `out`; returns the final checkpoint's path.
    @discardableResult
    public static func train(_ d: Distiller, out: String, resume: Bool, log: TrainingProgress) throws -> String {
        let c = d.config
        let dir = CheckpointDirectory(path: out, keep: c.keepCheckpoints)
        if resume, let latest = dir.latest() {
            try d.restore(try Checkpoint.read(latest))
            log.log("resumed from \(latest) at step \(d.step)")
        }
        log.log("distill: method \(c.method), K \(c.effectiveK), gamma_eps \(c.gammaEps), gamma_z \(c.effectiveGammaZ), noise cancellation \(c.effectiveNoiseCancellation ? "on" : "off"), sigma [\(c.sigmaLo), \(c.sigmaHi)], \(d.comm.size) rank(s), global batch \(c.batch)")
        while d.step < c.steps {
            let r = try d.trainStep()
            if log.due(d.step) {
                var metrics: [(String, Double)] = [("g_loss", r.generatorLoss), ("s_loss", r.studentLoss),
                                                   ("g_grad", Double(r.generatorGradNorm))]
                if r.guardedSamples > 0 { metrics.append(("guarded", Double(r.guardedSamples))) }
                log.report(step: d.step, samplesPerStep: c.batch, metrics: metrics)
            }
            if r.stopRequested {
                let path = dir.file(step: d.step)
                if d.comm.isRoot { try dir.save(d.checkpoint(), step: d.step) }
                try d.comm.barrier()
                throw RunStop.preempted(step: d.step, checkpoint: path)
            }
            if d.step % c.checkpointEvery == 0 || d.step == c.steps {
                if d.comm.isRoot { try dir.save(d.checkpoint(), step: d.step) }
            }
            if c.timeLimit > 0 {
                let over = try d.comm.allreduce(Int32(log.elapsed > c.timeLimit ? 1 : 0), op: .max)
                if over > 0 {
                    log.log("time limit of \(c.timeLimit) s reached after \(d.step) steps")
                    if d.comm.isRoot { try dir.save(d.checkpoint(), step: d.step) }
                    break
                }
            }
        }
        if d.times.steps > 0 {
            let t = d.times, n = Double(t.steps)
            // The imbalance wait is only measured by benchmarks (Distiller.separateImbalance).
            let parts = t.dictionary.filter { $0.key != "imbalance" || d.separateImbalance }
                .sorted { $0.key < $1.key }
                .map { String(format: "%@ %.2f", $0.key, 1000 * $0.value / n) }
            log.log(String(format: "time per step (rank 0): %.2f ms = ", 1000 * t.total / n) + parts.joined(separator: ", ") + " ms")
        }
        let final = (out as NSString).appendingPathComponent("generator.safetensors")
        if d.comm.isRoot { try d.checkpoint().write(to: final) }
        try d.comm.barrier()
        return final
    }
}
