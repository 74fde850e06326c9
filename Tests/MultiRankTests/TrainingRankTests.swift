import Foundation
import XCTest
import Diffusion

/// `emd train-teacher` and `emd distill` under mpirun: rank-count invariance, identical
/// parameters on every rank, preemption and resume.
final class TrainingRankTests: XCTestCase {
    static let teacherArgs = ["train-teacher", "--data", "mixture", "--hidden", "32", "--steps", "60", "--batch", "64",
                              "--log-every", "20", "--checkpoint-every", "30"]

    func emd(ranks: Int, _ args: [String], timeout: TimeInterval = 300, file: StaticString = #filePath,
             line: UInt = #line) throws -> MPIRun.Result {
        let r = try ranks == 1 ? MPIRun.runSingle("emd", args, timeout: timeout) : MPIRun.run(ranks: ranks, "emd", args, timeout: timeout)
        XCTAssertFalse(r.timedOut, "emd \(args.first ?? "") on \(ranks) ranks hung", file: file, line: line)
        return r
    }

    func tensors(_ path: String, group: String) throws -> [Float] {
        let c = try Checkpoint.read(path)
        return c.tensors.keys.filter { $0.hasPrefix(group + ".") }.sorted().flatMap { c.tensors[$0]!.values }
    }

    func assertClose(_ a: [Float], _ b: [Float], relative: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        var diff = 0.0, norm = 0.0
        for i in 0..<min(a.count, b.count) { diff += Double(a[i] - b[i]) * Double(a[i] - b[i]); norm += Double(a[i]) * Double(a[i]) }
        XCTAssertLessThan((diff / max(norm, 1e-30)).squareRoot(), relative, what, file: file, line: line)
        XCTAssertGreaterThan(norm, 0, what, file: file, line: line)
    }

    func ranksIdentical(_ dir: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try Data(contentsOf: dir.appendingPathComponent("ranks.json"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        XCTAssertEqual(json?["identical"] as? Bool, true, "ranks.json: \(String(describing: json))", file: file, line: line)
    }

    /// 1-rank and 2-rank teacher training of the same global batches agree; both ranks end identical.
    func testTeacherTrainingOneVersusTwoRanks() throws {
        let one = try MPIRun.tempDir("t1"), two = try MPIRun.tempDir("t2")
        let r1 = try emd(ranks: 1, Self.teacherArgs + ["--out", one.path])
        XCTAssertEqual(r1.status, 0, r1.output)
        let r2 = try emd(ranks: 2, Self.teacherArgs + ["--out", two.path])
        XCTAssertEqual(r2.status, 0, r2.output)
        try ranksIdentical(two)
        let a = try tensors(one.appendingPathComponent("teacher.safetensors").path, group: "params")
        let b = try tensors(two.appendingPathComponent("teacher.safetensors").path, group: "params")
        // Only the summation order of the gradient differs.
        assertClose(a, b, relative: 1e-4, "teacher parameters, 1 vs 2 ranks")
        XCTAssertTrue(FileManager.default.fileExists(atPath: two.appendingPathComponent("metrics.jsonl").path))
    }

    /// 1-rank and 2-rank distillation (EMD, K = 4) of the same global batch of latents agree;
    /// 3 oversubscribed ranks too; every rank ends with identical generator and student.
    func testDistillationRankCountInvariance() throws {
        let teacher = try MPIRun.tempDir("dt")
        let rt = try emd(ranks: 1, Self.teacherArgs + ["--out", teacher.path])
        XCTAssertEqual(rt.status, 0, rt.output)
        let initPath = teacher.appendingPathComponent("teacher.safetensors").path
        let args = ["distill", "--teacher", "mixture", "--init", initPath, "--steps", "12", "--batch", "48",
                    "--langevin-steps", "4", "--student-steps", "2", "--log-every", "4", "--eval-samples", "0"]
        var finals: [[Float]] = []
        for ranks in [1, 2, 3] {
            let out = try MPIRun.tempDir("d\(ranks)")
            let r = try emd(ranks: ranks, args + ["--out", out.path])
            XCTAssertEqual(r.status, 0, r.output)
            try ranksIdentical(out)
            finals.append(try tensors(out.appendingPathComponent("generator.safetensors").path, group: "generator"))
        }
        assertClose(finals[0], finals[1], relative: 1e-4, "generator, 1 vs 2 ranks")
        assertClose(finals[0], finals[2], relative: 1e-4, "generator, 1 vs 3 ranks")
    }

    /// SIGUSR1 to mpirun (which forwards it to every rank; Slurm's --signal sends it) preempts
    /// a 2-rank run: all ranks agree, checkpoint and exit with the requeue code 75; the resumed
    /// run, on 1 rank, ends where an uninterrupted run ends.
    func testPreemptionUnderMpirunCheckpointsAndResumes() throws {
        try preemptAndResume(ranks: 2, signal: SIGUSR1)
    }

    /// SIGTERM straight to a single-rank process (what srun and schedulers send to tasks).
    func testSigtermPreemptsSingleRank() throws {
        try preemptAndResume(ranks: 1, signal: SIGTERM)
    }

    func preemptAndResume(ranks: Int, signal: Int32) throws {
        let base = ["train-teacher", "--data", "mixture", "--hidden", "64", "--batch", "64", "--log-every", "50",
                    "--checkpoint-every", "100000"]
        let steps = ["--steps", "4000"]
        let full = try MPIRun.tempDir("full")
        let rf = try emd(ranks: 1, base + steps + ["--out", full.path])
        XCTAssertEqual(rf.status, 0, rf.output)
        let cut = try MPIRun.tempDir("cut")
        // Start, then signal once training is under way.
        let p = Process()
        if ranks == 1 {
            p.executableURL = URL(fileURLWithPath: try MPIRun.executable("emd"))
            p.arguments = base + steps + ["--out", cut.path]
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["mpirun", "-np", "\(ranks)", "--oversubscribe", try MPIRun.executable("emd")] + base + steps + ["--out", cut.path]
        }
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        // Wait until training has started (the metrics file appears), then preempt.
        let metrics = cut.appendingPathComponent("metrics.jsonl").path
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try? Data(contentsOf: URL(fileURLWithPath: metrics)))?.isEmpty ?? true {
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 75, "preempted run should exit 75:\n\(output)")
        let dir = CheckpointDirectory(path: cut.path)
        guard let saved = dir.steps().last else { return XCTFail("no checkpoint after preemption:\n\(output)") }
        XCTAssertGreaterThan(saved, 0)
        XCTAssertLessThan(saved, 4000, "the run finished before the signal; nothing was tested")
        // Resume on the other rank count.
        let rr = try emd(ranks: 3 - ranks, base + steps + ["--out", cut.path, "--resume"])
        XCTAssertEqual(rr.status, 0, rr.output)
        XCTAssertTrue(rr.output.contains("resumed from"), rr.output)
        let a = try tensors(full.appendingPathComponent("teacher.safetensors").path, group: "params")
        let b = try tensors(cut.appendingPathComponent("teacher.safetensors").path, group: "params")
        assertClose(a, b, relative: 1e-3, "preempted + resumed vs uninterrupted")
    }
}
