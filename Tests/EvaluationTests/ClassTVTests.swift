import XCTest
import Evaluation

final class ClassTVTests: XCTestCase {
    /// 0.5 * sum |p - q| with the histograms counted here.
    func definition(_ a: [Int], _ b: [Int], classes: Int) -> Double {
        var tv = 0.0
        for c in 0..<classes {
            let p = Double(a.filter { $0 == c }.count) / Double(a.count)
            let q = Double(b.filter { $0 == c }.count) / Double(b.count)
            tv += abs(p - q)
        }
        return tv / 2
    }

    func testHandMadeHistograms() {
        let predicted = [0, 0, 1, 2], reference = [0, 1, 1, 3]
        // p = (1/2, 1/4, 1/4, 0), q = (1/4, 1/2, 0, 1/4)
        XCTAssertEqual(classTV(predicted: predicted, reference: reference, classes: 4), 0.5, accuracy: 1e-12)
        XCTAssertEqual(classTV(predicted: predicted, reference: reference, classes: 4),
                       definition(predicted, reference, classes: 4), accuracy: 1e-12)

        // Different set sizes, ten classes.
        let a = (0..<37).map { ($0 * 7) % 10 }, b = (0..<53).map { ($0 * $0 + 3) % 10 }
        let tv = classTV(predicted: a, reference: b, classes: 10)
        XCTAssertEqual(tv, definition(a, b, classes: 10), accuracy: 1e-12)
        XCTAssertGreaterThan(tv, 0)
        XCTAssertEqual(classTV(predicted: b, reference: a, classes: 10), tv, accuracy: 1e-12)
    }

    func testExtremes() {
        XCTAssertEqual(classTV(predicted: [3, 1, 2, 3], reference: [3, 2, 3, 1], classes: 10), 0, accuracy: 1e-12)
        XCTAssertEqual(classTV(predicted: [0, 1, 0], reference: [5, 6, 7, 8], classes: 10), 1, accuracy: 1e-12)
        XCTAssertEqual(classHistogram([2, 2, 9, 0], classes: 10).reduce(0, +), 1, accuracy: 1e-12)
    }

    /// Conditional accuracy counts the samples predicted as the class they were generated for.
    func testConditionalAccuracy() {
        XCTAssertEqual(ImageEvaluation.conditionalAccuracy(predicted: [0, 1, 2, 2], requested: [0, 1, 2, 2]), 1)
        XCTAssertEqual(ImageEvaluation.conditionalAccuracy(predicted: [0, 1, 2, 2], requested: [0, 2, 1, 2]), 0.5)
        XCTAssertEqual(ImageEvaluation.conditionalAccuracy(predicted: [3, 3, 3], requested: [0, 1, 2]), 0)
    }
}
