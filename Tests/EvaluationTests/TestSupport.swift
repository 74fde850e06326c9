import BLAS
import CounterRNG
import Foundation

/// Standard normals keyed by a test-local seed.
func normals(_ n: Int, seed: Int) -> [Float] {
    Draws.normals(DrawKey(seed: 2024, step: seed, purpose: .test, index: n), count: n)
}

/// Uniforms in (lo, hi).
func uniforms(_ n: Int, seed: Int, lo: Float = 0, hi: Float = 1) -> [Float] {
    var u = [Float](repeating: 0, count: n)
    Draws.uniform(DrawKey(seed: 2025, step: seed, purpose: .test, index: n), into: &u, count: n)
    return u.map { lo + (hi - lo) * $0 }
}

/// `count` rows of `mean + std * z` (per-coordinate mean and std).
func gaussianSample(count: Int, mean: [Double], std: [Double], seed: Int) -> [Float] {
    let d = mean.count
    let z = normals(count * d, seed: seed)
    var x = [Float](repeating: 0, count: count * d)
    for i in 0..<count { for j in 0..<d { x[i * d + j] = Float(mean[j] + std[j] * Double(z[i * d + j])) } }
    return x
}

/// Row-major n x n product in Double (for checks; small matrices only).
func matmul(_ a: [Double], _ b: [Double], n: Int) -> [Double] {
    var c = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for k in 0..<n { let v = a[i * n + k]; for j in 0..<n { c[i * n + j] += v * b[k * n + j] } } }
    return c
}

/// Single-threaded BLAS for the tests (the machine is shared).
func useOneBLASThread() { BLAS.setThreads(1) }

/// Path of the installed Fashion-MNIST, or nil.
func fashionMNISTAvailable() -> Bool {
    let dir = ProcessInfo.processInfo.environment["EMD_FASHION_MNIST_DIR"] ?? "/usr/share/datasets/fashion-mnist"
    return FileManager.default.fileExists(atPath: "\(dir)/train-images-idx3-ubyte.gz")
        && FileManager.default.fileExists(atPath: "\(dir)/t10k-images-idx3-ubyte.gz")
}
