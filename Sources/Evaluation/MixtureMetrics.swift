import Diffusion

/// Coverage of a Gaussian mixture by samples (../shared/EMD.md, "How to evaluate").
public struct MixtureReport: Codable, Sendable {
    /// Fraction of samples within the on-mode radius of their nearest mean.
    public var onMode: Double
    /// Modes that received at least a quarter of their weight (as a share of all samples).
    public var modesCovered: Int
    /// Total variation between the per-mode shares of on-mode samples and the weights.
    public var weightTV: Double
    /// Per-mode share of on-mode samples.
    public var modeShares: [Double]
    public var count: Int

    enum CodingKeys: String, CodingKey {
        case onMode = "on_mode", modesCovered = "modes_covered", weightTV = "weight_tv", modeShares = "mode_shares", count
    }

    public var dictionary: [String: Any] {
        ["on_mode": onMode, "modes_covered": modesCovered, "weight_tv": weightTV, "mode_shares": modeShares, "count": count]
    }
}

public enum MixtureMetrics {
    /// On-mode radius of component i: 3 s_i in 2-D, (sqrt(d) + 1.6) s_i otherwise (about the
    /// 99% radius of a d-dimensional isotropic Gaussian).
    public static func radius(_ m: GaussianMixture, mode i: Int) -> Float {
        m.dimension == 2 ? 3 * m.stds[i] : (Float(m.dimension).squareRoot() + 1.6) * m.stds[i]
    }

    public static func evaluate(_ samples: [Float], mixture m: GaussianMixture) -> MixtureReport {
        let d = m.dimension, n = samples.count / d
        var counts = [Int](repeating: 0, count: m.modes)
        var on = 0
        samples.withUnsafeBufferPointer { s in
            for i in 0..<n {
                let (mode, dist) = m.nearestMode(s.baseAddress! + i * d)
                if dist <= radius(m, mode: mode) { counts[mode] += 1; on += 1 }
            }
        }
        let shares = counts.map { on > 0 ? Double($0) / Double(on) : 0 }
        var tv = 0.0
        for i in 0..<m.modes { tv += abs(shares[i] - Double(m.weights[i])) }
        let covered = (0..<m.modes).filter { Double(counts[$0]) / Double(max(n, 1)) >= 0.25 * Double(m.weights[$0]) }.count
        return MixtureReport(onMode: Double(on) / Double(max(n, 1)), modesCovered: covered, weightTV: 0.5 * tv,
                             modeShares: shares, count: n)
    }
}
