import Foundation
import XCTest

/// Runs `mpi-selftest` under mpirun and checks every rank's report.
final class CollectiveTests: XCTestCase {
    func runSelftest(_ scenario: String, ranks: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try MPIRun.tempDir(scenario)
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try ranks == 1
            ? MPIRun.runSingle("mpi-selftest", [scenario, dir.path], timeout: 120)
            : MPIRun.run(ranks: ranks, "mpi-selftest", [scenario, dir.path], timeout: 120)
        XCTAssertFalse(result.timedOut, "\(scenario) on \(ranks) ranks hung", file: file, line: line)
        XCTAssertEqual(result.status, 0, "\(scenario) on \(ranks) ranks failed:\n\(result.output)", file: file, line: line)
        for rank in 0..<ranks {
            let url = dir.appendingPathComponent("rank\(rank).json")
            guard let data = try? Data(contentsOf: url),
                  let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let checks = json["checks"] as? [[String: Any]] else {
                XCTFail("rank \(rank) wrote no report\n\(result.output)", file: file, line: line); continue
            }
            XCTAssertEqual(json["size"] as? Int, ranks, file: file, line: line)
            XCTAssertFalse(checks.isEmpty, file: file, line: line)
            for c in checks where c["ok"] as? Bool != true {
                XCTFail("rank \(rank)/\(ranks) \(c["name"] ?? "?"): \(c["detail"] ?? "")", file: file, line: line)
            }
        }
    }

    func testCollectivesSingleRankWithoutMpirun() throws { try runSelftest("collectives", ranks: 1) }
    func testCollectivesTwoRanks() throws { try runSelftest("collectives", ranks: 2) }
    func testCollectivesThreeRanksOversubscribed() throws { try runSelftest("collectives", ranks: 3) }
    func testDataParallelGradientTwoRanks() throws { try runSelftest("dp-gradient", ranks: 2) }
    func testDataParallelGradientThreeRanks() throws { try runSelftest("dp-gradient", ranks: 3) }
}
