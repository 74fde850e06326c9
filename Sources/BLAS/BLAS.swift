import COpenBLAS
import CDNNL
#if canImport(Glibc)
import Glibc
#endif

/// The library that runs `BLAS.gemm`'s single-precision products.
public enum GEMMEngine: String, CaseIterable, Sendable {
    /// OpenBLAS's cblas_sgemm for every product (the default).
    case openblas
    /// oneDNN's dnnl_sgemm for products whose three dimensions all reach
    /// `BLAS.oneDNNSmallestDimension`, OpenBLAS for the rest (oneDNN is several times slower on
    /// the mixture network's 2-wide products; docs/performance.md).
    case onednn
}

/// Thin Swift front over OpenBLAS (and optionally oneDNN's sgemm): every matrix product in the
/// project goes through `gemm`.
public enum BLAS {
    /// Set the number of OpenBLAS threads for this process (one per MPI rank by default); the
    /// oneDNN engine uses as many.
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
        oneDNNThreads = Int32(max(1, n))
    }

    /// The engine of single-precision products (the CLI sets it from `EMD_GEMM`). The engines may
    /// round differently (another blocking of the sums; on the mixture network's products they
    /// were found bit-identical), so a run's engine is part of what reproduces it bit for bit.
    nonisolated(unsafe) public static var engine: GEMMEngine = .openblas
    /// With the oneDNN engine, products with m, n or k below this stay on OpenBLAS.
    nonisolated(unsafe) public static var oneDNNSmallestDimension = 16
    nonisolated(unsafe) static var oneDNNThreads: Int32 = 1
    /// Products `gemm` has handed to oneDNN in this process (a count for tests and benchmarks).
    nonisolated(unsafe) public internal(set) static var oneDNNProducts = 0

    /// The kernel family OpenBLAS chose for this CPU (or was told to use by
    /// `OPENBLAS_CORETYPE`), e.g. "Haswell", "SkylakeX", "Cooperlake".
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// Number of threads OpenBLAS will use.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C = alpha * op(A) * op(B) + beta * C, all row-major.
    /// op(A) is m x k, op(B) is k x n, C is m x n. Leading dimensions are the row lengths of
    /// the stored (untransposed) matrices.
    @inlinable
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if engine == .onednn, min(m, n, k) >= oneDNNSmallestDimension {
            return oneDNNGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                              beta: beta, c: c, ldc: ldc)
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// `gemm` on oneDNN's dnnl_sgemm.
    @usableFromInline
    static func oneDNNGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                           b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let status = emd_sgemm(transA ? 84 : 78, transB ? 84 : 78, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, oneDNNThreads)
        precondition(status == 0, "oneDNN sgemm (\(m) x \(n) x \(k)) failed with status \(status)")
        oneDNNProducts &+= 1
    }

    /// Double-precision `gemm`, row-major.
    @inlinable
    public static func dgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Double = 1, a: UnsafePointer<Double>, lda: Int,
                             b: UnsafePointer<Double>, ldb: Int,
                             beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// Eigendecomposition of a symmetric n x n matrix (LAPACK `dsyev`).
    /// Returns eigenvalues ascending and eigenvectors as the rows of a row-major n x n matrix.
    public static func symmetricEigen(_ matrix: [Double], n: Int) throws -> (values: [Double], vectors: [Double]) {
        precondition(matrix.count == n * n)
        // Column-major LAPACK on a symmetric matrix: the input needs no transpose.
        var a = matrix
        var w = [Double](repeating: 0, count: n)
        var nn = Int32(n), lda = Int32(n), info: Int32 = 0, lwork: Int32 = -1
        var query = 0.0
        var jobz = CChar(UInt8(ascii: "V")), uplo = CChar(UInt8(ascii: "U"))
        dsyev_(&jobz, &uplo, &nn, &a, &lda, &w, &query, &lwork, &info)
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(1, Int(lwork)))
        dsyev_(&jobz, &uplo, &nn, &a, &lda, &w, &work, &lwork, &info)
        if info != 0 { throw LinearAlgebraError.eigenFailed(info: Int(info)) }
        // Column-major output: eigenvector j is column j, i.e. row j of `a` read row-major.
        return (w, a)
    }
}

/// A LAPACK routine reported failure.
public enum LinearAlgebraError: Error, CustomStringConvertible {
    case eigenFailed(info: Int)
    public var description: String {
        switch self {
        case .eigenFailed(let info): return "symmetric eigendecomposition failed (LAPACK info \(info))"
        }
    }
}
