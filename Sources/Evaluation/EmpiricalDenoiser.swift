import Foundation
import BLAS
import Diffusion

/// An exact denoiser that reports, per row of its last call, how many samples its answer
/// averages over.
public protocol ExactDenoiser: Denoiser {
    var effectiveCount: [Float] { get }
}

/// The exact denoiser of a finite sample set taken as the data distribution (every sample
/// equally likely): D(x; sigma) = sum_i w_i(x) x_i with w = softmax_i(-|x - x_i|^2 / (2 sigma^2)),
/// the posterior mean E[x0 | x] when x0 is one of the samples. Against a trained denoiser it
/// says how well the network learned its training set's posterior mean at each noise level;
/// where the weights spread over many samples (`effectiveCount` large) it also stands for the
/// population's. With labels, the class-conditional version: only samples of the query's class
/// take part ("no class", nil labels: all of them). Two GEMMs per call: the distances and the
/// weighted sum.
public final class EmpiricalDenoiser: ExactDenoiser {
    public let dimension: Int
    public let count: Int
    let samples: [Float]
    let sampleLabels: [Int32]?
    let squaredNorms: [Float]
    /// Rows of the weight matrix held at once (the batch is split into chunks of this size).
    let chunk: Int
    var weights: [Float]
    /// 1 / sum_i w_i^2 of each row of the last call: how many samples the posterior mean
    /// averages over (1: it returns the nearest sample).
    public private(set) var effectiveCount: [Float] = []

    /// `samples` holds `count` rows of `dimension` values; `labels` (optional) one class each.
    public init(samples: [Float], count: Int, dimension: Int, labels: [Int]? = nil, chunk: Int = 64) {
        precondition(count > 0 && samples.count == count * dimension, "samples must hold count x dimension values")
        precondition(labels == nil || labels!.count == count, "one label per sample")
        self.samples = samples
        self.count = count
        self.dimension = dimension
        sampleLabels = labels.map { $0.map(Int32.init) }
        squaredNorms = (0..<count).map { i in
            var s: Float = 0
            for j in 0..<dimension { let v = samples[i * dimension + j]; s += v * v }
            return s
        }
        self.chunk = max(1, chunk)
        weights = [Float](repeating: 0, count: self.chunk * count)
    }

    public func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, batch: Int) {
        denoise(x, sigma: sigma, labels: nil, out: out, batch: batch)
    }

    public func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, labels: UnsafePointer<Int32>?,
                        out: UnsafeMutablePointer<Float>, batch: Int) {
        effectiveCount = [Float](repeating: 0, count: batch)
        let n = count, d = dimension
        samples.withUnsafeBufferPointer { xs in
            weights.withUnsafeMutableBufferPointer { w in
                var start = 0
                while start < batch {
                    let rows = min(chunk, batch - start)
                    // w[b, i] = x_b . x_i, then the log-weight -(|x_i|^2 - 2 x_b . x_i) / (2 sigma_b^2)
                    // (|x_b|^2 is the same for every i and cancels in the softmax).
                    BLAS.gemm(transB: true, m: rows, n: n, k: d, a: x + start * d, lda: d, b: xs.baseAddress!, ldb: d,
                              c: w.baseAddress!, ldc: n)
                    for r in 0..<rows {
                        let b = start + r
                        let scale = 1 / (2 * sigma[b] * sigma[b])
                        let row = w.baseAddress! + r * n
                        var top = -Float.infinity
                        for i in 0..<n {
                            if let labels, let own = sampleLabels, own[i] != labels[b] { row[i] = -.infinity; continue }
                            row[i] = (2 * row[i] - squaredNorms[i]) * scale
                            top = max(top, row[i])
                        }
                        precondition(top > -.infinity, "no sample of class \(labels?[b] ?? -1)")
                        var total: Float = 0
                        for i in 0..<n { row[i] = exp(row[i] - top); total += row[i] }
                        var squares: Float = 0
                        for i in 0..<n { row[i] /= total; squares += row[i] * row[i] }
                        effectiveCount[b] = 1 / squares
                    }
                    BLAS.gemm(m: rows, n: d, k: n, a: w.baseAddress!, lda: n, b: xs.baseAddress!, ldb: d,
                              c: out + start * d, ldc: d)
                    start += rows
                }
            }
        }
    }
}

/// Guidance over the exact denoiser: the effective counts are those of its last call, the
/// conditional branch's.
extension GuidedDenoiser: ExactDenoiser where Base == EmpiricalDenoiser {
    public var effectiveCount: [Float] { base.effectiveCount }
}
