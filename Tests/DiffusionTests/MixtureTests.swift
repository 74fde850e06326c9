import XCTest
import NN
import CounterRNG
import Diffusion
import Training
import Evaluation

final class MixtureTests: XCTestCase {
    /// allFinite finds a NaN or an infinity wherever it sits (vector part or tail).
    func testAllFiniteFindsEveryPosition() {
        let n = 37
        var x = [Float](repeating: 1.5, count: n)
        XCTAssertTrue(allFinite(x, count: n))
        for bad: Float in [.nan, .infinity, -.infinity] {
            for i in [0, 7, 15, 16, 31, 32, 36] {
                x[i] = bad
                XCTAssertFalse(allFinite(x, count: n), "\(bad) at \(i)")
                x[i] = 1.5
            }
        }
        x[3] = .greatestFiniteMagnitude
        XCTAssertTrue(allFinite(x, count: n))
    }

    /// The closed-form denoiser against a Monte-Carlo estimate of E[x0 | x]: draw x0 from the
    /// mixture and weight each by N(x; x0, sigma^2 I).
    func testClosedFormDenoiserMatchesMonteCarlo() {
        let m = GaussianMixture.ring()
        let exact = ExactMixtureDenoiser(m)
        let n = 400_000
        var prior = [Float](repeating: 0, count: n * 2)
        prior.withUnsafeMutableBufferPointer { p in
            for i in 0..<n { m.sample(DrawKey(seed: 1, step: 0, purpose: .test, index: i), into: p.baseAddress! + 2 * i) }
        }
        for (x, s) in [([Float(1.9), 0.3], Float(0.3)), ([0.5, -0.7], 1.0), ([1.2, 1.3], 0.6), ([0, 0], 3.0)] {
            var wsum = 0.0, mean = [0.0, 0.0]
            for i in 0..<n {
                let d0 = Double(x[0] - prior[2 * i]), d1 = Double(x[1] - prior[2 * i + 1])
                let w = exp(-(d0 * d0 + d1 * d1) / (2 * Double(s * s)))
                wsum += w; mean[0] += w * Double(prior[2 * i]); mean[1] += w * Double(prior[2 * i + 1])
            }
            var out: [Float] = [0, 0]
            exact.denoise(x, sigma: [s], out: &out, batch: 1)
            XCTAssertEqual(Double(out[0]), mean[0] / wsum, accuracy: 0.02, "x \(x) sigma \(s)")
            XCTAssertEqual(Double(out[1]), mean[1] / wsum, accuracy: 0.02, "x \(x) sigma \(s)")
        }
    }

    /// As sigma -> 0 the denoiser is the identity near a mode; as sigma -> infinity it is the mean.
    func testDenoiserLimits() {
        let m = GaussianMixture.ring()
        let exact = ExactMixtureDenoiser(m)
        var out: [Float] = [0, 0]
        exact.denoise([2.01, 0.02], sigma: [1e-4], out: &out, batch: 1)
        XCTAssertEqual(out[0], 2.01, accuracy: 1e-3); XCTAssertEqual(out[1], 0.02, accuracy: 1e-3)
        exact.denoise([0.3, -0.2], sigma: [1e4], out: &out, batch: 1)
        var mean: [Float] = [0, 0]
        for (w, mu) in zip(m.weights, m.means) { mean[0] += w * mu[0]; mean[1] += w * mu[1] }
        XCTAssertEqual(out[0], mean[0], accuracy: 1e-3); XCTAssertEqual(out[1], mean[1], accuracy: 1e-3)
    }

    /// Heun on the exact denoiser reproduces the mixture: every mode, weights within sampling error.
    func testHeunOnExactDenoiserCoversTheMixture() {
        let m = GaussianMixture.ring()
        var edm = EDMConfig(sigmaData: m.dataStd)
        edm.sigmaMax = 20
        let s = Sampler.heun.sample(ExactMixtureDenoiser(m), edm: edm, steps: 32, count: 8000, seed: 3)
        let r = MixtureMetrics.evaluate(s, mixture: m)
        XCTAssertEqual(r.modesCovered, 8)
        XCTAssertGreaterThan(r.onMode, 0.95)
        XCTAssertLessThan(r.weightTV, 0.04)
    }

    /// Mixture metrics on hand-made samples.
    func testMixtureMetricsDefinitions() {
        let m = GaussianMixture.ring()
        // 60 samples exactly on mode 0, 40 on mode 1, and 100 far away.
        var s = [Float]()
        for _ in 0..<60 { s += m.means[0] }
        for _ in 0..<40 { s += m.means[1] }
        for _ in 0..<100 { s += [0, 0] }
        let r = MixtureMetrics.evaluate(s, mixture: m)
        XCTAssertEqual(r.onMode, 0.5, accuracy: 1e-12)
        // Shares among on-mode samples: 0.6, 0.4, 0...; weights 0.30, 0.20, 0.15, ...
        var tv = abs(0.6 - 0.30) + abs(0.4 - 0.20)
        for w in m.weights.dropFirst(2) { tv += Double(w) }
        XCTAssertEqual(r.weightTV, 0.5 * tv, accuracy: 1e-6)
        // Mode 0 got 0.3 of all samples (>= 0.075), mode 1 0.2 (>= 0.05): two covered.
        XCTAssertEqual(r.modesCovered, 2)
    }

    func testConfigValidation() {
        XCTAssertThrowsError(try GaussianMixture(dimension: 2, means: [[0, 0]], weights: [0.5], stds: [1]))
        XCTAssertThrowsError(try GaussianMixture(dimension: 2, means: [[0, 0, 1]], weights: [1], stds: [1]))
        XCTAssertThrowsError(try GaussianMixture(dimension: 2, means: [[0, 0]], weights: [1], stds: [-1]))
    }
}
