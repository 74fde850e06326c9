import Foundation
import XCTest
import FileFormats

/// The training steps allocate nothing: valgrind's DHAT counts the heap blocks of a whole run,
/// and a run with more steps must not allocate more blocks (10 or more fail: the runs differ by at
/// least 10 steps). Swift seeds its hash function per
/// process, so the order in which a dictionary is sorted while writing JSON (config, ranks.json,
/// checkpoint headers) changes from run to run, and with it the count of blocks by up to about 70
/// (measured over five identical 4-step runs; CI once saw +71). `SWIFT_DETERMINISTIC_HASHING`
/// removes that: identical runs then allocate identical counts, and 4- and 54-step runs differ
/// by 2 (longer step numbers in file names and log lines). A single allocation per step would
/// add at least 50 there.
/// The runs go two at a time: valgrind's start-up (about 7 s of the 8 to 13 s a run takes) is
/// single-threaded, and the two cores of CI would otherwise take turns.
final class AllocationTests: XCTestCase {
    /// One DHAT run: its exit status and output, and the total heap blocks it reported (nil if none).
    static func heapBlocks(_ args: [String], environment: [String: String] = [:]) throws -> (result: MPIRun.Result, blocks: Int?) {
        let out = try MPIRun.tempDir("dhat")
        let r = try MPIRun.runProcess("/usr/bin/env", ["valgrind", "--tool=dhat", "--dhat-out-file=\(out.path)/dhat.out",
                                                       try MPIRun.executable("emd")] + args + ["--out", out.path + "/run"],
                                      timeout: 600, environment: environment.merging(["SWIFT_DETERMINISTIC_HASHING": "1"]) { a, _ in a })
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
        try assertStepsAllocateNothing(commands, shortRun: 4, longRun: 54)
    }

    /// The class-conditional EDM U-Net (attention, label embedding, guided teacher in the
    /// E-step) on emd's own convolutions (`EMD_CONV=im2col`; oneDNN's primitives allocate inside
    /// every call, docs/performance.md). Its runs make a few one-off allocations between steps 4
    /// and 14 (8 and 9 blocks, measured), so both runs start past them; valgrind makes a U-Net
    /// distillation step take about 2.4 s, so the runs differ by 10 steps there.
    func testClassConditionalUNetStepsAllocateNothing() throws {
        let dir = try MPIRun.tempDir("alloc-unet")
        // 64 images of 8 x 8 pixels in two classes, as in the measurement.
        let images = dir.appendingPathComponent("img.idx").path, labels = dir.appendingPathComponent("lab.idx").path
        let pixels: [UInt8] = (0..<4096).map { (i: Int) -> UInt8 in UInt8((i * 37 + (i / 64) * 91) % 256) }
        try IDX.write(path: images, dims: [64, 8, 8], bytes: pixels)
        try IDX.write(path: labels, dims: [64], bytes: (0..<64).map { UInt8($0 % 2) })
        let unet = ["--network", "edm-unet", "--channels", "4", "--blocks-per-level", "1", "--conditional"]
        let teacher = dir.appendingPathComponent("teacher").path
        let t = try MPIRun.runSingle("emd", ["train-teacher", "--data", "idx:\(images),\(labels)"] + unet
                                            + ["--batch", "4", "--steps", "10", "--out", teacher])
        XCTAssertEqual(t.status, 0, t.output)
        try assertStepsAllocateNothing([
            ["train-teacher", "--data", "idx:\(images),\(labels)"] + unet + ["--batch", "4"],
            ["distill", "--teacher", teacher + "/teacher.safetensors", "--guidance", "2", "--batch", "4",
             "--langevin-steps", "2", "--eval-samples", "0"],
        ], shortRun: 14, longRun: 24, environment: ["EMD_CONV": "im2col"])
    }

    /// Run each command for `shortRun` and for `longRun` steps under DHAT, two runs at a time, and
    /// check that the longer run allocated fewer than 10 more heap blocks; the runs differ by at
    /// least 10 steps, so one allocation per step fails it.
    func assertStepsAllocateNothing(_ commands: [[String]], shortRun: Int, longRun: Int,
                                    environment: [String: String] = [:]) throws {
        precondition(longRun - shortRun >= 10, "too few steps between the runs to see one allocation per step")
        // Run 2i: command i for shortRun steps; run 2i + 1: the same for longRun.
        let runs = commands.flatMap { c in
            [shortRun, longRun].map { c + ["--log-every", "1000", "--checkpoint-every", "1000", "--steps", "\($0)"] }
        }
        let box = ResultsBox(count: runs.count)
        DispatchQueue.concurrentPerform(iterations: runs.count) { i in
            box.set(i, Result { try Self.heapBlocks(runs[i], environment: environment) })
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
                              "\(command.joined(separator: " ")): \(counts[0]) blocks for \(shortRun) steps, \(counts[1]) for \(longRun)")
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
