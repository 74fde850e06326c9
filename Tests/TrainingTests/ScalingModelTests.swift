import XCTest
import Training

/// The alpha-beta model against its closed forms.
final class ScalingModelTests: XCTestCase {
    let link = LinkModel(alpha: 2e-6, bandwidth: 1e9)

    func testCollectiveCosts() {
        XCTAssertEqual(CollectiveCost.ringAllreduce(bytes: 1e6, ranks: 1, link: link), 0)
        // Two ranks: two messages, each rank sends and receives half the buffer twice.
        XCTAssertEqual(CollectiveCost.ringAllreduce(bytes: 1e6, ranks: 2, link: link), 2 * 2e-6 + 1e6 / 1e9, accuracy: 1e-15)
        // Eight ranks: ring 14 messages, halving-doubling 6; the same bandwidth term 2 * 7/8.
        XCTAssertEqual(CollectiveCost.ringAllreduce(bytes: 8e6, ranks: 8, link: link), 14 * 2e-6 + 1.75 * 8e-3, accuracy: 1e-12)
        XCTAssertEqual(CollectiveCost.halvingDoublingAllreduce(bytes: 8e6, ranks: 8, link: link), 6 * 2e-6 + 1.75 * 8e-3,
                       accuracy: 1e-12)
        // One node: the hierarchical all-reduce is the intra-node reduce-scatter and all-gather.
        let intra = LinkModel(alpha: 1e-6, bandwidth: 4e9)
        XCTAssertEqual(CollectiveCost.hierarchicalAllreduce(bytes: 4e6, nodes: 1, perNode: 4, intra: intra, inter: link),
                       2 * (3 * 1e-6 + 0.75 * 4e6 / 4e9), accuracy: 1e-12)
    }

    func testFitRecoversTheLink() {
        let truth = LinkModel(alpha: 3e-6, bandwidth: 5e9)
        let samples = [4.0, 65536, 1_048_576, 16_777_216].map { (bytes: $0, seconds: CollectiveCost.ringAllreduce(bytes: $0, ranks: 2, link: truth)) }
        let fit = LinkModel.fitRingAllreduce(ranks: 2, samples: samples)
        XCTAssertEqual(fit.bandwidth, truth.bandwidth, accuracy: 1e-6 * truth.bandwidth)
        // The smallest message carries 4 bytes of bandwidth time besides its latency.
        XCTAssertEqual(fit.alpha, truth.alpha, accuracy: 1e-9)
    }

    /// Weak scaling keeps compute per rank; communication grows with the node count and slowly
    /// (log2 latency, bounded bandwidth term); sharding divides the optimiser; full overlap
    /// hides communication; strong scaling divides compute.
    func testWeakAndStrongScaling() {
        let w = ScalingWorkload(name: "w", parameters: 1_000_000, reductionsPerStep: 2, computePerSample: 1e-3, optimizerSeconds: 0.01)
        let m = ScalingModel(workload: w, ranksPerNode: 2, intra: LinkModel(alpha: 1e-6, bandwidth: 5e9), inter: link)
        let one = m.weak(nodes: 1, perRank: 100), many = m.weak(nodes: 64, perRank: 100)
        XCTAssertEqual(one.compute, 0.1, accuracy: 1e-12)
        XCTAssertEqual(many.compute, one.compute)
        XCTAssertGreaterThan(many.communication, one.communication)
        XCTAssertLessThan(many.efficiency, one.efficiency)
        XCTAssertEqual(one.efficiency, 1, accuracy: 1e-12)
        XCTAssertEqual(many.efficiency, one.step / many.step, accuracy: 1e-12)
        var s = m
        s.sharded = true
        XCTAssertEqual(s.weak(nodes: 64, perRank: 100).optimizer, 0.01 / 128, accuracy: 1e-15)
        s.overlap = 1
        XCTAssertEqual(s.weak(nodes: 64, perRank: 100).communication, 0)
        let st = m.strong(nodes: 8, globalBatch: 1600)
        XCTAssertEqual(st.compute, 100 * 1e-3, accuracy: 1e-12)
        XCTAssertEqual(m.strong(nodes: 1, globalBatch: 1600).efficiency, 1, accuracy: 1e-12)
        XCTAssertLessThan(st.efficiency, 1)
    }
}
