import Diffusion
import Evaluation
import XCTest

/// Training sizes and labels from flags and label files are checked with real errors (the
/// release build drops preconditions: a label of 12 wrote outside the 10 logits, batch 0 crashed).
final class ClassifierInputTests: XCTestCase {
    func dataset(labels: [Int]) throws -> ArrayDataset {
        let d = ImageClassifier.imageSize
        return try ArrayDataset(name: "tiny", count: labels.count, dimension: d,
                                values: (0..<(labels.count * d)).map { Float($0 % 13) / 6.5 - 1 }, labels: labels, imageSide: 28)
    }

    func testOutOfRangeLabelIsRefused() throws {
        let model = ImageClassifier(channels: [2, 2, 2], hidden: 4, seed: 1)
        XCTAssertThrowsError(try ClassifierTrainer(model: model, dataset: try dataset(labels: [0, 1, 12, 3]), steps: 1, batch: 2)) { e in
            XCTAssertTrue("\(e)".contains("label 12 of image 3"), "\(e)")
        }
        XCTAssertThrowsError(try ClassifierTrainer(model: model, dataset: try dataset(labels: [0, -1]), steps: 1, batch: 2))
    }

    func testBadStepsAndBatchAreRefused() throws {
        let model = ImageClassifier(channels: [2, 2, 2], hidden: 4, seed: 1)
        let data = try dataset(labels: [0, 1, 2, 3])
        for (steps, batch) in [(1, 0), (1, -1), (-1, 2), (1, 1 << 40)] {
            XCTAssertThrowsError(try ClassifierTrainer(model: model, dataset: data, steps: steps, batch: batch), "steps \(steps) batch \(batch)")
        }
        XCTAssertNoThrow(try ClassifierTrainer(model: model, dataset: data, steps: 1, batch: 2).trainStep())
    }
}
