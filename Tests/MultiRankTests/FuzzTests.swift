import Foundation
import XCTest

/// A short run of the seeded mutation fuzzer over every input parser (the long campaigns are
/// in docs/reliability.md): no crash, no hang, every rejection names the input and the problem.
final class FuzzTests: XCTestCase {
    func testShortFuzzingRunOfEveryParser() throws {
        let out = try MPIRun.tempDir("fuzz").appendingPathComponent("summary.json")
        let r = try MPIRun.runSingle("emd-fuzz", ["all", "--iterations", "4000", "--seed", "7", "--out", out.path], timeout: 300)
        XCTAssertFalse(r.timedOut, r.output)
        XCTAssertEqual(r.status, 0, r.output)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [[String: Any]] ?? []
        XCTAssertEqual(summary.compactMap { $0["target"] as? String }.sorted(), ["checkpoint", "config", "idx", "safetensors"])
        for t in summary {
            XCTAssertEqual(t["bad"] as? Int, 0, "\(t)")
            XCTAssertEqual((t["accepted"] as? Int ?? 0) + (t["rejected"] as? Int ?? 0), 4000, "\(t)")
            // The mutants must exercise more than one check: both outcomes, many kinds of rejection.
            XCTAssertGreaterThan(t["accepted"] as? Int ?? 0, 0, "\(t)")
            XCTAssertGreaterThan(t["rejection_kinds"] as? Int ?? 0, 10, "\(t)")
        }
    }

    /// The command-line campaigns' judge on scripted children: a blocked child is a hang, a
    /// computing one that ends on SIGTERM is not, one that ignores SIGTERM is once it has had its
    /// grace in CPU time, and one that is runnable but starved of CPU (as a campaign's children
    /// are beside builds on a shared machine), or waits for a process of its group that is, is
    /// live, not a hang.
    func testArgvJudgeOnScriptedChildren() throws {
        let dir = try MPIRun.tempDir("harness")
        let r = try MPIRun.runSingle("emd-fuzz", ["harness", "--work", dir.path], timeout: 120)
        XCTAssertFalse(r.timedOut, r.output)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.output.components(separatedBy: "PASS ").count - 1, 5, r.output)
    }

    /// A short run of the command-line fuzzer (mutated `emd` command lines of every subcommand,
    /// run as child processes; the campaigns are in docs/reliability.md): no crash signal, no hang.
    func testShortCommandLineFuzzingRun() throws {
        let dir = try MPIRun.tempDir("argv")
        let out = dir.appendingPathComponent("summary.json")
        let r = try MPIRun.runSingle("emd-fuzz", ["argv-sample", "argv-eval", "argv-train-teacher", "argv-distill",
                                                  "--iterations", "5", "--seed", "5", "--work", dir.path, "--out", out.path],
                                     timeout: 600)
        XCTAssertFalse(r.timedOut, r.output)
        XCTAssertEqual(r.status, 0, r.output)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [[String: Any]] ?? []
        XCTAssertEqual(summary.count, 4, r.output)
        var errors = 0
        for t in summary {
            XCTAssertEqual(t["bad"] as? Int, 0, "\(t)")
            XCTAssertEqual((t["success"] as? Int ?? 0) + (t["errors"] as? Int ?? 0) + (t["slow"] as? Int ?? 0), 5, "\(t)")
            errors += t["errors"] as? Int ?? 0
        }
        XCTAssertGreaterThan(errors, 0, "the mutants should be refused sometimes: \(r.output)")
        // --replay regenerates one command line exactly.
        let a = try MPIRun.runSingle("emd-fuzz", ["argv-eval", "--seed", "5", "--replay", "3", "--work", dir.path], timeout: 120)
        let b = try MPIRun.runSingle("emd-fuzz", ["argv-eval", "--seed", "5", "--replay", "3", "--work", dir.path], timeout: 120)
        let line = { (o: String) in o.split(separator: "\n").first { $0.hasPrefix("argv-eval iteration 3") } }
        XCTAssertNotNil(line(a.output), a.output)
        XCTAssertEqual(line(a.output), line(b.output))
    }

    /// The harness's limits bite: a memory limit below what any process needs fails the run.
    func testFuzzerFailsWhenALimitIsExceeded() throws {
        let r = try MPIRun.runSingle("emd-fuzz", ["idx", "--iterations", "10", "--max-rss-mb", "1"], timeout: 60)
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertTrue(r.output.contains("FAIL idx"), r.output)
    }

    /// The fuzzer's own sizes are bounded: a negative --iterations crashed the release build.
    func testFuzzerRefusesBadSizes() throws {
        for args in [["idx", "--iterations=-5"], ["argv-sample", "--replay=-1"], ["idx", "--timeout", "0"]] {
            let r = try MPIRun.runSingle("emd-fuzz", args, timeout: 60)
            XCTAssertEqual(r.status, 64, "\(args): \(r.output)")
            XCTAssertTrue(r.output.contains("must"), r.output)
        }
    }

    /// --replay regenerates one input of a campaign exactly.
    func testReplayRegeneratesTheSameInput() throws {
        let dir = try MPIRun.tempDir("replay")
        let a = dir.appendingPathComponent("a"), b = dir.appendingPathComponent("b")
        for f in [a, b] {
            let r = try MPIRun.runSingle("emd-fuzz", ["safetensors", "--seed", "3", "--replay", "123", "--out", f.path], timeout: 60)
            XCTAssertEqual(r.status, 0, r.output)
        }
        let da = try Data(contentsOf: a)
        XCTAssertFalse(da.isEmpty)
        XCTAssertEqual(da, try Data(contentsOf: b))
    }
}
