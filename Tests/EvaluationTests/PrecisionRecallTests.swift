import XCTest
import Evaluation

final class PrecisionRecallTests: XCTestCase {
    override func setUp() { useOneBLASThread() }

    /// Brute-force squared distance in Double.
    func dist2(_ x: [Float], _ i: Int, _ y: [Float], _ j: Int, _ d: Int) -> Double {
        var s = 0.0
        for c in 0..<d { let v = Double(x[i * d + c]) - Double(y[j * d + c]); s += v * v }
        return s
    }

    /// Precision and recall straight from the definition (O(n^2) loops, Double).
    func reference(real: [Float], nr: Int, fake: [Float], nf: Int, d: Int, k: Int) -> (Double, Double) {
        func radii(_ x: [Float], _ n: Int) -> [Double] {
            (0..<n).map { i in ((0..<n).filter { $0 != i }.map { dist2(x, i, x, $0, d) }.sorted())[k - 1] }
        }
        let rr = radii(real, nr), rf = radii(fake, nf)
        let p = (0..<nf).filter { f in (0..<nr).contains { dist2(fake, f, real, $0, d) <= rr[$0] } }.count
        let r = (0..<nr).filter { i in (0..<nf).contains { dist2(real, i, fake, $0, d) <= rf[$0] } }.count
        return (Double(p) / Double(nf), Double(r) / Double(nr))
    }

    func testKthNeighbourMatchesBruteForceAcrossBlocks() {
        let n = PrecisionRecall.blockRows + 37, d = 3, k = 3
        let x = normals(n * d, seed: 1)
        let r = PrecisionRecall.kthNeighbourSquaredDistances(x, count: n, dimension: d, k: k)
        for i in 0..<n {
            let want = ((0..<n).filter { $0 != i }.map { dist2(x, i, x, $0, d) }.sorted())[k - 1]
            XCTAssertEqual(Double(r[i]), want, accuracy: 1e-4 * max(want, 1e-2), "row \(i)")
        }
    }

    func testMatchesDefinitionOnOverlappingSets() {
        let d = 3, nr = 300, nf = 280
        let real = gaussianSample(count: nr, mean: [0, 0, 0], std: [1, 1, 1], seed: 2)
        let fake = gaussianSample(count: nf, mean: [0.8, 0, 0], std: [1.6, 0.7, 1], seed: 3)
        let got = PrecisionRecall.compute(real: real, realCount: nr, fake: fake, fakeCount: nf, dimension: d, k: 3)
        let want = reference(real: real, nr: nr, fake: fake, nf: nf, d: d, k: 3)
        // Not trivially 0 or 1, so the comparison means something.
        XCTAssertTrue(want.0 > 0.2 && want.0 < 0.98 && want.1 > 0.2 && want.1 < 0.98, "\(want)")
        // Float vs Double distances may flip a point lying exactly on a ball's boundary.
        XCTAssertEqual(got.precision, want.0, accuracy: 1.5 / Double(nf))
        XCTAssertEqual(got.recall, want.1, accuracy: 1.5 / Double(nr))
    }

    func testIdenticalSetsGiveOneAndOne() {
        let d = 5, n = 400
        let x = normals(n * d, seed: 4)
        let pr = PrecisionRecall.compute(real: x, realCount: n, fake: x, fakeCount: n, dimension: d, k: 3)
        XCTAssertEqual(pr.precision, 1)
        XCTAssertEqual(pr.recall, 1)
    }

    func testFarFakesHaveZeroPrecision() {
        let d = 4, n = 300
        let real = normals(n * d, seed: 5)
        let fake = gaussianSample(count: n, mean: [40, 40, 0, 0], std: [1, 1, 1, 1], seed: 6)
        let pr = PrecisionRecall.compute(real: real, realCount: n, fake: fake, fakeCount: n, dimension: d, k: 3)
        XCTAssertEqual(pr.precision, 0)
        XCTAssertEqual(pr.recall, 0)
    }

    func testFakesCoveringHalfTheClustersGiveRecallOneHalf() {
        let d = 2, perCluster = 200
        let centres: [[Double]] = [[0, 0], [30, 0], [0, 30], [30, 30]]
        var real: [Float] = [], fake: [Float] = []
        for (c, m) in centres.enumerated() {
            real += gaussianSample(count: perCluster, mean: m, std: [1, 1], seed: 10 + c)
        }
        for (c, m) in centres.prefix(2).enumerated() {
            fake += gaussianSample(count: 2 * perCluster, mean: m, std: [1, 1], seed: 20 + c)
        }
        let nr = real.count / d, nf = fake.count / d
        let pr = PrecisionRecall.compute(real: real, realCount: nr, fake: fake, fakeCount: nf, dimension: d, k: 3)
        XCTAssertGreaterThan(pr.precision, 0.97)
        XCTAssertEqual(pr.recall, 0.5, accuracy: 0.03)
        XCTAssertLessThanOrEqual(pr.recall, 0.5, "reals of uncovered clusters counted as recalled")
    }
}
