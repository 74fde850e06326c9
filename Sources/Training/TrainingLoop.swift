import Foundation

/// The one training loop: resume (agreed by every rank), steps, progress, periodic and
/// preemption checkpoints, the time limit, and the final model. Teacher training,
/// distillation and classifier training all run through it.
public final class TrainingLoop {
    public let collectives: Collectives
    public let directory: CheckpointDirectory
    public let schedule: TrainingSchedule
    public let progress: TrainingProgress

    public init(collectives: Collectives, directory: CheckpointDirectory, schedule: TrainingSchedule,
                progress: TrainingProgress) {
        self.collectives = collectives
        self.directory = directory
        self.schedule = schedule
        self.progress = progress
        progress.timeLimit = schedule.timeLimit
    }

    /// Take the output folder before anything is written there (rank 0: lock it, then refuse
    /// or clear an earlier run as `mode` says); every rank learns the outcome, so they fail
    /// together or go on together. `clearing` names extra files or folders of a run.
    public static func claim(_ directory: CheckpointDirectory, collectives: Collectives, mode: StartMode,
                             clearing extra: [String] = []) throws {
        var failure = ""
        let rootPath = try collectives.broadcast(directory.path, root: 0)
        if try collectives.any(rootPath != directory.path) {
            let paths = try collectives.allgather(directory.path)
            throw AgreedError("the ranks were given different output folders (\(paths.joined(separator: ", "))): every rank must be given the same --out")
        }
        if collectives.isRoot {
            do {
                try directory.acquire()
                if directory.holdsRun {
                    switch mode {
                    case .fresh:
                        throw ConfigError("'\(directory.path)' holds an earlier run (checkpoints or metrics.jsonl): "
                                          + "pass --resume to continue it, or --overwrite to replace it")
                    case .overwrite: directory.clear(alsoRemoving: extra)
                    case .resume: break
                    }
                }
            } catch { failure = "\(error)" }
        }
        failure = try collectives.broadcast(failure, root: 0)
        if !failure.isEmpty { throw AgreedError(failure) }
    }

    /// `claim` the folder, then resume `trainable` when `mode` is `.resume`.
    public func prepare(_ trainable: Trainable, mode: StartMode, clearing extra: [String] = []) throws {
        try Self.claim(directory, collectives: collectives, mode: mode, clearing: extra)
        if mode == .resume { try resume(trainable) }
    }

    /// Before a costly set-up: rank 0 runs `check` on the checkpoint `resume` would pick (if
    /// any), and every rank learns the outcome, so a resume that `check` refuses fails on all
    /// ranks before anything is built.
    public func precheckResume(_ check: (Checkpoint) throws -> Void) throws {
        var failure = ""
        if collectives.isRoot, let (c, _) = directory.newestReadable(log: { _ in }) {
            do { try check(c) } catch { failure = "\(error)" }
        }
        failure = try collectives.broadcast(failure, root: 0)
        if !failure.isEmpty { throw AgreedError(failure) }
    }

    /// Rank 0 picks the newest readable checkpoint and names it to every rank; each rank reads
    /// it (a node-local --out shows here) and the ranks compare their states before any step.
    public func resume(_ trainable: Trainable) throws {
        var chosen = ""
        if collectives.isRoot, let (_, step) = directory.newestReadable(log: progress.log) {
            chosen = directory.file(step: step)
        }
        chosen = try collectives.broadcast(chosen, root: 0)
        guard !chosen.isEmpty else { return }
        var problem = ""
        do { try trainable.restore(try Checkpoint.read(chosen)) } catch { problem = "\(error)" }
        let failed = try collectives.allgather(problem.isEmpty ? 0 : 1)
        if let bad = failed.firstIndex(of: 1) {
            let why = try collectives.broadcast(problem, root: bad)
            // A refusal rank 0 met (settings, a corrupt file) is the run's, not a rank's.
            throw AgreedError(bad == 0 ? "cannot resume from \(chosen): \(why)"
                              : "cannot resume from \(chosen) on rank \(bad) of \(collectives.size): \(why) (every rank must see the same --out; is it on a node-local disk?)")
        }
        let sums = try collectives.allgather(Int64(bitPattern: trainable.stateChecksum()))
        guard Set(sums).count == 1 else {
            throw AgreedError("ranks resumed different states from \(chosen) (checksums \(sums.map { String(UInt64(bitPattern: $0), radix: 16) })): every rank must see the same --out")
        }
        progress.startStep = trainable.step
        progress.log("resumed from \(chosen) at step \(trainable.step)")
    }

    /// Train to `schedule.steps`, then write `trainable.checkpoint()` to `finalName` in the
    /// folder (or to `finalPath`); returns its path. Throws `RunStop.preempted` after
    /// checkpointing on a signal.
    @discardableResult
    public func run(_ trainable: Trainable, finalName: String = "", finalPath: String? = nil) throws -> String {
        while trainable.step < schedule.steps {
            let before = trainable.step
            let stop = try trainable.trainStep()
            let step = trainable.step
            // A trainable may stop within a step, before updating anything (`step` unchanged).
            if step > before && progress.due(step) {
                progress.report(step: step, samplesPerStep: trainable.samplesPerStep, metrics: trainable.metrics())
            }
            if stop {
                try save(trainable)
                // A marker for batch scripts: the run checkpointed on a signal, whatever exit
                // status the launcher reports (mpirun's own can differ from 75).
                try rootWrites { try directory.markPreempted(step: step) }
                try collectives.barrier()
                throw RunStop.preempted(step: step, checkpoint: directory.file(step: step))
            }
            if step % schedule.checkpointEvery == 0 || step == schedule.steps { try save(trainable) }
            if schedule.timeLimit > 0, try collectives.any(progress.elapsed > schedule.timeLimit) {
                progress.log("time limit of \(schedule.timeLimit) s reached after \(step) steps")
                try save(trainable)
                break
            }
        }
        let final = finalPath ?? directory.join(finalName)
        try trainable.prepareCheckpoint()
        try rootWrites { try trainable.checkpoint().write(to: final) }
        return final
    }

    func save(_ trainable: Trainable) throws {
        try trainable.prepareCheckpoint()
        try rootWrites { try directory.save(trainable.checkpoint(), step: trainable.step) }
    }

    /// Rank 0 runs `body`; every rank learns whether it failed, so none waits alone.
    func rootWrites(_ body: () throws -> Void) throws {
        var failure = ""
        if collectives.isRoot { do { try body() } catch { failure = "\(error)" } }
        if try collectives.any(!failure.isEmpty) {
            throw AgreedError(try collectives.broadcast(failure, root: 0))
        }
    }
}
