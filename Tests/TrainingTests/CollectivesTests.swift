import XCTest
import Training

/// The in-process collectives behave as MPI's do (in rank order).
final class LocalCollectivesTests: XCTestCase {
    func testAllreduceBroadcastGatherOnThreeRanks() throws {
        let results = try LocalCollectives.run(ranks: 3) { c -> ([Float], [Double], String, [Int64], Int, [Float]) in
            var f: [Float] = [Float(c.rank), 1, Float(c.rank * c.rank)]
            try f.withUnsafeMutableBufferPointer { try c.allreduceSum($0.baseAddress!, count: 3) }
            var d: [Double] = [0.5 * Double(c.rank)]
            try d.withUnsafeMutableBufferPointer { try c.allreduceSum($0.baseAddress!, count: 1) }
            let s = try c.broadcast(c.rank == 1 ? "from one" : "", root: 1)
            let g = try c.allgather(Int64(10 + c.rank))
            let m = try c.allreduceMax(c.rank == 2 ? 7 : -1)
            // A non-blocking reduction completes on finishPending.
            var p: [Float] = [1, 2]
            try p.withUnsafeMutableBufferPointer { b in
                try c.startAllreduceSum(b.baseAddress!, count: 2)
                try c.progressPending()
                try c.finishPending()
            }
            return (f, d, s, g, m, p)
        }
        for r in results {
            XCTAssertEqual(r.0, [3, 3, 5])
            XCTAssertEqual(r.1, [1.5])
            XCTAssertEqual(r.2, "from one")
            XCTAssertEqual(r.3, [10, 11, 12])
            XCTAssertEqual(r.4, 7)
            XCTAssertEqual(r.5, [3, 6])
        }
    }

    /// An error on any rank is rethrown by `run`, after every rank has returned.
    func testRunRethrowsARanksError() {
        XCTAssertThrowsError(try LocalCollectives.run(ranks: 2) { c in
            if c.rank == 1 { throw ConfigError("rank one failed") }
        }) { XCTAssertEqual("\($0)", "rank one failed") }
    }
}

final class LocalCollectivesStringTests: XCTestCase {
    /// Strings of different lengths gather in rank order.
    func testAllgatherStringsOfDifferentLengths() throws {
        let all = try LocalCollectives.run(ranks: 3) { c in try c.allgather(String(repeating: "x", count: c.rank * 5) + "/\(c.rank)") }
        for r in all { XCTAssertEqual(r, ["/0", "xxxxx/1", "xxxxxxxxxx/2"]) }
    }
}
