import Foundation
import Diffusion
import Training
import NN

/// A distillation state as a checkpoint: generator, its EMA, student and both Adam states,
/// with the resolved config, network and EDM settings in the metadata.
extension Distiller {
    /// The parameters by checkpoint group.
    var parameterGroups: [(String, Parameters)] { [("generator", generatorParameters), ("student", studentParameters)] }
    /// The optimisers' states by checkpoint group (one list for save and restore).
    var optimizerGroups: [(String, DataParallelAdam, DataParallelAdam.State)] {
        [("generator_ema", generatorOptimizer, .ema), ("generator_adam_m", generatorOptimizer, .adamM),
         ("generator_adam_v", generatorOptimizer, .adamV), ("student_adam_m", studentOptimizer, .adamM),
         ("student_adam_v", studentOptimizer, .adamV)]
    }

    /// Gather sharded optimiser state whole (a collective; nothing when replicated).
    public func prepareCheckpoint() throws {
        try generatorOptimizer.stageWholeState()
        try studentOptimizer.stageWholeState()
    }

    public func checkpoint() -> Checkpoint {
        var c = Checkpoint()
        for (group, p) in parameterGroups { c.add(group: group, layout: network.layout, values: p.values) }
        for (group, optimizer, state) in optimizerGroups {
            c.add(group: group, layout: network.layout, values: optimizer.whole(state)!)
        }
        if generatorOptimizer.sharded, let ema = generatorOptimizer.whole(.ema) {
            // Kept for `sample` on rank 0 after the run's final checkpoint.
            lastWholeEMA = Array(UnsafeBufferPointer(start: ema, count: generatorParameters.count))
        }
        generatorOptimizer.releaseStaged()
        studentOptimizer.releaseStaged()
        c.metadata = [
            "format": "emd-checkpoint-1", "kind": CheckpointKind.generator.rawValue, "step": "\(step)",
            "generator_adam_step": "\(generatorAdam.step)", "student_adam_step": "\(studentAdam.step)",
            "seed": "\(config.seed)", "config": StrictConfig.json(config), "edm": StrictConfig.json(edm),
            "sigma_init": "\(noise.initial)", "ranks_at_save": "\(collectives.size)",
            "network": StrictConfig.json(networkConfig),
        ]
        return c
    }

    /// Refuse `c` unless it is a distillation checkpoint whose stored config `config` may
    /// continue (the schedule, logging and `allowedChanges` aside). Needs no distiller, so a
    /// resume with other settings can be refused before the teacher is loaded or fitted.
    public static func checkResumable(_ c: Checkpoint, config: DistillConfig, allowedChanges: Set<String>) throws {
        try CheckpointKind.generator.check(c)
        try ConfigCompatibility.check(saved: try c.meta("config"), current: StrictConfig.json(config),
                                      mutable: DistillConfig.resumableKeys.union(allowedChanges), source: c.path,
                                      defaults: StrictConfig.json(DistillConfig()))
    }

    /// Continue from a checkpoint of the same run (any rank count): its stored config must
    /// match this one but for the schedule and logging, and its EDM settings must be the same.
    public func restore(_ c: Checkpoint) throws {
        try Self.checkResumable(c, config: config, allowedChanges: allowedChanges)
        try ConfigCompatibility.check(saved: try c.meta("edm"), current: StrictConfig.json(edm), mutable: [],
                                      source: c.path + " (teacher's EDM settings)")
        for (group, p) in parameterGroups { try c.load(group: group, layout: network.layout, into: p.values) }
        var whole = [Float](repeating: 0, count: generatorParameters.count)
        for (group, optimizer, state) in optimizerGroups {
            try whole.withUnsafeMutableBufferPointer { buffer in
                try c.load(group: group, layout: network.layout, into: buffer.baseAddress!)
                optimizer.restore(state, from: buffer.baseAddress!)
            }
        }
        step = try c.metaInt("step")
        generatorAdam.step = try c.metaInt("generator_adam_step")
        studentAdam.step = try c.metaInt("student_adam_step")
    }
}
