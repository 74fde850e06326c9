import Training

/// Seconds spent in each part of the distillation steps since the last reset (this rank).
public struct StepTimes: Sendable {
    public var teacherForward = 0.0
    public var studentForward = 0.0
    public var studentTraining = 0.0
    public var generatorForward = 0.0
    public var generatorVJP = 0.0
    public var generatorBackward = 0.0
    public var allreduce = 0.0
    /// Waiting at a barrier for the slowest rank before each blocking all-reduce; only measured
    /// when `Distiller.separateImbalance` is set (otherwise that wait is part of `allreduce`).
    public var imbalance = 0.0
    public var optimizer = 0.0
    public var other = 0.0
    public var steps = 0

    public init() {}

    public var total: Double {
        teacherForward + studentForward + studentTraining + generatorForward + generatorVJP + generatorBackward
            + allreduce + imbalance + optimizer + other
    }

    public var dictionary: [String: Double] {
        ["teacher_forward": teacherForward, "student_forward": studentForward, "student_training": studentTraining,
         "generator_forward": generatorForward, "generator_vjp": generatorVJP, "generator_backward": generatorBackward,
         "allreduce": allreduce, "imbalance": imbalance, "optimizer": optimizer, "other": other]
    }
}

/// The clock the phases of a distillation step share: each times its parts into one `StepTimes`.
final class PhaseTimer {
    var times = StepTimes()

    @inline(__always) func timed(_ slot: WritableKeyPath<StepTimes, Double>, _ body: () throws -> Void) rethrows {
        let t0 = WallClock.now()
        try body()
        times[keyPath: slot] += WallClock.now() - t0
    }
}
