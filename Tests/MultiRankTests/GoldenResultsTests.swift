import Foundation
import XCTest

/// Results that a refactoring must not change: the final parameter checksums (bit patterns) of
/// a fixed short teacher run and a fixed short distillation, recorded with the code before the
/// training runtime was restructured (2026-12-02, OpenBLAS 0.3.21 choosing its Cooperlake
/// kernels on this machine's AMD EPYC; another BLAS kernel rounds differently, so the test
/// skips there, naming the kernel it found).
final class GoldenResultsTests: XCTestCase {
    static let recordedKernel = "Cooperlake"

    func checksums(_ out: URL) throws -> [String: [String]] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("ranks.json"))) as? [String: Any]
        let kernel = json?["blas_core"] as? String ?? "unknown"
        guard kernel == Self.recordedKernel else {
            throw XCTSkip("recorded with OpenBLAS's \(Self.recordedKernel) kernel; this machine runs \(kernel)")
        }
        var sums: [String: [String]] = [:]
        for key in ["params", "generator", "student"] { if let v = json?[key] as? [String] { sums[key] = v } }
        return sums
    }

    func testShortTeacherAndDistillationAreBitIdenticalToTheRecordedRuns() throws {
        let teacher = try MPIRun.tempDir("golden-teacher")
        let t = try MPIRun.runSingle("emd", ["train-teacher", "--data", "mixture", "--hidden", "32", "--steps", "60", "--batch", "64",
                                             "--out", teacher.path])
        XCTAssertEqual(t.status, 0, t.output)
        // Outside XCTAssertEqual: a skip thrown inside an assertion is recorded as a failure.
        let teacherSums = try checksums(teacher)
        XCTAssertEqual(teacherSums["params"], ["32519ae6a2d6aa2"])
        let initPath = teacher.appendingPathComponent("teacher.safetensors").path
        for (method, generator, student) in [("emd", "d3d3e1eedb2ccb6c", "2b22e0e712bb628f"),
                                             ("baseline", "8656df0ad1f78adf", "51ddb302d3f12f6b")] {
            let out = try MPIRun.tempDir("golden-\(method)")
            let d = try MPIRun.runSingle("emd", ["distill", "--teacher", "mixture", "--init", initPath, "--steps", "12", "--batch", "48",
                                                 "--langevin-steps", "4", "--student-steps", "2", "--eval-samples", "0",
                                                 "--method", method, "--out", out.path,
                                                 // The noise levels of the recorded runs, in their units.
                                                 "--noise-units", "absolute", "--sigma-lo", "0.05", "--sigma-hi", "2",
                                                 "--sigma-init", "2.5", "--gamma-z", "0.003"])
            XCTAssertEqual(d.status, 0, d.output)
            let sums = try checksums(out)
            XCTAssertEqual(sums["generator"], [generator], method)
            XCTAssertEqual(sums["student"], [student], method)
        }
    }
}
