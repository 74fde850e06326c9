import XCTest
import Training

final class ShardTests: XCTestCase {
    /// The shards of every rank count tile the global batch, in rank order, with sizes that
    /// differ by at most one.
    func testShardsTileTheBatch() {
        for batch in [0, 1, 7, 48, 257] {
            for ranks in 1...9 {
                let shards = (0..<ranks).map { Shard(rank: $0, ranks: ranks, globalBatch: batch) }
                XCTAssertEqual(shards.first?.lower, 0)
                XCTAssertEqual(shards.last?.upper, batch)
                for r in 1..<ranks { XCTAssertEqual(shards[r].lower, shards[r - 1].upper) }
                let sizes = shards.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "batch \(batch), ranks \(ranks)")
                XCTAssertTrue(shards.allSatisfy { $0.capacity >= 1 })
            }
        }
    }
}
