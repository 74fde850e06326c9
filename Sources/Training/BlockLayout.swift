/// A vector of `count` elements cut into one contiguous block per rank, in rank order, with
/// every boundary on a multiple of `alignment` (the last block takes the remainder): how a
/// sharded optimiser splits parameters, gradients and optimiser state. Counts and offsets are
/// kept in MPI's 32-bit form as well, so a collective over the blocks allocates nothing.
public struct BlockLayout: Sendable, Equatable {
    public let count: Int
    public let ranks: Int
    /// offsets[r] ..< offsets[r + 1] is rank r's block (ranks + 1 entries).
    public let offsets: [Int]
    public let counts32: [Int32]
    public let offsets32: [Int32]

    /// Blocks of whole `alignment`-element units, spread over the ranks by `Shard`'s formula.
    public init(count: Int, ranks: Int, alignment: Int) {
        precondition(count >= 0 && ranks >= 1 && alignment >= 1)
        precondition(count <= Int(Int32.max), "a block layout is limited to 2^31 - 1 elements (MPI counts)")
        self.count = count
        self.ranks = ranks
        let units = (count + alignment - 1) / alignment
        let o = (0...ranks).map { r in min(count, Shard(rank: r, ranks: ranks, globalBatch: units).lower * alignment) }
        offsets = o
        counts32 = (0..<ranks).map { Int32(o[$0 + 1] - o[$0]) }
        offsets32 = (0..<ranks).map { Int32(o[$0]) }
    }

    /// Rank `rank`'s block.
    public func range(_ rank: Int) -> Range<Int> { offsets[rank]..<offsets[rank + 1] }
}
