import BLAS

/// Improved precision and recall of a generative model (Kynkaanniemi et al. 2019) on feature
/// vectors. Each point of a set gets a ball whose radius is the distance to its k-th nearest
/// other point of the same set; precision is the fraction of fake points inside some real ball,
/// recall the fraction of real points inside some fake ball. Pairwise squared distances are
/// computed |x|^2 + |y|^2 - 2 x.y with one GEMM per block of rows, so memory stays at
/// `blockRows` x (set size) distances.
public enum PrecisionRecall {
    /// Rows of the distance matrix held at once.
    public static let blockRows = 256

    /// Precision and recall of `fakeCount` fake rows against `realCount` real rows (row-major,
    /// `dimension` columns) with k-nearest-neighbour radii.
    public static func compute(real: [Float], realCount: Int, fake: [Float], fakeCount: Int, dimension d: Int,
                               k: Int = 3) -> (precision: Double, recall: Double) {
        precondition(d > 0 && k >= 1 && realCount > k && fakeCount > k, "need more than k points in each set")
        precondition(real.count >= realCount * d && fake.count >= fakeCount * d)
        // Centre both sets on the real mean: distances are unchanged, cancellation is smaller.
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<realCount { for j in 0..<d { mean[j] += Double(real[r * d + j]) } }
        let mf = mean.map { Float($0 / Double(realCount)) }
        var r = [Float](repeating: 0, count: realCount * d), f = [Float](repeating: 0, count: fakeCount * d)
        for i in 0..<realCount { for j in 0..<d { r[i * d + j] = real[i * d + j] - mf[j] } }
        for i in 0..<fakeCount { for j in 0..<d { f[i * d + j] = fake[i * d + j] - mf[j] } }

        let realRadii = kthNeighbourSquaredDistances(r, count: realCount, dimension: d, k: k)
        let fakeRadii = kthNeighbourSquaredDistances(f, count: fakeCount, dimension: d, k: k)
        var fakeInside = [Bool](repeating: false, count: fakeCount)
        var realCovered = [Bool](repeating: false, count: realCount)
        realRadii.withUnsafeBufferPointer { rr in
            fakeRadii.withUnsafeBufferPointer { fr in
                fakeInside.withUnsafeMutableBufferPointer { inside in
                    realCovered.withUnsafeMutableBufferPointer { covered in
                        forEachDistanceBlock(f, fakeCount, r, realCount, d) { row0, rows, dist in
                            for i in 0..<rows {
                                let di = dist + i * realCount
                                let fakeRadius = fr[row0 + i]
                                var isInside = false
                                for j in 0..<realCount {
                                    let dij = di[j]
                                    if dij <= rr[j] { isInside = true }
                                    if dij <= fakeRadius { covered[j] = true }
                                }
                                inside[row0 + i] = isInside
                            }
                        }
                    }
                }
            }
        }
        let precision = Double(fakeInside.lazy.filter { $0 }.count) / Double(fakeCount)
        let recall = Double(realCovered.lazy.filter { $0 }.count) / Double(realCount)
        return (precision, recall)
    }

    /// Squared distance from each of `count` rows to its k-th nearest other row (itself
    /// excluded; duplicates count at distance 0).
    public static func kthNeighbourSquaredDistances(_ x: [Float], count: Int, dimension d: Int, k: Int) -> [Float] {
        precondition(k >= 1 && count > k && x.count >= count * d)
        var out = [Float](repeating: 0, count: count)
        let best = UnsafeMutablePointer<Float>.allocate(capacity: k)
        defer { best.deallocate() }
        out.withUnsafeMutableBufferPointer { o in
            forEachDistanceBlock(x, count, x, count, d) { row0, rows, dist in
                for i in 0..<rows {
                    let di = dist + i * count, me = row0 + i
                    best.update(repeating: .infinity, count: k)
                    // `best` holds the k smallest distances so far, ascending.
                    for j in 0..<count where j != me {
                        let v = di[j]
                        if v < best[k - 1] {
                            var l = k - 1
                            while l > 0 && best[l - 1] > v { best[l] = best[l - 1]; l -= 1 }
                            best[l] = v
                        }
                    }
                    o[me] = best[k - 1]
                }
            }
        }
        return out
    }

    /// Calls `body(firstRow, rows, distances)` for blocks of rows of `a`, where `distances` is
    /// the rows x countB matrix of squared distances to the rows of `b` (clamped at 0).
    static func forEachDistanceBlock(_ a: [Float], _ countA: Int, _ b: [Float], _ countB: Int, _ d: Int,
                                     _ body: (Int, Int, UnsafePointer<Float>) -> Void) {
        let normsA = squaredNorms(a, countA, d), normsB = squaredNorms(b, countB, d)
        let rowsPerBlock = min(blockRows, countA)
        let dist = UnsafeMutablePointer<Float>.allocate(capacity: rowsPerBlock * countB)
        defer { dist.deallocate() }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                var row0 = 0
                while row0 < countA {
                    let rows = min(rowsPerBlock, countA - row0)
                    BLAS.gemm(transB: true, m: rows, n: countB, k: d, alpha: -2, a: ap.baseAddress! + row0 * d, lda: d,
                              b: bp.baseAddress!, ldb: d, c: dist, ldc: countB)
                    for i in 0..<rows {
                        let di = dist + i * countB, na = normsA[row0 + i]
                        for j in 0..<countB { di[j] = max(di[j] + na + normsB[j], 0) }
                    }
                    body(row0, rows, dist)
                    row0 += rows
                }
            }
        }
    }

    static func squaredNorms(_ x: [Float], _ count: Int, _ d: Int) -> [Float] {
        (0..<count).map { i in
            var s: Double = 0
            for j in 0..<d { s += Double(x[i * d + j]) * Double(x[i * d + j]) }
            return Float(s)
        }
    }
}
