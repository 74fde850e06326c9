import Training
import NN
import CounterRNG

/// EDM samplers over any `Denoiser`: deterministic Heun (2N - 1 evaluations) and Euler (N).
public enum Sampler: String, Codable, Sendable, CaseIterable {
    case heun, euler

    /// Function evaluations for `steps` noise levels.
    public func nfe(steps: Int) -> Int { self == .heun ? max(1, 2 * steps - 1) : steps }

    /// Draw `count` samples, starting from sigma_max * n with n keyed by (seed, global index);
    /// `first` is the global index of the first sample (ranks draw disjoint ranges). `labels`
    /// (one per sample, for class-conditional denoisers) are passed to every evaluation.
    public func sample(_ denoiser: Denoiser, edm: EDMConfig, steps: Int, count: Int, seed: UInt64, first: Int = 0,
                       chunk: Int = 256, labels: [Int32]? = nil) -> [Float] {
        // Without a stop condition the run always completes.
        run(denoiser, edm: edm, steps: steps, count: count, seed: seed, first: first, chunk: chunk, labels: labels, stop: nil)!
    }

    /// Like `sample`, but asks `stop` between chunks and between noise levels (a stop signal
    /// must end a long run promptly) and validates its sizes: `steps` and `count` must be at
    /// least 1 and `count * dimension` must not overflow. Throws `SamplingStopped` when `stop`
    /// returned true, `ConfigError` for bad sizes. Same samples as `sample` otherwise.
    public func sample(_ denoiser: Denoiser, edm: EDMConfig, steps: Int, count: Int, seed: UInt64, first: Int = 0,
                       chunk: Int = 256, labels: [Int32]? = nil, stop: () -> Bool) throws -> [Float] {
        guard steps >= 1 else { throw ConfigError("sampler: \(steps) noise levels; at least 1 is needed") }
        guard count >= 1, first >= 0, chunk >= 1 else { throw ConfigError("sampler: count \(count) must be at least 1") }
        if let labels, labels.count != count { throw ConfigError("sampler: \(labels.count) labels for \(count) samples") }
        guard !count.multipliedReportingOverflow(by: denoiser.dimension).overflow else {
            throw ConfigError("sampler: \(count) samples of dimension \(denoiser.dimension) overflow the index range")
        }
        var done = 0
        guard let out = withoutActuallyEscaping(stop, do: { stop in
            run(denoiser, edm: edm, steps: steps, count: count, seed: seed, first: first, chunk: chunk, labels: labels,
                stop: stop, progress: { done = $0 })
        }) else {
            throw SamplingStopped(completed: done, total: count)
        }
        return out
    }

    /// One evaluation of a chunk whose first sample is `start`, with its labels when given.
    private func evaluate(_ denoiser: Denoiser, _ x: UnsafePointer<Float>, _ sigma: UnsafePointer<Float>, _ labels: [Int32]?,
                          _ start: Int, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        guard let labels else { return denoiser.denoise(x, sigma: sigma, out: out, batch: n) }
        labels.withUnsafeBufferPointer { l in denoiser.denoise(x, sigma: sigma, labels: l.baseAddress! + start, out: out, batch: n) }
    }

    private func run(_ denoiser: Denoiser, edm: EDMConfig, steps: Int, count: Int, seed: UInt64, first: Int,
                     chunk: Int, labels: [Int32]?, stop: (() -> Bool)?, progress: (Int) -> Void = { _ in }) -> [Float]? {
        precondition(labels == nil || labels!.count == count, "one label per sample")
        let d = denoiser.dimension
        var out = [Float](repeating: 0, count: count * d)
        let t = edm.schedule(steps: steps)
        let x = Tensor(shape: [chunk, d]), den = Tensor(shape: [chunk, d]), dir = Tensor(shape: [chunk, d])
        let next = Tensor(shape: [chunk, d]), sig = Tensor(shape: [chunk])
        var start = 0
        while start < count {
            let n = min(chunk, count - start)
            Draws.normalRows(seed: seed, step: 0, purpose: .sampling, firstIndex: first + start, rows: n, dimension: d,
                             scale: t[0], into: x.data)
            for i in 0..<steps {
                if let stop, stop() { return nil }
                let ti = t[i], tn = t[i + 1]
                for b in 0..<n { sig[b] = ti }
                evaluate(denoiser, x.data, sig.data, labels, start, den.data, n)
                for j in 0..<(n * d) {
                    dir[j] = (x[j] - den[j]) / ti
                    next[j] = x[j] + (tn - ti) * dir[j]
                }
                if self == .heun && tn > 0 {
                    for b in 0..<n { sig[b] = tn }
                    evaluate(denoiser, next.data, sig.data, labels, start, den.data, n)
                    for j in 0..<(n * d) {
                        let d2 = (next[j] - den[j]) / tn
                        next[j] = x[j] + (tn - ti) * 0.5 * (dir[j] + d2)
                    }
                }
                x.data.update(from: next.data, count: n * d)
            }
            out.withUnsafeMutableBufferPointer { o in (o.baseAddress! + start * d).update(from: x.data, count: n * d) }
            start += n
            progress(start)
        }
        return out
    }
}

/// A sampling run ended early because its stop condition (a stop signal) became true; the
/// samples drawn so far are discarded.
public struct SamplingStopped: Error, CustomStringConvertible {
    /// Samples finished before the stop.
    public let completed: Int
    /// Samples asked for.
    public let total: Int

    public init(completed: Int, total: Int) {
        self.completed = completed
        self.total = total
    }

    public var description: String { "sampling stopped after \(completed) of \(total) samples" }
}
