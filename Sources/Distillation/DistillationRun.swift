import Foundation
import NN
import Diffusion
import Training

/// Resolves what a distillation config names: the teacher, the network shared by generator and
/// student, and their initial weights.
public enum DistillationRun {
    /// The teacher, the network definition shared by generator and student, and their initial weights.
    public struct Setup {
        public let teacher: Denoiser
        public let networkConfig: NetworkConfig
        public let edm: EDMConfig
        public let initial: Parameters
    }

    /// Resolve the teacher and initial weights. For the exact mixture without an init
    /// checkpoint, first fits `config.network` to the mixture by EDM training on every rank, in
    /// `initOut` (resumed if it holds that fit; refused if it holds another).
    public static func setup(_ config: DistillConfig, collectives: Collectives, initOut: String?, log: TrainingProgress,
                             style: ProgressStyle = .lines) throws -> Setup {
        var initModel: TeacherModel? = nil
        if !config.initCheckpoint.isEmpty { initModel = try TeacherModel.load(config.initCheckpoint) }
        if config.teacher == "mixture" {
            let exact = ExactMixtureDenoiser(config.mixture)
            let m = try initModel ?? fitInitialNetwork(config, collectives: collectives, out: initOut, log: log, style: style)
            guard m.network.inputSize == config.mixture.dimension else {
                throw ConfigError("init network dimension \(m.network.inputSize) differs from the mixture's \(config.mixture.dimension)")
            }
            return Setup(teacher: exact, networkConfig: m.networkConfig, edm: m.edm, initial: m.parameters)
        }
        let teacherModel = try TeacherModel.load(config.teacher)
        let m = initModel ?? teacherModel
        guard m.networkConfig == teacherModel.networkConfig else {
            throw ConfigError("init checkpoint network differs from the teacher's")
        }
        let denoiser = teacherModel.denoiser(maxBatch: Shard(collectives, globalBatch: config.batch).capacity)
        // A class-conditional teacher scores the chains of each class with classifier-free
        // guidance at the configured scale (1: the conditional teacher).
        let teacher: Denoiser = teacherModel.network.classes > 0 ? GuidedDenoiser(denoiser, guidance: config.guidance) : denoiser
        return Setup(teacher: teacher,
                     networkConfig: teacherModel.networkConfig, edm: teacherModel.edm, initial: m.parameters)
    }

    /// EDM training of `config.network` on the mixture for `config.initSteps` steps.
    static func fitInitialNetwork(_ config: DistillConfig, collectives: Collectives, out: String?, log: TrainingProgress,
                                  style: ProgressStyle) throws -> TeacherModel {
        var tc = TeacherConfig()
        tc.data = "mixture"
        tc.mixture = config.mixture
        tc.network = config.network
        tc.network.dimension = config.mixture.dimension
        tc.steps = config.initSteps
        tc.seed = config.seed
        tc.logEvery = max(1, config.initSteps / 5)
        tc.checkpointEvery = config.initSteps
        let trainer = try TeacherTrainer(config: tc, collectives: collectives, data: MixtureData(config.mixture))
        let dir = out ?? NSTemporaryDirectory() + "emd-init-\(getpid())"
        log.log("fitting the initial network to the mixture (\(tc.steps) steps)")
        let loop = TrainingLoop(collectives: collectives, directory: CheckpointDirectory(path: dir, keep: tc.keepCheckpoints),
                                schedule: TrainingSchedule(steps: tc.steps, checkpointEvery: tc.checkpointEvery),
                                progress: TrainingProgress(isRoot: collectives.isRoot, totalSteps: tc.steps, every: tc.logEvery, style: style))
        try loop.prepare(trainer, mode: .resume)
        return try TeacherModel.load(try loop.run(trainer, finalName: "teacher.safetensors"))
    }

    /// Make the distiller for a config.
    public static func makeDistiller(_ config: DistillConfig, collectives: Collectives, initOut: String?,
                                     log: TrainingProgress, faults: FaultPlan = .none,
                                     style: ProgressStyle = .lines) throws -> Distiller {
        let s = try setup(config, collectives: collectives, initOut: initOut, log: log, style: style)
        return try Distiller(config: config, collectives: collectives, teacher: s.teacher, networkConfig: s.networkConfig,
                             edm: s.edm, initial: s.initial, faults: faults)
    }

    /// The step-time breakdown of a finished run (rank 0's phases, milliseconds per step).
    public static func timeSummary(_ d: Distiller) -> String? {
        let t = d.times, n = Double(t.steps)
        guard t.steps > 0 else { return nil }
        // The imbalance wait is only measured by benchmarks (Distiller.separateImbalance).
        let parts = t.dictionary.filter { $0.key != "imbalance" || d.separateImbalance }
            .sorted { $0.key < $1.key }
            .map { String(format: "%@ %.2f", $0.key, 1000 * $0.value / n) }
        return String(format: "time per step (rank 0): %.2f ms = ", 1000 * t.total / n) + parts.joined(separator: ", ") + " ms"
    }
}
