/// A rank's slice of a global batch: the global sample indices [lower, upper). Every sample's
/// random draws are keyed by its global index, so the union of the shards is the same batch
/// whatever the rank count.
public struct Shard: Sendable, Equatable {
    public let lower: Int
    public let upper: Int

    /// Rank `rank` of `ranks` owns [rank B / R, (rank + 1) B / R) of a global batch of B.
    public init(rank: Int, ranks: Int, globalBatch: Int) {
        lower = rank * globalBatch / ranks
        upper = (rank + 1) * globalBatch / ranks
    }

    public init(_ collectives: Collectives, globalBatch: Int) {
        self.init(rank: collectives.rank, ranks: collectives.size, globalBatch: globalBatch)
    }

    /// The number of samples this rank owns (0 when there are more ranks than samples).
    public var count: Int { upper - lower }
    /// Rows to allocate for this shard's buffers (at least one).
    public var capacity: Int { max(count, 1) }
}
