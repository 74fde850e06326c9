import XCTest
import NN
import Training

/// The sharded optimiser (ZeRO stage 1) against the replicated one on simulated ranks.
final class DataParallelAdamTests: XCTestCase {
    /// Blocks cover the vector once, in rank order, on alignment boundaries.
    func testBlockLayoutCoversTheVectorOnAlignedBoundaries() {
        for (count, ranks) in [(0, 1), (5, 3), (3000, 2), (4097, 4), (1024 * 7 + 3, 3), (100, 8)] {
            let l = BlockLayout(count: count, ranks: ranks, alignment: 1024)
            XCTAssertEqual(l.offsets.first, 0)
            XCTAssertEqual(l.offsets.last, count)
            for r in 0..<ranks {
                XCTAssertLessThanOrEqual(l.offsets[r], l.offsets[r + 1])
                if r > 0 && l.offsets[r] < count { XCTAssertEqual(l.offsets[r] % 1024, 0) }
                XCTAssertEqual(Int(l.counts32[r]), l.range(r).count)
                XCTAssertEqual(Int(l.offsets32[r]), l.offsets[r])
            }
        }
    }

    /// Reduce-scatter and the blocks' all-gather on three simulated ranks.
    func testReduceScatterAndAllgatherBlocks() throws {
        let layout = BlockLayout(count: 10, ranks: 3, alignment: 2)
        let results = try LocalCollectives.run(ranks: 3) { c -> ([Float], [Float], [Double]) in
            let send = (0..<10).map { Float($0 * (c.rank + 1)) }
            var block = [Float](repeating: -1, count: layout.range(c.rank).count)
            try send.withUnsafeBufferPointer { s in
                try block.withUnsafeMutableBufferPointer { try c.reduceScatterSum(s.baseAddress!, into: $0.baseAddress!, layout: layout) }
            }
            var whole = [Float](repeating: 0, count: 10), wd = [Double](repeating: 0, count: 10)
            for i in layout.range(c.rank) { whole[i] = Float(100 * c.rank + i); wd[i] = Double(i) / 2 }
            try whole.withUnsafeMutableBufferPointer { try c.allgatherBlocks($0.baseAddress!, layout: layout) }
            try wd.withUnsafeMutableBufferPointer { try c.allgatherBlocks($0.baseAddress!, layout: layout) }
            return (block, whole, wd)
        }
        var gathered = [Float](repeating: 0, count: 10)
        for r in 0..<3 { for i in layout.range(r) { gathered[i] = Float(100 * r + i) } }
        for (r, res) in results.enumerated() {
            XCTAssertEqual(res.0, layout.range(r).map { Float($0 * 6) }, "rank \(r)'s block of the sum")
            XCTAssertEqual(res.1, gathered)
            XCTAssertEqual(res.2, (0..<10).map { Double($0) / 2 })
        }
    }

    /// Clipping by the global norm, Adam and the EMA: the sharded optimiser gives the replicated
    /// one's parameters, norms and whole states bit for bit, on 2 and 3 ranks, over several
    /// steps with clipping active, for a length that leaves the last block short.
    func testShardedMatchesReplicatedBitForBit() throws {
        let count = 1024 * 5 + 77
        for ranks in [2, 3] {
            func train(sharded: Bool) throws -> [([Float], [Float], [Float], [Float], [Float])] {
                try LocalCollectives.run(ranks: ranks) { c in
                    var values = (0..<count).map { Float(sin(Double($0) * 0.37)) }
                    var grads = [Float](repeating: 0, count: count)
                    var norms: [Float] = []
                    let opt = values.withUnsafeBufferPointer { v in
                        DataParallelAdam(count: count, collectives: c, sharded: sharded, emaDecay: 0.9, initial: v.baseAddress!) {
                            Adam(count: $0, learningRate: 1e-2, beta1: 0.9, beta2: 0.99)
                        }
                    }
                    XCTAssertEqual(opt.sharded, sharded)
                    for step in 0..<4 {
                        // Rank-dependent local gradients, large enough that the clip acts.
                        for i in 0..<count { grads[i] = Float(cos(Double(i * (c.rank + 1) + step))) * 3 }
                        try values.withUnsafeMutableBufferPointer { v in
                            try grads.withUnsafeMutableBufferPointer { g in
                                try opt.reduceGradients(g.baseAddress!)
                                XCTAssertTrue(opt.reducedGradientsFinite(g.baseAddress!))
                                norms.append(try opt.apply(values: v.baseAddress!, grads: g.baseAddress!, maxNorm: 5, wantNorm: true))
                                opt.updateEMA(values: v.baseAddress!, decay: 0.9)
                            }
                        }
                    }
                    var states: [[Float]] = []
                    for s in DataParallelAdam.State.allCases {
                        var whole = [Float](repeating: 0, count: count)
                        try whole.withUnsafeMutableBufferPointer { try opt.gather(s, into: $0.baseAddress!) }
                        states.append(whole)
                    }
                    return (values, norms, states[0], states[1], states[2])
                }
            }
            let replicated = try train(sharded: false), sharded = try train(sharded: true)
            XCTAssertGreaterThan(replicated[0].1[0], 5, "the clip must act for the test to mean anything")
            for r in 0..<ranks {
                XCTAssertEqual(sharded[r].0, replicated[0].0, "\(ranks) ranks: parameters on rank \(r)")
                XCTAssertEqual(sharded[r].1, replicated[0].1, "\(ranks) ranks: norms")
                XCTAssertEqual(sharded[r].2, replicated[0].2, "\(ranks) ranks: Adam m")
                XCTAssertEqual(sharded[r].3, replicated[0].3, "\(ranks) ranks: Adam v")
                XCTAssertEqual(sharded[r].4, replicated[0].4, "\(ranks) ranks: EMA")
            }
        }
    }

    /// The chunked norm is the norm; chunk sums add up to it in order.
    func testChunkSquareSumsGiveTheNorm() {
        let n = 3000
        let g = (0..<n).map { Float($0 % 17) - 8 }
        var sums = [Double](repeating: 0, count: 3)
        g.withUnsafeBufferPointer { p in sums.withUnsafeMutableBufferPointer { gradientChunkSquareSums(p.baseAddress!, count: n, into: $0.baseAddress!) } }
        let exact = g.reduce(0.0) { $0 + Double($1) * Double($1) }
        XCTAssertEqual(sums.reduce(0, +), exact, accuracy: 1e-6 * exact)
        XCTAssertEqual(Double(g.withUnsafeBufferPointer { gradientNorm($0.baseAddress!, count: n) }), exact.squareRoot(), accuracy: 1e-3)
    }
}
