import Foundation
import FileFormats
import Diffusion

/// A PNG scatter plot of samples (first two coordinates) over a mixture's modes: samples as
/// dark dots, each mode's on-mode radius as a red circle.
public enum ScatterPlot {
    public static func png(samples: [Float], mixture m: GaussianMixture, size: Int = 480, title: String = "") throws -> Data {
        let d = m.dimension, n = samples.count / d
        var extent: Float = 0
        for mean in m.means { extent = max(extent, abs(mean[0]), abs(mean[min(1, d - 1)])) }
        extent = extent * 1.35 + 0.3
        var px = [UInt8](repeating: 255, count: size * size * 3)
        func toPixel(_ v: Float, flip: Bool) -> Int {
            let t = (v + extent) / (2 * extent)
            return Int(((flip ? 1 - t : t) * Float(size - 1)).rounded())
        }
        func put(_ x: Int, _ y: Int, _ r: UInt8, _ g: UInt8, _ b: UInt8, alpha: Float) {
            guard x >= 0, y >= 0, x < size, y < size else { return }
            let k = (y * size + x) * 3
            px[k] = UInt8(Float(px[k]) * (1 - alpha) + Float(r) * alpha)
            px[k + 1] = UInt8(Float(px[k + 1]) * (1 - alpha) + Float(g) * alpha)
            px[k + 2] = UInt8(Float(px[k + 2]) * (1 - alpha) + Float(b) * alpha)
        }
        // Axes through the origin.
        let o = toPixel(0, flip: false)
        for i in 0..<size { put(i, o, 200, 200, 200, alpha: 1); put(o, i, 200, 200, 200, alpha: 1) }
        for i in 0..<n {
            let x = toPixel(samples[i * d], flip: false), y = toPixel(samples[i * d + min(1, d - 1)], flip: true)
            put(x, y, 20, 40, 120, alpha: 0.35)
            put(x + 1, y, 20, 40, 120, alpha: 0.2)
            put(x, y + 1, 20, 40, 120, alpha: 0.2)
        }
        for (i, mean) in m.means.enumerated() {
            let r = MixtureMetrics.radius(m, mode: i) / (2 * extent) * Float(size - 1)
            let cx = toPixel(mean[0], flip: false), cy = toPixel(mean[min(1, d - 1)], flip: true)
            let steps = max(32, Int(r * 8))
            for s in 0..<steps {
                let a = 2 * Float.pi * Float(s) / Float(steps)
                put(cx + Int((max(r, 3) * cosf(a)).rounded()), cy + Int((max(r, 3) * sinf(a)).rounded()), 220, 30, 30, alpha: 1)
            }
        }
        return try PNG.encode(width: size, height: size, channels: 3, pixels: px)
    }
}
