import Foundation
import CounterRNG
import Diffusion

/// How far a denoiser is from a reference denoiser (the exact one of a sample set,
/// `EmpiricalDenoiser`) at each noise level, on noisy versions x = x0 + sigma n of clean queries
/// x0. All errors are mean squares per coordinate.
public enum DenoiserError {
    /// One noise level's figures.
    public struct Row: Sendable {
        public var sigma: Float
        /// |D_ref(x) - x0|^2: the reference's own denoising error (irreducible for the best denoiser).
        public var referenceToClean: Double
        /// |D(x) - x0|^2: the denoiser's denoising error.
        public var denoiserToClean: Double
        /// |D(x) - D_ref(x)|^2: the denoiser's error against the reference.
        public var error: Double
        /// |D_ref(x) - mean D_ref|^2 over the queries: how much the reference's answer depends
        /// on x at this level (what a denoiser has to get right; it goes to 0 as sigma grows).
        public var signal: Double
        /// |D_ref(x) - mean over the queries of its class of D_ref|^2 (with labels; else `signal`):
        /// the part of the variation that tells samples of one class apart.
        public var withinClassSignal: Double
        /// Median over the queries of the reference's effective number of samples.
        public var medianEffectiveCount: Float

        /// error / signal: the share of the reference's variation that the denoiser gets wrong
        /// (0: exact; 1: no better than answering the mean).
        public var relativeError: Double { signal > 0 ? error / signal : .infinity }
        /// error / withinClassSignal.
        public var withinClassRelativeError: Double { withinClassSignal > 0 ? error / withinClassSignal : .infinity }
    }

    /// The figures at each of `sigmas` (absolute) over `count` queries (rows of `queries`) of
    /// classes `labels` (optional; they group the within-class signal), passed to both
    /// denoisers when `conditional` ("no class" otherwise). Noise comes from `seed`; the same
    /// draws at every level, scaled.
    public static func measure(_ denoiser: Denoiser, reference: ExactDenoiser, queries: [Float], count: Int,
                               labels: [Int32]?, conditional: Bool, sigmas: [Float], seed: UInt64, chunk: Int) -> [Row] {
        precondition(!conditional || labels != nil, "conditional measurement needs labels")
        let d = reference.dimension
        precondition(denoiser.dimension == d && queries.count >= count * d, "queries and denoisers must share the dimension")
        var noise = [Float](repeating: 0, count: count * d)
        Draws.normal(DrawKey(seed: seed, step: 0, purpose: .dataNoise, index: 0), into: &noise, count: count * d)
        var rows: [Row] = []
        for s in sigmas {
            var x = [Float](repeating: 0, count: count * d)
            for i in 0..<(count * d) { x[i] = queries[i] + s * noise[i] }
            var net = [Float](repeating: 0, count: count * d), ref = net
            var effective: [Float] = []
            let sig = [Float](repeating: s, count: chunk)
            var first = 0
            while first < count {
                let n = min(chunk, count - first)
                func run(_ lb: UnsafePointer<Int32>?) {
                    x.withUnsafeBufferPointer { xp in
                        let xb = xp.baseAddress! + first * d
                        net.withUnsafeMutableBufferPointer { denoiser.denoise(xb, sigma: sig, labels: lb, out: $0.baseAddress! + first * d, batch: n) }
                        ref.withUnsafeMutableBufferPointer { reference.denoise(xb, sigma: sig, labels: lb, out: $0.baseAddress! + first * d, batch: n) }
                    }
                }
                if conditional, let labels { labels.withUnsafeBufferPointer { run($0.baseAddress! + first) } } else { run(nil) }
                effective += reference.effectiveCount
                first += n
            }
            // The reference's mean answer over all queries and over each class's queries.
            let groupOf: [Int] = labels.map { l in l.prefix(count).map { Int($0) } } ?? [Int](repeating: 0, count: count)
            let groups = (groupOf.max() ?? 0) + 1
            var mean = [Double](repeating: 0, count: d), classMean = [Double](repeating: 0, count: groups * d)
            var members = [Double](repeating: 0, count: groups)
            for b in 0..<count {
                members[groupOf[b]] += 1
                for j in 0..<d {
                    mean[j] += Double(ref[b * d + j]) / Double(count)
                    classMean[groupOf[b] * d + j] += Double(ref[b * d + j])
                }
            }
            for g in 0..<groups where members[g] > 0 { for j in 0..<d { classMean[g * d + j] /= members[g] } }
            var r = Row(sigma: s, referenceToClean: 0, denoiserToClean: 0, error: 0, signal: 0, withinClassSignal: 0,
                        medianEffectiveCount: 0)
            for b in 0..<count {
                for j in 0..<d {
                    let i = b * d + j, x0 = Double(queries[i]), dn = Double(net[i]), dr = Double(ref[i])
                    let dc = dr - classMean[groupOf[b] * d + j]
                    r.referenceToClean += (dr - x0) * (dr - x0)
                    r.denoiserToClean += (dn - x0) * (dn - x0)
                    r.error += (dn - dr) * (dn - dr)
                    r.signal += (dr - mean[j]) * (dr - mean[j])
                    r.withinClassSignal += dc * dc
                }
            }
            let total = Double(count * d)
            r.referenceToClean /= total; r.denoiserToClean /= total; r.error /= total; r.signal /= total
            r.withinClassSignal /= total
            r.medianEffectiveCount = effective.sorted()[effective.count / 2]
            rows.append(r)
        }
        return rows
    }
}
