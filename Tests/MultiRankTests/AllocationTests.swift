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
/// The runs go two at a time: valgrind's start-up (about 7 s of the 8 to 13 s a run takes) is
/// single-threaded, and the two cores of CI would otherwise take turns.
final class AllocationTests: XCTestCase {
    /// One DHAT run: its exit status and output, and the total heap blocks it reported (nil if none).
    static func heapBlocks(_ args: [String]) throws -> (result: MPIRun.Result, blocks: Int?) {
        let out = try MPIRun.tempDir("dhat")
        let r = try MPIRun.runProcess("/usr/bin/env", ["valgrind", "--tool=dhat", "--dhat-out-file=\(out.path)/dhat.out",
                                                       try MPIRun.executable("emd")] + args + ["--out", out.path + "/run"],
                                      timeout: 600, environment: ["SWIFT_DETERMINISTIC_HASHING": "1"])
        let blocks = r.output.split(separator: "\n").first(where: { $0.contains("Total:") })
            .flatMap { $0.split(separator: " ").reversed().dropFirst().first }
            .flatMap { Int($0.replacingOccurrences(of: ",", with: "")) }
        return (r, blocks)
    }

    func testTeacherAndDistillationStepsAllocateNothing() throws {
        let teacher = try MPIRun.tempDir("alloc-teacher")
        let t = try MPIRun.runSingle("emd", ["train-teacher", "--hidden", "16", "--steps", "20", "--out", teacher.path])
        XCTAssertEqual(t.status, 0, t.output)
        let initPath = teacher.appendingPathComponent("teacher.safetensors").path
        let commands = [["train-teacher", "--hidden", "16", "--batch", "16"],
                        ["distill", "--init", initPath, "--batch", "16", "--langevin-steps", "2", "--eval-samples", "0"],
                        // The overlapped mode reuses one non-blocking request.
                        ["distill", "--init", initPath, "--batch", "16", "--langevin-steps", "2", "--eval-samples", "0",
                         "--allreduce", "overlap", "--student-steps", "2"],
                        // Buckets posted from the backward pass through a hook installed once.
                        ["distill", "--init", initPath, "--batch", "16", "--langevin-steps", "2", "--eval-samples", "0",
                         "--allreduce", "bucketed", "--bucket-floats", "200", "--student-steps", "2"]]
        // Run 2i: command i for 4 steps; run 2i + 1: the same for 54.
        let runs = commands.flatMap { c in
            [4, 54].map { c + ["--log-every", "1000", "--checkpoint-every", "1000", "--steps", "\($0)"] }
        }
        let box = ResultsBox(count: runs.count)
        DispatchQueue.concurrentPerform(iterations: runs.count) { i in
            box.set(i, Result { try Self.heapBlocks(runs[i]) })
        }
        let results = box.results
        for (i, command) in commands.enumerated() {
            var counts: [Int] = []
            for run in [2 * i, 2 * i + 1] {
                let (r, blocks) = try results[run]!.get()
                XCTAssertEqual(r.status, 0, r.output)
                guard let blocks else {
                    XCTFail("no DHAT total in output (is valgrind installed? launch/setup.sh installs it):\n\(r.output)")
                    return
                }
                counts.append(blocks)
            }
            XCTAssertLessThan(counts[1] - counts[0], 10,
                              "\(command.joined(separator: " ")): \(counts[0]) blocks for 4 steps, \(counts[1]) for 54")
        }
    }
}

/// The DHAT runs' results, filled in by concurrent workers.
private final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var results: [Result<(result: MPIRun.Result, blocks: Int?), Error>?]
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<(result: MPIRun.Result, blocks: Int?), Error>) { lock.lock(); results[i] = r; lock.unlock() }
}
