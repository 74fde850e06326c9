import Foundation
import XCTest

/// Faults under mpirun end the job promptly and lose at most the steps since the last checkpoint.
final class FaultTests: XCTestCase {
    let base = ["train-teacher", "--data", "mixture", "--hidden", "32", "--batch", "64", "--log-every", "50"]

    /// A NaN gradient on one rank: both ranks learn it in the same step's all-reduce and stop
    /// together with exit status 3 and a message, instead of one rank hanging in a collective.
    func testNaNOnOneRankStopsAllRanks() throws {
        let out = try MPIRun.tempDir("nan")
        let t0 = Date()
        let r = try MPIRun.run(ranks: 2, "emd", base + ["--steps", "200", "--out", out.path], timeout: 60,
                               environment: ["EMD_FAULT_NAN": "1:30"])
        XCTAssertFalse(r.timedOut, "the job hung:\n\(r.output)")
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 30)
        XCTAssertTrue(r.output.contains("non-finite loss or gradient at step 30"), r.output)
        XCTAssertEqual(r.output.components(separatedBy: "non-finite loss or gradient at step 30").count - 1, 2,
                       "both ranks report the same step:\n\(r.output)")
        // The parameters on disk were never updated with the bad gradient: no checkpoint past step 30.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []
        XCTAssertFalse(names.contains("teacher.safetensors"), "\(names)")
    }

    static let distill = ["distill", "--teacher", "mixture", "--init-steps", "50", "--batch", "32", "--langevin-steps", "2",
                          "--student-steps", "1", "--log-every", "10", "--eval-samples", "0", "--steps", "400"]

    /// The same in distillation: a NaN in one rank's generator gradient stops both ranks at the
    /// same step with a message, and no generator is written from the bad state.
    func testDistillationNaNOnOneRankStopsAllRanks() throws {
        let out = try MPIRun.tempDir("dnan")
        let r = try MPIRun.run(ranks: 2, "emd", Self.distill + ["--out", out.path], timeout: 120,
                               environment: ["EMD_FAULT_NAN": "1:20"])
        XCTAssertFalse(r.timedOut, "the job hung:\n\(r.output)")
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertEqual(r.output.components(separatedBy: "non-finite loss or gradient at step 20").count - 1, 2,
                       "both ranks report the same step:\n\(r.output)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("generator.safetensors").path))
    }

    /// A rank that throws on its own (as one that meets bad input would) while the other waits in
    /// the step's all-reduce: the job is aborted through MPI within seconds, with the error shown.
    func testOneRankThrowingAbortsTheJob() throws {
        let out = try MPIRun.tempDir("throw")
        let t0 = Date()
        let r = try MPIRun.run(ranks: 2, "emd", Self.distill + ["--out", out.path], timeout: 120,
                               environment: ["EMD_FAULT_THROW": "1:20"])
        XCTAssertFalse(r.timedOut, "the job hung:\n\(r.output)")
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("[rank 1] error: injected fault (EMD_FAULT_THROW) on rank 1 at step 20"), r.output)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 60)
    }

    /// kill -9 of one rank: mpirun ends the whole job within seconds; a restart resumes from
    /// the last checkpoint.
    func testKillNineOfOneRankEndsJobAndResumes() throws {
        let out = try MPIRun.tempDir("kill9")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["mpirun", "-np", "2", "--oversubscribe", try MPIRun.executable("emd")] + base
            + ["--steps", "100000", "--checkpoint-every", "200", "--out", out.path]
        var env = MPIRun.cleanEnvironment()
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        // Wait for a checkpoint, then kill one rank (a child of mpirun) with SIGKILL.
        let dir = out.path
        let deadline = Date().addingTimeInterval(60)
        func checkpoints() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("ckpt-") }
        }
        while Date() < deadline, checkpoints().isEmpty { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(checkpoints().isEmpty, "no checkpoint within 60 s")
        let children = try MPIRun.runProcess("/usr/bin/env", ["pgrep", "-P", "\(p.processIdentifier)", "-x", "emd"],
                                             timeout: 10, environment: [:])
        guard let victim = children.output.split(separator: "\n").first.flatMap({ Int32($0) }) else {
            p.terminate(); return XCTFail("no rank process found: \(children.output)")
        }
        let killed = Date()
        kill(victim, SIGKILL)
        while p.isRunning && Date().timeIntervalSince(killed) < 30 { Thread.sleep(forTimeInterval: 0.05) }
        let took = Date().timeIntervalSince(killed)
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        _ = pipe.fileHandleForReading.readDataToEndOfFile()
        XCTAssertLessThan(took, 10, "mpirun took \(took) s to end the job after kill -9")
        XCTAssertNotEqual(p.terminationStatus, 0)
        // Resume from the newest complete checkpoint and finish a few more steps.
        let saved = checkpoints().compactMap { Int($0.dropFirst(5).dropLast(12)) }.max() ?? 0
        XCTAssertGreaterThan(saved, 0)
        let r = try MPIRun.run(ranks: 2, "emd", base + ["--steps", "\(saved + 20)", "--out", out.path, "--resume"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("resumed from"), r.output)
    }
}
