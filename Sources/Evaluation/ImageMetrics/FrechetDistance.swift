import BLAS

/// Frechet distance between Gaussians fitted to two sets of feature vectors (the FID formula
/// on any features): |mu_a - mu_b|^2 + tr(Sa) + tr(Sb) - 2 tr(sqrt(sqrt(Sa) Sb sqrt(Sa))).
public enum FrechetDistance {
    /// The distance between the Gaussian fits of `countA` rows of `a` and `countB` rows of `b`
    /// (row-major, `dimension` columns). Statistics are accumulated in Double.
    public static func compute(a: [Float], countA: Int, b: [Float], countB: Int, dimension: Int) throws -> Double {
        let sa = meanAndCovariance(a, count: countA, dimension: dimension)
        let sb = meanAndCovariance(b, count: countB, dimension: dimension)
        return try distance(meanA: sa.mean, covarianceA: sa.covariance, meanB: sb.mean, covarianceB: sb.covariance,
                            dimension: dimension)
    }

    /// Mean and unbiased covariance (denominator count - 1, row-major d x d) of `count` rows.
    public static func meanAndCovariance(_ x: [Float], count: Int, dimension d: Int) -> (mean: [Double], covariance: [Double]) {
        precondition(d > 0 && count >= 2, "need at least two vectors of positive dimension")
        precondition(x.count >= count * d, "\(x.count) values do not hold \(count) vectors of \(d)")
        var mean = [Double](repeating: 0, count: d)
        x.withUnsafeBufferPointer { xs in
            mean.withUnsafeMutableBufferPointer { m in
                for r in 0..<count {
                    let row = xs.baseAddress! + r * d
                    for j in 0..<d { m[j] += Double(row[j]) }
                }
                for j in 0..<d { m[j] /= Double(count) }
            }
        }
        // Centred rows in Double, then C = X^T X / (n - 1) in one dgemm (by row blocks to bound memory).
        var cov = [Double](repeating: 0, count: d * d)
        let block = max(1, min(count, (1 << 20) / d))
        var centred = [Double](repeating: 0, count: block * d)
        x.withUnsafeBufferPointer { xs in
            mean.withUnsafeBufferPointer { m in
                centred.withUnsafeMutableBufferPointer { c in
                    cov.withUnsafeMutableBufferPointer { cv in
                        var start = 0
                        while start < count {
                            let n = min(block, count - start)
                            for r in 0..<n {
                                let src = xs.baseAddress! + (start + r) * d, dst = c.baseAddress! + r * d
                                for j in 0..<d { dst[j] = Double(src[j]) - m[j] }
                            }
                            BLAS.dgemm(transA: true, m: d, n: d, k: n, alpha: 1 / Double(count - 1),
                                       a: c.baseAddress!, lda: d, b: c.baseAddress!, ldb: d,
                                       beta: start == 0 ? 0 : 1, c: cv.baseAddress!, ldc: d)
                            start += n
                        }
                    }
                }
            }
        }
        return (mean, cov)
    }

    /// The Frechet distance between N(meanA, covarianceA) and N(meanB, covarianceB).
    public static func distance(meanA: [Double], covarianceA: [Double], meanB: [Double], covarianceB: [Double],
                                dimension d: Int) throws -> Double {
        precondition(meanA.count == d && meanB.count == d && covarianceA.count == d * d && covarianceB.count == d * d)
        var meanTerm = 0.0, trace = 0.0
        for j in 0..<d {
            meanTerm += (meanA[j] - meanB[j]) * (meanA[j] - meanB[j])
            trace += covarianceA[j * d + j] + covarianceB[j * d + j]
        }
        // tr sqrt(Sa^1/2 Sb Sa^1/2) = sum of the square roots of that SPD product's eigenvalues.
        let rootA = try matrixSquareRoot(covarianceA, n: d)
        var tmp = [Double](repeating: 0, count: d * d), product = tmp
        BLAS.dgemm(m: d, n: d, k: d, a: rootA, lda: d, b: covarianceB, ldb: d, c: &tmp, ldc: d)
        BLAS.dgemm(m: d, n: d, k: d, a: tmp, lda: d, b: rootA, ldb: d, c: &product, ldc: d)
        symmetrize(&product, n: d)
        let eigen = try BLAS.symmetricEigen(product, n: d)
        var crossTrace = 0.0
        for v in eigen.values { crossTrace += max(v, 0).squareRoot() }
        return meanTerm + trace - 2 * crossTrace
    }

    /// The symmetric positive semi-definite square root of a symmetric n x n matrix (row-major),
    /// through its eigendecomposition; negative eigenvalues (round-off) are clamped to 0.
    public static func matrixSquareRoot(_ s: [Double], n: Int) throws -> [Double] {
        precondition(s.count == n * n)
        var sym = s
        symmetrize(&sym, n: n)
        let eigen = try BLAS.symmetricEigen(sym, n: n)
        // Rows of V are eigenvectors: sqrt(S) = V^T diag(sqrt(lambda)) V.
        var scaled = eigen.vectors
        for i in 0..<n {
            let r = max(eigen.values[i], 0).squareRoot()
            for j in 0..<n { scaled[i * n + j] *= r }
        }
        var root = [Double](repeating: 0, count: n * n)
        BLAS.dgemm(transA: true, m: n, n: n, k: n, a: eigen.vectors, lda: n, b: scaled, ldb: n, c: &root, ldc: n)
        symmetrize(&root, n: n)
        return root
    }

    static func symmetrize(_ m: inout [Double], n: Int) {
        for i in 0..<n {
            for j in (i + 1)..<n {
                let v = 0.5 * (m[i * n + j] + m[j * n + i])
                m[i * n + j] = v
                m[j * n + i] = v
            }
        }
    }
}
