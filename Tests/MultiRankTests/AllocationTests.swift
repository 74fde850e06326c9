import Foundation
import XCTest

/// The training steps allocate nothing: valgrind's DHAT counts the heap blocks of a whole run,
/// and a run with 50 more steps must not allocate more blocks beyond run-to-run noise (up to
/// about 20 blocks from MPI start-up, measured over 4-, 44- and 84-step runs); a single
/// allocation per step would add at least 50.
final class AllocationTests: XCTestCase {
    func heapBlocks(_ args: [String]) throws -> Int {
        let out = try MPIRun.tempDir("dhat")
        let r = try MPIRun.runProcess("/usr/bin/env", ["valgrind", "--tool=dhat", "--dhat-out-file=\(out.path)/dhat.out",
                                                       try MPIRun.executable("emd")] + args + ["--out", out.path + "/run"],
                                      timeout: 600, environment: [:])
        XCTAssertEqual(r.status, 0, r.output)
        guard let line = r.output.split(separator: "\n").first(where: { $0.contains("Total:") }),
              let blocks = line.split(separator: " ").reversed().dropFirst().first.flatMap({ Int($0.replacingOccurrences(of: ",", with: "")) })
        else { XCTFail("no DHAT total in output (is valgrind installed? launch/setup.sh installs it):\n\(r.output)"); return -1 }
        return blocks
    }

    func testTeacherAndDistillationStepsAllocateNothing() throws {
        let teacher = try MPIRun.tempDir("alloc-teacher")
        let t = try MPIRun.runSingle("emd", ["train-teacher", "--hidden", "16", "--steps", "20", "--out", teacher.path])
        XCTAssertEqual(t.status, 0, t.output)
        let initPath = teacher.appendingPathComponent("teacher.safetensors").path
        for command in [["train-teacher", "--hidden", "16", "--batch", "16"],
                        ["distill", "--init", initPath, "--batch", "16", "--langevin-steps", "2", "--eval-samples", "0"],
                        // The overlapped mode reuses one non-blocking request.
                        ["distill", "--init", initPath, "--batch", "16", "--langevin-steps", "2", "--eval-samples", "0",
                         "--allreduce", "overlap", "--student-steps", "2"]] {
            let common = command + ["--log-every", "1000", "--checkpoint-every", "1000"]
            let short = try heapBlocks(common + ["--steps", "4"])
            let long = try heapBlocks(common + ["--steps", "54"])
            XCTAssertLessThan(long - short, 40, "\(command.joined(separator: " ")): \(short) blocks for 4 steps, \(long) for 54")
        }
    }
}
