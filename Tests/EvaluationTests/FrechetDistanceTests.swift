import XCTest
import BLAS
import Evaluation

final class FrechetDistanceTests: XCTestCase {
    override func setUp() { useOneBLASThread() }

    /// Correlated data: z A for a random d x d matrix A.
    func correlated(count: Int, d: Int, seed: Int) -> [Float] {
        let z = normals(count * d, seed: seed), a = normals(d * d, seed: seed + 1000)
        var x = [Float](repeating: 0, count: count * d)
        for i in 0..<count { for k in 0..<d { let v = z[i * d + k]; for j in 0..<d { x[i * d + j] += v * a[k * d + j] } } }
        return x
    }

    func testDistanceOfASetToItselfIsZero() throws {
        let d = 8, n = 600
        let x = correlated(count: n, d: d, seed: 1)
        let fd = try FrechetDistance.compute(a: x, countA: n, b: x, countB: n, dimension: d)
        let stats = FrechetDistance.meanAndCovariance(x, count: n, dimension: d)
        var trace = 0.0
        for j in 0..<d { trace += stats.covariance[j * d + j] }
        XCTAssertGreaterThan(trace, 1)
        XCTAssertLessThan(abs(fd), 1e-7 * trace, "FD(x, x) = \(fd)")
    }

    func testMatchesClosedFormForGaussians() throws {
        let meanA = [0.0, 0.0, 0.0, 0.0], stdA = [1.0, 2.0, 0.5, 1.0]
        let meanB = [1.0, -0.5, 0.0, 0.3], stdB = [1.5, 1.0, 0.5, 0.2]
        let d = 4, n = 40000
        var closed = 0.0
        for j in 0..<d { closed += pow(meanA[j] - meanB[j], 2) + pow(stdA[j] - stdB[j], 2) }
        let a = gaussianSample(count: n, mean: meanA, std: stdA, seed: 10)
        let b = gaussianSample(count: n, mean: meanB, std: stdB, seed: 11)
        let fd = try FrechetDistance.compute(a: a, countA: n, b: b, countB: n, dimension: d)
        XCTAssertEqual(fd, closed, accuracy: 0.04 * closed, "diagonal Gaussians")

        // The same pair rotated by one orthogonal matrix Q (non-diagonal covariances): FD is
        // invariant, so the closed form still holds.
        let g = normals(d * d, seed: 12).map(Double.init)
        let sym = (0..<(d * d)).map { g[$0] + g[($0 % d) * d + $0 / d] }
        let q = try BLAS.symmetricEigen(sym, n: d).vectors
        func rotate(_ x: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: x.count)
            for i in 0..<n { for k in 0..<d { for j in 0..<d { y[i * d + j] += x[i * d + k] * Float(q[j * d + k]) } } }
            return y
        }
        let ra = rotate(a), rb = rotate(b)
        let stats = FrechetDistance.meanAndCovariance(ra, count: n, dimension: d)
        XCTAssertGreaterThan(abs(stats.covariance[1]) + abs(stats.covariance[2]), 0.1, "rotation left covariance diagonal")
        let fdRotated = try FrechetDistance.compute(a: ra, countA: n, b: rb, countB: n, dimension: d)
        XCTAssertEqual(fdRotated, closed, accuracy: 0.04 * closed, "rotated Gaussians")
        XCTAssertEqual(fdRotated, fd, accuracy: 1e-5 * closed, "FD changed under a common rotation")
    }

    func testIsSymmetric() throws {
        let d = 6
        let a = correlated(count: 500, d: d, seed: 20)
        let b = gaussianSample(count: 300, mean: [1, 0, 0, 2, 0, 0], std: [1, 2, 3, 1, 1, 0.5], seed: 21)
        let ab = try FrechetDistance.compute(a: a, countA: 500, b: b, countB: 300, dimension: d)
        let ba = try FrechetDistance.compute(a: b, countA: 300, b: a, countB: 500, dimension: d)
        XCTAssertGreaterThan(ab, 1)
        XCTAssertEqual(ab, ba, accuracy: 1e-9 * ab)
    }

    func testMatrixSquareRootSquaresBack() throws {
        let n = 12
        let g = normals(n * n, seed: 30).map(Double.init)
        // S = G G^T + 0.1 I (SPD).
        var s = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { s[i * n + j] += g[i * n + k] * g[j * n + k] } } }
        for i in 0..<n { s[i * n + i] += 0.1 }
        let r = try FrechetDistance.matrixSquareRoot(s, n: n)
        let rr = matmul(r, r, n: n)
        var maxErr = 0.0, maxS = 0.0
        for i in 0..<(n * n) { maxErr = max(maxErr, abs(rr[i] - s[i])); maxS = max(maxS, abs(s[i])) }
        XCTAssertLessThan(maxErr, 1e-10 * maxS, "sqrt(S)^2 - S")
        for i in 0..<n { for j in 0..<n { XCTAssertEqual(r[i * n + j], r[j * n + i], accuracy: 1e-12 * maxS) } }
        // The principal root is positive definite.
        let e = try BLAS.symmetricEigen(r, n: n)
        XCTAssertGreaterThan(e.values[0], 0)

        // Rank-deficient PSD matrix (v v^T): round-off eigenvalues are clamped, root still squares back.
        let v = (0..<n).map { Double($0) - 5 }
        var p = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { p[i * n + j] = v[i] * v[j] } }
        let rp = try FrechetDistance.matrixSquareRoot(p, n: n)
        XCTAssertTrue(rp.allSatisfy { $0.isFinite })
        let pp = matmul(rp, rp, n: n)
        for i in 0..<(n * n) { XCTAssertEqual(pp[i], p[i], accuracy: 1e-8 * 36) }
    }
}
