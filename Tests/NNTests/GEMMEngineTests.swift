import XCTest
import BLAS
import CounterRNG

/// `BLAS.gemm` on each engine against a float64 product, over transpositions, padded leading
/// dimensions, alpha and beta, and shapes on both sides of the oneDNN engine's size threshold.
final class GEMMEngineTests: XCTestCase {
    override func setUp() { BLAS.setThreads(1) }
    override func tearDown() { BLAS.engine = .openblas }

    func values(_ n: Int, _ seed: Int) -> [Float] {
        Draws.normals(DrawKey(seed: 77, step: seed, purpose: .test, index: n), count: n)
    }

    func testEveryEngineMatchesTheDoublePrecisionProduct() {
        let shapes = [(37, 53, 29), (64, 128, 96), (5, 200, 64), (64, 2, 128), (128, 128, 3)]
        for engine in GEMMEngine.allCases {
            BLAS.engine = engine
            for (m, n, k) in shapes {
                for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                    // Stored shapes (row-major) with 3 columns of padding each.
                    let (ar, ac) = ta ? (k, m) : (m, k), (br, bc) = tb ? (n, k) : (k, n)
                    let lda = ac + 3, ldb = bc + 3, ldc = n + 3
                    let a = values(ar * lda, 1), b = values(br * ldb, 2), c0 = values(m * ldc, 3)
                    var c = c0
                    let alpha: Float = 0.7, beta: Float = 0.3
                    BLAS.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                              beta: beta, c: &c, ldc: ldc)
                    var worst = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var s = 0.0
                            for p in 0..<k {
                                let av = Double(ta ? a[p * lda + i] : a[i * lda + p]), bv = Double(tb ? b[j * ldb + p] : b[p * ldb + j])
                                s += av * bv
                            }
                            let want = Double(alpha) * s + Double(beta) * Double(c0[i * ldc + j])
                            worst = max(worst, abs(Double(c[i * ldc + j]) - want))
                        }
                        // The padding of C is left alone.
                        for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], c0[i * ldc + j]) }
                    }
                    XCTAssertLessThan(worst, 2e-5 * Double(k), "\(engine) \(m)x\(n)x\(k) transA \(ta) transB \(tb)")
                }
            }
        }
    }

    /// The oneDNN engine hands large products to oneDNN and leaves those with a small dimension
    /// on OpenBLAS; the OpenBLAS engine never calls oneDNN.
    func testTheOneDNNEngineTakesOnlyLargeProducts() {
        func calls(_ engine: GEMMEngine, _ m: Int, _ n: Int, _ k: Int) -> Int {
            BLAS.engine = engine
            let a = values(m * k, 4), b = values(k * n, 5)
            var c = [Float](repeating: 0, count: m * n)
            let before = BLAS.oneDNNProducts
            BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
            return BLAS.oneDNNProducts - before
        }
        XCTAssertEqual(calls(.onednn, 256, 128, 128), 1)
        XCTAssertEqual(calls(.onednn, 256, 2, 128), 0)
        XCTAssertEqual(calls(.onednn, 8, 128, 128), 0)
        XCTAssertEqual(calls(.openblas, 256, 128, 128), 0)
    }
}
