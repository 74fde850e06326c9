import NN
import CounterRNG

/// EDM samplers over any `Denoiser`: deterministic Heun (2N - 1 evaluations) and Euler (N).
public enum Sampler: String, Codable, Sendable, CaseIterable {
    case heun, euler

    /// Function evaluations for `steps` noise levels.
    public func nfe(steps: Int) -> Int { self == .heun ? max(1, 2 * steps - 1) : steps }

    /// Draw `count` samples, starting from sigma_max * n with n keyed by (seed, global index);
    /// `first` is the global index of the first sample (ranks draw disjoint ranges).
    public func sample(_ denoiser: Denoiser, edm: EDMConfig, steps: Int, count: Int, seed: UInt64, first: Int = 0,
                       chunk: Int = 256) -> [Float] {
        let d = denoiser.dimension
        var out = [Float](repeating: 0, count: count * d)
        let t = edm.schedule(steps: steps)
        let x = Tensor(shape: [chunk, d]), den = Tensor(shape: [chunk, d]), dir = Tensor(shape: [chunk, d])
        let next = Tensor(shape: [chunk, d]), sig = Tensor(shape: [chunk])
        var start = 0
        while start < count {
            let n = min(chunk, count - start)
            for b in 0..<n {
                Draws.normal(DrawKey(seed: seed, step: 0, purpose: .sampling, index: first + start + b),
                             into: x.data + b * d, count: d)
            }
            for i in 0..<(n * d) { x[i] *= t[0] }
            for i in 0..<steps {
                let ti = t[i], tn = t[i + 1]
                for b in 0..<n { sig[b] = ti }
                denoiser.denoise(x.data, sigma: sig.data, out: den.data, batch: n)
                for j in 0..<(n * d) {
                    dir[j] = (x[j] - den[j]) / ti
                    next[j] = x[j] + (tn - ti) * dir[j]
                }
                if self == .heun && tn > 0 {
                    for b in 0..<n { sig[b] = tn }
                    denoiser.denoise(next.data, sigma: sig.data, out: den.data, batch: n)
                    for j in 0..<(n * d) {
                        let d2 = (next[j] - den[j]) / tn
                        next[j] = x[j] + (tn - ti) * 0.5 * (dir[j] + d2)
                    }
                }
                x.data.update(from: next.data, count: n * d)
            }
            out.withUnsafeMutableBufferPointer { o in (o.baseAddress! + start * d).update(from: x.data, count: n * d) }
            start += n
        }
        return out
    }
}
