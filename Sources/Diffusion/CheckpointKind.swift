import Training

/// What a checkpoint holds, stored as its "kind" metadata.
public enum CheckpointKind: String, Codable, Sendable, CaseIterable {
    /// A denoiser's training state (`emd train-teacher`).
    case teacher
    /// A distillation state: generator, its EMA, student, optimisers (`emd distill`).
    case generator
    /// The feature classifier of the image metrics (`emd train-classifier`).
    case classifier

    /// The kind of a checkpoint, or nil when its metadata names none that is known.
    public init?(of checkpoint: Checkpoint) {
        guard let raw = checkpoint.metadata["kind"], let kind = CheckpointKind(rawValue: raw) else { return nil }
        self = kind
    }

    /// Throw unless `checkpoint` is of this kind, naming the kind it is.
    public func check(_ checkpoint: Checkpoint) throws {
        guard CheckpointKind(of: checkpoint) != self else { return }
        let found = checkpoint.metadata["kind"].map { "a \($0) checkpoint" } ?? "a file without a checkpoint kind"
        throw ConfigError("\(checkpoint.path): this is \(found), not a \(rawValue) checkpoint")
    }
}
