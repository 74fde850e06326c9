import Foundation
import Training
import CounterRNG
#if canImport(Glibc)
import Glibc
#endif

/// A mixture of isotropic Gaussians: the exact teacher (its denoiser has a closed form) and a
/// source of training data for learned teachers.
public struct GaussianMixture: Codable, Sendable, Equatable {
    public var dimension: Int
    /// Component means, one row each.
    public var means: [[Float]]
    public var weights: [Float]
    /// Per-component isotropic standard deviations.
    public var stds: [Float]

    public init(dimension: Int, means: [[Float]], weights: [Float], stds: [Float]) throws {
        self.dimension = dimension
        self.means = means
        self.weights = weights
        self.stds = stds
        try validate()
    }

    /// A mixture from a JSON config (`dimension`, `means`, `weights`, `stds`), validated;
    /// `source` names the file in errors.
    public static func decode(json data: Data, source: String) throws -> GaussianMixture {
        let m: GaussianMixture
        do { m = try JSONDecoder().decode(GaussianMixture.self, from: data) } catch {
            throw ConfigError("\(source): not a mixture config (dimension, means, weights, stds): \(error)")
        }
        do { try m.validate() } catch { throw ConfigError("\(source): \(error)") }
        return m
    }

    /// Checks shapes and values; normalises nothing silently.
    public func validate() throws {
        let k = means.count
        guard dimension >= 1, dimension <= 1 << 24 else { throw ConfigError("mixture: dimension must be in 1...2^24, got \(dimension)") }
        guard k >= 1 else { throw ConfigError("mixture: needs at least one mode") }
        guard weights.count == k, stds.count == k else {
            throw ConfigError("mixture: \(k) means but \(weights.count) weights and \(stds.count) stds")
        }
        for (i, m) in means.enumerated() where m.count != dimension {
            throw ConfigError("mixture: mean \(i) has \(m.count) coordinates, dimension is \(dimension)")
        }
        guard weights.allSatisfy({ $0 > 0 && $0.isFinite }), stds.allSatisfy({ $0 > 0 && $0 <= 1e6 }) else {
            throw ConfigError("mixture: weights must be positive and finite, stds in (0, 1e6]")
        }
        // Far beyond any data scale, and small enough that squared distances stay finite.
        for (i, m) in means.enumerated() where !m.allSatisfy({ $0.isFinite && abs($0) <= 1e6 }) {
            throw ConfigError("mixture: mean \(i) has a coordinate that is not finite or beyond 1e6 in size")
        }
        let total = weights.reduce(0, +)
        guard abs(total - 1) < 1e-3 else { throw ConfigError("mixture: weights sum to \(total), not 1") }
    }

    public var modes: Int { means.count }

    /// The default: 8 modes on a ring of radius 2 in 2-D, unequal weights, std 0.05.
    public static let defaultWeights: [Float] = [0.30, 0.20, 0.15, 0.10, 0.08, 0.07, 0.05, 0.05]

    public static func ring(modes: Int = 8, radius: Float = 2, std: Float = 0.05,
                            weights: [Float] = defaultWeights) -> GaussianMixture {
        let means = (0..<modes).map { i -> [Float] in
            let a = 2 * Float.pi * Float(i) / Float(modes)
            return [radius * cosf(a), radius * sinf(a)]
        }
        return try! GaussianMixture(dimension: 2, means: means, weights: weights, stds: .init(repeating: std, count: modes))
    }

    /// Modes at random directions in `dimension` dimensions, scaled to `radius`.
    public static func randomDirections(dimension: Int, modes: Int = 8, radius: Float = 2, std: Float = 0.05,
                                        weights: [Float] = defaultWeights, seed: UInt64 = 0) -> GaussianMixture {
        let means = (0..<modes).map { i -> [Float] in
            let v = Draws.normals(DrawKey(seed: seed, step: 0, purpose: .parameterInit, index: i), count: dimension)
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { radius * $0 / n }
        }
        return try! GaussianMixture(dimension: dimension, means: means, weights: weights,
                                    stds: .init(repeating: std, count: modes))
    }

    /// The 25-Gaussian grid of the GAN mode-collapse literature (VEEGAN, PacGAN, Unrolled GAN):
    /// means at {-4, -2, 0, 2, 4}^2, std 0.05, equal weights; with `unequal`, weights falling
    /// geometrically by 0.85 from one mode to the next (heaviest 0.15, lightest 0.0032), in an
    /// order that scatters heavy and light modes over the grid.
    public static func grid(side: Int = 5, spacing: Float = 2, std: Float = 0.05, unequal: Bool = false) -> GaussianMixture {
        let k = side * side, half = Float(side - 1) / 2
        let means = (0..<k).map { i in [(Float(i % side) - half) * spacing, (Float(i / side) - half) * spacing] }
        var weights = [Float](repeating: 1 / Float(k), count: k)
        if unequal {
            // Mode i gets rank (7 i mod k): 7 is prime to 25, so neighbours get distant ranks.
            let raw = (0..<k).map { i in powf(0.85, Float((7 * i) % k)) }
            let total = raw.reduce(0, +)
            weights = raw.map { $0 / total }
        }
        return try! GaussianMixture(dimension: 2, means: means, weights: weights, stds: .init(repeating: std, count: k))
    }

    /// The same mixture with every mean and std multiplied by `factor` (data in other units).
    public func scaled(by factor: Float) throws -> GaussianMixture {
        try GaussianMixture(dimension: dimension, means: means.map { $0.map { $0 * factor } }, weights: weights,
                            stds: stds.map { $0 * factor })
    }

    /// A built-in mixture by name: `ring`, `grid`, `grid-unequal`, `random:D` (8 modes at random
    /// directions in D dimensions), each optionally scaled, as in `ring*3`. Nil for other names.
    public static func named(_ spec: String) throws -> GaussianMixture? {
        let parts = spec.split(separator: "*", maxSplits: 1).map(String.init)
        let base: GaussianMixture
        switch parts.first ?? "" {
        case "ring", "default": base = .ring()
        case "grid": base = .grid()
        case "grid-unequal": base = .grid(unequal: true)
        case let name where name.hasPrefix("random:"):
            guard let d = Int(name.dropFirst(7)), d > 0, d <= 1 << 20 else {
                throw ConfigError("mixture \(spec): random:D needs D in 1...1048576")
            }
            base = .randomDirections(dimension: d)
        default: return nil
        }
        guard parts.count == 2 else { return base }
        guard let factor = Float(parts[1]), factor.isFinite, factor > 0, factor <= 1e4 else {
            throw ConfigError("mixture \(spec): the scale after '*' must be a number in (0, 1e4]")
        }
        let scaled = try base.scaled(by: factor)
        try scaled.validate()
        return scaled
    }

    /// Per-coordinate standard deviation of the mixture (sqrt of the mean per-coordinate variance).
    public var dataStd: Float {
        var mean = [Double](repeating: 0, count: dimension)
        for (m, w) in zip(means, weights) { for j in 0..<dimension { mean[j] += Double(w * m[j]) } }
        var v = 0.0
        for i in 0..<modes {
            var s = Double(stds[i] * stds[i]) * Double(dimension)
            for j in 0..<dimension { let d = Double(means[i][j]) - mean[j]; s += d * d }
            v += Double(weights[i]) * s
        }
        return Float((v / Double(dimension)).squareRoot())
    }

    /// Draw the sample with global index `index` under `key` (component from one uniform,
    /// then mean + std * normal). Returns the component.
    @discardableResult
    public func sample(_ key: DrawKey, into x: UnsafeMutablePointer<Float>) -> Int {
        let u = Draws.uniform(DrawKey(seed: key.seed, step: Int(key.step), purpose: key.purpose.sub(1), index: Int(key.index)))
        var acc: Float = 0, comp = modes - 1
        for i in 0..<modes { acc += weights[i]; if u < acc { comp = i; break } }
        Draws.normal(key, into: x, count: dimension)
        for j in 0..<dimension { x[j] = means[comp][j] + stds[comp] * x[j] }
        return comp
    }

    /// Log responsibilities of each component for one point at noise level sigma (unnormalised
    /// log w_i N(x; mu_i, v_i I)), written into `logr`.
    func logResponsibilities(_ x: UnsafePointer<Float>, sigma: Float, into logr: UnsafeMutablePointer<Float>) {
        for i in 0..<modes {
            let v = stds[i] * stds[i] + sigma * sigma
            var d2: Float = 0
            for j in 0..<dimension { let d = x[j] - means[i][j]; d2 += d * d }
            logr[i] = logf(weights[i]) - 0.5 * Float(dimension) * logf(v) - d2 / (2 * v)
        }
    }

    /// Index of the nearest mean and the distance to it.
    public func nearestMode(_ x: UnsafePointer<Float>) -> (mode: Int, distance: Float) {
        var best = 0, bd = Float.infinity
        for i in 0..<modes {
            var d2: Float = 0
            for j in 0..<dimension { let d = x[j] - means[i][j]; d2 += d * d }
            if d2 < bd { bd = d2; best = i }
        }
        return (best, bd.squareRoot())
    }
}

/// The closed-form denoiser of a Gaussian mixture:
/// D(x; sigma) = sum_i r_i(x) (s_i^2 x + sigma^2 mu_i) / v_i, v_i = s_i^2 + sigma^2.
public final class ExactMixtureDenoiser: Denoiser {
    public let mixture: GaussianMixture
    private let logr: UnsafeMutablePointer<Float>

    public init(_ mixture: GaussianMixture) {
        self.mixture = mixture
        logr = .allocate(capacity: mixture.modes)
    }

    deinit { logr.deallocate() }

    public var dimension: Int { mixture.dimension }

    public func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                        batch: Int) {
        let d = mixture.dimension, k = mixture.modes
        for b in 0..<batch {
            let xb = x + b * d, ob = out + b * d, s2 = sigma[b] * sigma[b]
            mixture.logResponsibilities(xb, sigma: sigma[b], into: logr)
            var mx = -Float.infinity
            for i in 0..<k { mx = max(mx, logr[i]) }
            var z: Float = 0
            for i in 0..<k { logr[i] = expf(logr[i] - mx); z += logr[i] }
            for j in 0..<d { ob[j] = 0 }
            for i in 0..<k {
                let r = logr[i] / z
                let si2 = mixture.stds[i] * mixture.stds[i], v = si2 + s2
                let mu = mixture.means[i]
                for j in 0..<d { ob[j] += r * (si2 * xb[j] + s2 * mu[j]) / v }
            }
        }
    }
}
