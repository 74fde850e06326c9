import Foundation
import Diffusion
import Training

/// A distillation state as a checkpoint: generator, its EMA, student and both Adam states,
/// with the resolved config, network and EDM settings in the metadata.
extension Distiller {
    /// The tensors of the training state, by checkpoint group (one list for save and restore).
    var stateGroups: [(String, UnsafeMutablePointer<Float>)] {
        [("generator", generatorParameters.values), ("generator_ema", generatorEMA.values.data),
         ("generator_adam_m", generatorAdam.m.data), ("generator_adam_v", generatorAdam.v.data),
         ("student", studentParameters.values), ("student_adam_m", studentAdam.m.data), ("student_adam_v", studentAdam.v.data)]
    }

    public func checkpoint() -> Checkpoint {
        var c = Checkpoint()
        for (group, values) in stateGroups { c.add(group: group, layout: network.layout, values: values) }
        c.metadata = [
            "format": "emd-checkpoint-1", "kind": CheckpointKind.generator.rawValue, "step": "\(step)",
            "generator_adam_step": "\(generatorAdam.step)", "student_adam_step": "\(studentAdam.step)",
            "seed": "\(config.seed)", "config": StrictConfig.json(config), "edm": StrictConfig.json(edm),
            "sigma_init": "\(noise.initial)", "ranks_at_save": "\(collectives.size)",
            "network": StrictConfig.json(networkConfig),
        ]
        return c
    }

    /// Continue from a checkpoint of the same run (any rank count): its stored config must
    /// match this one but for the schedule and logging, and its EDM settings must be the same.
    public func restore(_ c: Checkpoint) throws {
        try CheckpointKind.generator.check(c)
        try ConfigCompatibility.check(saved: try c.meta("config"), current: StrictConfig.json(config),
                                      mutable: DistillConfig.resumableKeys.union(allowedChanges), source: c.path)
        try ConfigCompatibility.check(saved: try c.meta("edm"), current: StrictConfig.json(edm), mutable: [],
                                      source: c.path + " (teacher's EDM settings)")
        for (group, values) in stateGroups { try c.load(group: group, layout: network.layout, into: values) }
        step = try c.metaInt("step")
        generatorAdam.step = try c.metaInt("generator_adam_step")
        studentAdam.step = try c.metaInt("student_adam_step")
    }
}
