import Foundation
import XCTest

/// The batch scripts. launch/slurm.sbatch on a real one-node Slurm (launch/slurm-local-test.sh):
/// a job launched with mpirun and one with srun --mpi=pmix finish and write their checkpoints; a
/// job preempted with SIGUSR1 checkpoints, requeues itself and resumes to the end.
/// launch/pbs.sh in a PBS-like job environment (launch/pbs-local-test.sh): a training and a
/// sampling job finish; a distillation whose session gets SIGTERM checkpoints and exits 75, and
/// resumes to the end when submitted again.
final class SchedulerTests: XCTestCase {
    func testPBSScriptRunsResumesAndCheckpointsOnWalltimeSignal() throws {
        let script = MultiHostTests.repoRoot.appendingPathComponent("launch/pbs-local-test.sh").path
        let out = try MPIRun.tempDir("pbs")
        let r = try MPIRun.runProcess("/bin/bash", [script, out.path], timeout: 300,
                                      environment: ["EMD_BIN": try MPIRun.executable("emd")])
        XCTAssertFalse(r.timedOut, r.output)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("pbs-local-test: all checks passed"), r.output)
        XCTAssertFalse(r.output.contains("FAIL"), r.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("distill/generator.safetensors").path))
    }

    func testSlurmOneNodeJobsAndPreemptionRequeue() throws {
        guard getuid() == 0 else { throw XCTSkip("the one-node Slurm runs its daemons as root") }
        if let conf = try? String(contentsOfFile: "/etc/slurm/slurm.conf", encoding: .utf8),
           !conf.contains("# written by emd launch/slurm-local-test.sh") {
            throw XCTSkip("this machine has its own Slurm config; the test will not touch it")
        }
        let script = MultiHostTests.repoRoot.appendingPathComponent("launch/slurm-local-test.sh").path
        let out = try MPIRun.tempDir("slurm")
        let r = try MPIRun.runProcess("/bin/bash", [script, out.path], timeout: 600,
                                      environment: ["EMD_BIN": try MPIRun.executable("emd")])
        defer { _ = try? MPIRun.runProcess("/bin/bash", [script, "--stop"], timeout: 60, environment: [:]) }
        XCTAssertFalse(r.timedOut, r.output)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("slurm-local-test: all checks passed"), r.output)
        XCTAssertFalse(r.output.contains("FAIL"), r.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("preempt/generator.safetensors").path))
    }
}
