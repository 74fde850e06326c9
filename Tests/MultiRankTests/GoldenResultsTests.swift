import Foundation
import XCTest

/// Results that a refactoring must not change: the final parameter checksums (bit patterns) of
/// a fixed short teacher run and a fixed short distillation, per OpenBLAS kernel (each rounds
/// differently). Cooperlake: recorded with the code before the training runtime was restructured
/// (2026-12-02, an AMD EPYC with AVX-512). Zen: recorded 2026-12-04 with commit 03c53b8 on a
/// Zen 3 EPYC (a guard from then on; it says nothing about older code). On any other kernel the
/// test skips, naming the kernel it found.
final class GoldenResultsTests: XCTestCase {
    struct Recorded {
        let teacher: String
        /// (method, generator, student) checksums of the two distillations.
        let distillations: [(String, String, String)]
    }

    static let recorded: [String: Recorded] = [
        "Cooperlake": Recorded(teacher: "32519ae6a2d6aa2",
                               distillations: [("emd", "d3d3e1eedb2ccb6c", "2b22e0e712bb628f"),
                                               ("baseline", "8656df0ad1f78adf", "51ddb302d3f12f6b")]),
        "Zen": Recorded(teacher: "462d92a4ae1950ba",
                        distillations: [("emd", "b5984d09a5b94198", "3e8628c499262ccd"),
                                        ("baseline", "16aad23b4af4c2fc", "3ff39ed49d45c8a5")]),
    ]

    /// The run's checksums and the recording for the kernel it ran on (skips if there is none).
    func checksums(_ out: URL) throws -> (sums: [String: [String]], recorded: Recorded) {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("ranks.json"))) as? [String: Any]
        let kernel = json?["blas_core"] as? String ?? "unknown"
        guard let recorded = Self.recorded[kernel] else {
            throw XCTSkip("recorded with OpenBLAS's \(Self.recorded.keys.sorted().joined(separator: " and ")) kernels; this machine runs \(kernel)")
        }
        var sums: [String: [String]] = [:]
        for key in ["params", "generator", "student"] { if let v = json?[key] as? [String] { sums[key] = v } }
        return (sums, recorded)
    }

    func testShortTeacherAndDistillationAreBitIdenticalToTheRecordedRuns() throws {
        let teacher = try MPIRun.tempDir("golden-teacher")
        let t = try MPIRun.runSingle("emd", ["train-teacher", "--data", "mixture", "--hidden", "32", "--steps", "60", "--batch", "64",
                                             "--out", teacher.path])
        XCTAssertEqual(t.status, 0, t.output)
        // Outside XCTAssertEqual: a skip thrown inside an assertion is recorded as a failure.
        let (teacherSums, recorded) = try checksums(teacher)
        XCTAssertEqual(teacherSums["params"], [recorded.teacher])
        let initPath = teacher.appendingPathComponent("teacher.safetensors").path
        for (method, generator, student) in recorded.distillations {
            let out = try MPIRun.tempDir("golden-\(method)")
            let d = try MPIRun.runSingle("emd", ["distill", "--teacher", "mixture", "--init", initPath, "--steps", "12", "--batch", "48",
                                                 "--langevin-steps", "4", "--student-steps", "2", "--eval-samples", "0",
                                                 "--method", method, "--out", out.path,
                                                 // The noise levels of the recorded runs, in their units.
                                                 "--noise-units", "absolute", "--sigma-lo", "0.05", "--sigma-hi", "2",
                                                 "--sigma-init", "2.5", "--gamma-z", "0.003"])
            XCTAssertEqual(d.status, 0, d.output)
            let sums = try checksums(out).sums
            XCTAssertEqual(sums["generator"], [generator], method)
            XCTAssertEqual(sums["student"], [student], method)
        }
    }
}
