import Foundation
import XCTest

/// The training steps allocate nothing: valgrind's DHAT counts the heap blocks of a whole run,
/// and a run with 50 more steps must not allocate more blocks. Swift seeds its hash function per
/// process, so the order in which a dictionary is sorted while writing JSON (config, ranks.json,
/// checkpoint headers) changes from run to run, and with it the count of blocks by up to about 70
/// (measured over five identical 4-step runs; CI once saw +71). `SWIFT_DETERMINISTIC_HASHING`
/// removes that: identical runs then allocate identical counts, and 4- and 54-step runs differ
/// by 2 (longer step numbers in file names and log lines). A single allocation per step would
/// add at least 50.
final class AllocationTests: XCTestCase {
    func heapBlocks(_ args: [String]) throws -> Int {
        let out = try MPIRun.tempDir("dhat")
        let r = try MPIRun.runProcess("/usr/bin/env", ["valgrind", "--tool=dhat", "--dhat-out-file=\(out.path)/dhat.out",
                                                       try MPIRun.executable("emd")] + args + ["--out", out.path + "/run"],
                                      timeout: 600, environment: ["SWIFT_DETERMINISTIC_HASHING": "1"])
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
                         "--allreduce", "overlap", "--student-steps", "2"],
                        // Buckets posted from the backward pass through a hook installed once.
                        ["distill", "--init", initPath, "--batch", "16", "--langevin-steps", "2", "--eval-samples", "0",
                         "--allreduce", "bucketed", "--bucket-floats", "200", "--student-steps", "2"]] {
            let common = command + ["--log-every", "1000", "--checkpoint-every", "1000"]
            let short = try heapBlocks(common + ["--steps", "4"])
            let long = try heapBlocks(common + ["--steps", "54"])
            XCTAssertLessThan(long - short, 10, "\(command.joined(separator: " ")): \(short) blocks for 4 steps, \(long) for 54")
        }
    }
}
