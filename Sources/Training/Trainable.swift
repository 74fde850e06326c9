/// Anything `TrainingLoop` can drive: a synchronous data-parallel step over every rank, and its
/// whole state as a checkpoint.
public protocol Trainable: AnyObject {
    /// Completed steps.
    var step: Int { get }
    /// Global samples per step (for the samples/s figure).
    var samplesPerStep: Int { get }
    /// One synchronous step on every rank. Returns whether any rank was asked to stop
    /// (preemption), as agreed by all ranks in the step's collectives. A job of one rank may
    /// also stop within the step, before anything is updated: it returns true with `step`
    /// unchanged, and a checkpoint then holds the step's starting state.
    func trainStep() throws -> Bool
    /// The last step's metrics (global values), built only when the loop logs.
    func metrics() -> [(String, Double)]
    /// Called on every rank before rank 0 calls `checkpoint()`: gather whatever state is
    /// spread over the ranks (sharded optimiser state). A collective.
    func prepareCheckpoint() throws
    /// The whole training state (parameters, optimiser state, step, resolved config).
    func checkpoint() -> Checkpoint
    /// Continue from a checkpoint written by `checkpoint()`; refuses one from another run.
    func restore(_ checkpoint: Checkpoint) throws
    /// A checksum of the state that must be identical on every rank (parameters and step).
    func stateChecksum() -> UInt64
}

extension Trainable {
    /// Nothing is spread over the ranks.
    public func prepareCheckpoint() throws {}
}

/// When a `TrainingLoop` stops and checkpoints.
public struct TrainingSchedule: Sendable {
    public var steps: Int
    public var checkpointEvery: Int
    /// Seconds after which every rank stops at the same step (0: none).
    public var timeLimit: Double

    public init(steps: Int, checkpointEvery: Int, timeLimit: Double = 0) {
        self.steps = steps
        self.checkpointEvery = checkpointEvery
        self.timeLimit = timeLimit
    }
}

/// How a run meets an output folder that already holds a run.
public enum StartMode: Sendable, Equatable {
    /// Refuse a folder that holds a run (the default: a fresh run never mixes with an old one).
    case fresh
    /// Continue the run in the folder (its newest readable checkpoint); start fresh if empty.
    case resume
    /// Delete the earlier run's checkpoints and metrics, then start fresh.
    case overwrite
}
