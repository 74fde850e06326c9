import Foundation
import XCTest
import Training

/// The output folder of a run and the run's own output, against misuse: a failed or closed
/// standard output, a second run on the same folder, a fresh run into a used folder, a resume
/// with other settings, ranks that see different folders, settings that can only diverge.
final class RunFolderTests: XCTestCase {
    static let teacher = ["train-teacher", "--data", "mixture", "--hidden", "16", "--batch", "32", "--log-every", "1"]

    func shell(_ command: String, timeout: TimeInterval = 120) throws -> MPIRun.Result {
        try MPIRun.runProcess("/bin/sh", ["-c", command], timeout: timeout, environment: [:])
    }

    /// Standard output on a full device, and closed after one line (| head -1): the run ends
    /// normally with its model written (no SIGILL from a failed write, no SIGPIPE death).
    func testFailedOrClosedStandardOutputDoesNotKillTraining() throws {
        let emd = try MPIRun.executable("emd")
        for (tag, redirect) in [("full", "> /dev/full"), ("pipe", "| head -1")] {
            let out = try MPIRun.tempDir("stdout-\(tag)")
            let r = try shell("'\(emd)' \(Self.teacher.joined(separator: " ")) --steps 200 --out '\(out.path)' \(redirect); echo status=$?")
            XCTAssertFalse(r.timedOut)
            if tag == "full" { XCTAssertTrue(r.output.contains("status=0"), r.output) }
            XCTAssertTrue(r.output.contains("writing to standard output failed") || tag == "pipe", r.output)
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("teacher.safetensors").path), "\(tag): \(r.output)")
        }
    }

    /// A fresh run into a folder holding a run is refused; --overwrite replaces it; --resume with
    /// a setting that changes the run is refused naming it, and with a longer schedule goes on.
    func testUsedFolderNeedsResumeOrOverwriteAndResumeChecksSettings() throws {
        let out = try MPIRun.tempDir("used")
        let first = try MPIRun.runSingle("emd", Self.teacher + ["--steps", "20", "--checkpoint-every", "10", "--out", out.path])
        XCTAssertEqual(first.status, 0, first.output)
        let again = try MPIRun.runSingle("emd", Self.teacher + ["--steps", "20", "--out", out.path])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.output.contains("holds an earlier run") && again.output.contains("--overwrite"), again.output)
        for (flag, value, key) in [("--batch", "16", "batch"), ("--seed", "3", "seed"), ("--lr", "0.0005", "learningRate")] {
            let r = try MPIRun.runSingle("emd", Self.teacher + ["--steps", "30", flag, value, "--out", out.path, "--resume"])
            XCTAssertNotEqual(r.status, 0, r.output)
            XCTAssertTrue(r.output.contains("\(key) was"), "\(flag): \(r.output)")
        }
        // A change the user allows explicitly goes through.
        let allowed = try MPIRun.runSingle("emd", Self.teacher + ["--steps", "25", "--lr", "0.0005", "--out", out.path, "--resume",
                                                                  "--allow-changed", "learningRate"])
        XCTAssertEqual(allowed.status, 0, allowed.output)
        let longer = try MPIRun.runSingle("emd", Self.teacher + ["--steps", "30", "--lr", "0.0005", "--out", out.path, "--resume",
                                                                 "--allow-changed", "learningRate"])
        XCTAssertEqual(longer.status, 0, longer.output)
        XCTAssertTrue(longer.output.contains("resumed from") && longer.output.contains("at step 25"), longer.output)
        let over = try MPIRun.runSingle("emd", Self.teacher + ["--steps", "5", "--out", out.path, "--overwrite"])
        XCTAssertEqual(over.status, 0, over.output)
        XCTAssertEqual(CheckpointDirectory(path: out.path).checkpoints().map(\.step), [5])
    }

    /// A distillation resumed with another mixture: its initial-network folder and its
    /// checkpoints both belong to the first mixture, and the run is refused.
    func testDistillationResumeWithAnotherMixtureIsRefused() throws {
        let out = try MPIRun.tempDir("mix")
        let args = ["distill", "--init-steps", "20", "--steps", "4", "--batch", "16", "--langevin-steps", "2", "--student-steps", "1",
                    "--eval-samples", "0", "--out", out.path]
        let first = try MPIRun.runSingle("emd", args)
        XCTAssertEqual(first.status, 0, first.output)
        let other = try MPIRun.runSingle("emd", args + ["--mixture", "random:2", "--resume"])
        XCTAssertNotEqual(other.status, 0, other.output)
        XCTAssertTrue(other.output.contains("mixture."), other.output)
    }

    /// A distillation resumed with a setting that changes the run is refused before its set-up:
    /// with its initial-network folder gone, the refusal comes without fitting a new one.
    func testDistillationResumeWithOtherSettingsIsRefusedBeforeSetUp() throws {
        let out = try MPIRun.tempDir("early")
        let args = ["distill", "--init-steps", "20", "--steps", "4", "--batch", "16", "--student-steps", "1",
                    "--eval-samples", "0", "--out", out.path]
        let first = try MPIRun.runSingle("emd", args + ["--langevin-steps", "2"])
        XCTAssertEqual(first.status, 0, first.output)
        let initFolder = out.appendingPathComponent("init").path
        try FileManager.default.removeItem(atPath: initFolder)
        let other = try MPIRun.runSingle("emd", args + ["--langevin-steps", "3", "--steps", "6", "--resume"])
        XCTAssertNotEqual(other.status, 0, other.output)
        XCTAssertTrue(other.output.contains("langevinSteps was 2, now 3"), other.output)
        XCTAssertFalse(other.output.contains("fitting the initial network"), other.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: initFolder), "the refused resume fitted a new initial network")
        // The run's own settings still resume it (refitting the deleted initial network).
        let same = try MPIRun.runSingle("emd", args + ["--langevin-steps", "2", "--steps", "6", "--resume"])
        XCTAssertEqual(same.status, 0, same.output)
        XCTAssertTrue(same.output.contains("at step 4"), same.output)
    }

    /// Two runs on one folder at once: the second is refused, naming the first.
    func testSecondRunOnTheSameFolderIsRefused() throws {
        let out = try MPIRun.tempDir("twice")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try MPIRun.executable("emd"))
        p.arguments = Self.teacher + ["--steps", "100000000", "--log-every", "1000", "--out", out.path]
        p.environment = MPIRun.cleanEnvironment()
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        let lock = out.appendingPathComponent(".emd.lock").path
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, (try? String(contentsOfFile: lock, encoding: .utf8))?.isEmpty ?? true { Thread.sleep(forTimeInterval: 0.05) }
        let second = try MPIRun.runSingle("emd", Self.teacher + ["--steps", "10", "--out", out.path, "--resume"])
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.output.contains("in use by another run") && second.output.contains("pid \(p.processIdentifier)"), second.output)
    }

    /// Ranks given different folders on --resume (the issue's reproduction of a node-local
    /// --out): both fail at once, before any step, and no checkpoint is written from mixed states.
    func testRanksWithDifferentFoldersFailTogetherOnResume() throws {
        let a = try MPIRun.tempDir("node-a"), b = try MPIRun.tempDir("node-b")
        let seed = try MPIRun.runSingle("emd", Self.teacher + ["--steps", "40", "--checkpoint-every", "40", "--out", a.path])
        XCTAssertEqual(seed.status, 0, seed.output)
        let emd = try MPIRun.executable("emd")
        let args = Self.teacher + ["--steps", "60", "--resume"]
        let t0 = Date()
        let r = try MPIRun.runProcess("/usr/bin/env", ["mpirun", "--oversubscribe", "--mca", "btl", "self,vader,tcp",
                                                       "-np", "1", emd] + args + ["--out", a.path]
                                                       + [":", "-np", "1", emd] + args + ["--out", b.path],
                                      timeout: 60, environment: [:])
        XCTAssertFalse(r.timedOut, r.output)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 30)
        XCTAssertTrue(r.output.contains("different output folders") && r.output.contains("same --out"), r.output)
        // Both ranks know the outcome: one report, and an orderly exit rather than MPI_Abort.
        XCTAssertEqual(r.output.components(separatedBy: "different output folders").count - 1, 1, r.output)
        XCTAssertFalse(r.output.contains("MPI_ABORT"), r.output)
        XCTAssertEqual(CheckpointDirectory(path: a.path).checkpoints().map(\.step), [40])
    }

    /// A resume refused on 2 ranks (a changed setting) is reported once, by rank 0, not once
    /// per rank, and the job ends without MPI_Abort and without a step.
    func testRefusedResumeOnTwoRanksIsReportedOnce() throws {
        let out = try MPIRun.tempDir("refused2")
        let first = try MPIRun.run(ranks: 2, "emd", Self.teacher + ["--steps", "20", "--checkpoint-every", "10", "--out", out.path])
        XCTAssertEqual(first.status, 0, first.output)
        let r = try MPIRun.run(ranks: 2, "emd", Self.teacher + ["--steps", "30", "--seed", "3", "--out", out.path, "--resume"], timeout: 60)
        XCTAssertFalse(r.timedOut, r.output)
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertEqual(r.output.components(separatedBy: "seed was").count - 1, 1, r.output)
        XCTAssertFalse(r.output.contains("MPI_ABORT") || r.output.contains("[rank 1]"), r.output)
        XCTAssertEqual(CheckpointDirectory(path: out.path).checkpoints().map(\.step), [10, 20])
    }

    /// Settings that can only diverge are refused up front, and an update that makes the
    /// parameters non-finite stops the run before they are saved.
    func testDivergentSettingsAreRefusedAndNonFiniteParametersNeverSaved() throws {
        for (args, word) in [(["--lr", "1e30"], "learningRate"), (["--lr", "inf"], "learningRate"), (["--batch", "4611686018427387904"], "batch"),
                             (["--batch", "10000000"], "memory")] {
            let r = try MPIRun.runSingle("emd", Self.teacher + ["--steps", "1", "--out", try MPIRun.tempDir("bad").path] + args, timeout: 60)
            XCTAssertNotEqual(r.status, 0, r.output)
            XCTAssertTrue(r.output.contains(word), "\(args): \(r.output)")
        }
        for args in [["--sigma-hi", "inf"], ["--gamma-z", "inf"], ["--z-step-max", "0"], ["--z-step-max", "2"], ["--generator-lr", "inf"],
                     ["--batch", "4611686018427387904"]] {
            let r = try MPIRun.runSingle("emd", ["distill", "--steps", "1", "--out", try MPIRun.tempDir("badd").path] + args, timeout: 60)
            XCTAssertNotEqual(r.status, 0, r.output)
            XCTAssertFalse(r.output.contains("lower learning rate"), "\(args): \(r.output)")
        }
    }
}

/// The mixture benchmark suite in its CI mode writes its table and results.
final class BenchMixturesTests: XCTestCase {
    func testQuickSuiteWritesItsTable() throws {
        let out = try MPIRun.tempDir("bench-mixtures")
        let r = try MPIRun.runSingle("emd", ["bench-mixtures", "--quick", "--mixtures", "grid-unequal", "--ks", "1,4",
                                             "--out", out.path], timeout: 300)
        XCTAssertEqual(r.status, 0, r.output)
        let md = try String(contentsOfFile: out.appendingPathComponent("results.md").path, encoding: .utf8)
        for needle in ["| grid-unequal | teacher (Heun, 35 NFE)", "| grid-unequal | K = 1 baseline", "| grid-unequal | EMD K = 4", "of 25"] {
            XCTAssertTrue(md.contains(needle), "missing \(needle) in:\n\(md)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("results.json"))) as? [String: Any]
        XCTAssertEqual((json?["rows"] as? [Any])?.count, 3, "teacher + 2 K for one mixture and one seed")
        XCTAssertEqual(json?["lr_decay"] as? Bool, false)
        try assertRunLogs(json, contain: nil)
    }

    /// With --lr-decay every run anneals its generator's rate over its own step count, which
    /// differs between K (equal wall time), and the results record it.
    func testQuickSuiteWithLearningRateDecayAnnealsEachRunOverItsSteps() throws {
        let out = try MPIRun.tempDir("bench-mixtures-decay")
        let r = try MPIRun.runSingle("emd", ["bench-mixtures", "--quick", "--mixtures", "ring", "--ks", "1,4", "--lr-decay",
                                             "--out", out.path], timeout: 300)
        XCTAssertEqual(r.status, 0, r.output)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("results.json"))) as? [String: Any]
        XCTAssertEqual(json?["lr_decay"] as? Bool, true)
        try assertRunLogs(json, contain: "cosine to 0 over %d updates")
    }

    /// Each distillation row's run log states its generator rate: annealed over the row's own
    /// steps (`contain`, formatted with them) or, for nil, constant.
    func assertRunLogs(_ json: [String: Any]?, contain format: String?) throws {
        let runs = (json?["rows"] as? [[String: Any]] ?? []).filter { $0["run"] != nil }
        XCTAssertEqual(runs.count, 2)
        for row in runs {
            let log = try String(contentsOfFile: (row["run"] as! String) + ".log", encoding: .utf8)
            if let format {
                let steps = row["steps"] as! Int
                XCTAssertTrue(log.contains(String(format: format, steps)), "\(steps) steps:\n\(log)")
            } else {
                XCTAssertFalse(log.contains("cosine"), log)
            }
        }
    }
}

/// Misleading messages and early signals (docs/reliability.md).
final class MessagesAndSignalsTests: XCTestCase {
    /// A generator checkpoint given as the teacher is named as what it is.
    func testGeneratorCheckpointAsTeacherNamesItsKind() throws {
        let out = try MPIRun.tempDir("gen-as-teacher")
        let d = try MPIRun.runSingle("emd", ["distill", "--init-steps", "20", "--steps", "2", "--batch", "16", "--langevin-steps", "2",
                                             "--student-steps", "1", "--eval-samples", "0", "--out", out.path])
        XCTAssertEqual(d.status, 0, d.output)
        let generator = out.appendingPathComponent("generator.safetensors").path
        let r = try MPIRun.runSingle("emd", ["distill", "--teacher", generator, "--steps", "2", "--out", try MPIRun.tempDir("g2").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.output.contains(": this is a generator checkpoint, not a teacher checkpoint"), r.output)
    }

    /// A signal moments after start (before the first step) still ends in a checkpoint and the
    /// requeue status, not a silent death by signal.
    func testSignalRightAfterStartIsNotLost() throws {
        let out = try MPIRun.tempDir("early-signal")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try MPIRun.executable("emd"))
        p.arguments = RunFolderTests.teacher + ["--steps", "100000", "--out", out.path]
        p.environment = MPIRun.cleanEnvironment()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 0.25)
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, "killed by the signal instead of handling it")
        XCTAssertEqual(p.terminationStatus, 75)
        XCTAssertFalse(CheckpointDirectory(path: out.path).checkpoints().isEmpty)
    }

    /// Mixture files with absurd means or stds are refused, naming the problem, instead of
    /// training into non-finite values.
    func testAbsurdMixtureIsRefused() throws {
        let dir = try MPIRun.tempDir("absurd")
        for (name, json) in [("mean", #"{"dimension":2,"means":[[1e30,0],[0,1]],"weights":[0.5,0.5],"stds":[0.1,0.1]}"#),
                             ("std", #"{"dimension":2,"means":[[1,0],[0,1]],"weights":[0.5,0.5],"stds":[1e30,0.1]}"#)] {
            let path = dir.appendingPathComponent("\(name).json").path
            try Data(json.utf8).write(to: URL(fileURLWithPath: path))
            let r = try MPIRun.runSingle("emd", ["distill", "--mixture", path, "--steps", "2", "--out", dir.appendingPathComponent(name).path])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.output.contains("mixture:") && !r.output.contains("lower learning rate"), r.output)
        }
    }
}
