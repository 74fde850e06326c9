#if canImport(Glibc)
import Glibc
#endif

/// Fourier features of a scalar per sample (the diffusion noise level c_noise):
/// [cos(2 pi f_i c), sin(2 pi f_i c)] with fixed log-spaced frequencies f_i.
/// Parameter-free; its input gradient exists for completeness and gradient checks.
public struct FourierEmbedding: Sendable {
    /// Output width (even).
    public let dimension: Int
    public let frequencies: [Float]

    /// Frequencies log-spaced in [minFrequency, maxFrequency] (cycles per unit of input).
    public init(dimension: Int, minFrequency: Float = 0.05, maxFrequency: Float = 8) {
        precondition(dimension % 2 == 0, "embedding dimension must be even")
        self.dimension = dimension
        let half = dimension / 2
        frequencies = (0..<half).map { i in
            let t = half > 1 ? Float(i) / Float(half - 1) : 0
            return 2 * Float.pi * minFrequency * powf(maxFrequency / minFrequency, t)
        }
    }

    /// y[batch, dimension] from c[batch].
    public func forward(_ c: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        let half = dimension / 2
        frequencies.withUnsafeBufferPointer { f in
            for b in 0..<batch {
                let row = y + b * dimension
                if b > 0 && c[b] == c[b - 1] {
                    // Runs of equal noise levels (the generator's fixed sigma_init) share a row.
                    row.update(from: row - dimension, count: dimension)
                    continue
                }
                for i in 0..<half {
                    let a = f[i] * c[b]
                    row[i] = cosf(a)
                    row[half + i] = sinf(a)
                }
            }
        }
    }

    /// dc[batch] = d(sum dy * y)/dc.
    public func backward(_ c: UnsafePointer<Float>, dy: UnsafePointer<Float>, dc: UnsafeMutablePointer<Float>, batch: Int) {
        let half = dimension / 2
        frequencies.withUnsafeBufferPointer { f in
            for b in 0..<batch {
                let row = dy + b * dimension
                var s: Float = 0
                for i in 0..<half {
                    let a = f[i] * c[b]
                    s += -row[i] * f[i] * sinf(a) + row[half + i] * f[i] * cosf(a)
                }
                dc[b] = s
            }
        }
    }
}
