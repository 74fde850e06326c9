import Training
#if canImport(Glibc)
import Glibc
#endif

/// The EDM formulation (Karras et al. 2022): preconditioning, training noise distribution,
/// loss weighting and the sampling noise schedule.
public struct EDMConfig: Codable, Sendable, Equatable {
    /// Standard deviation of the data (per coordinate).
    public var sigmaData: Float = 0.5
    /// Training noise levels: ln(sigma) ~ N(pMean, pStd^2).
    public var pMean: Float = -1.2
    public var pStd: Float = 1.2
    /// Sampling schedule range and curvature.
    public var sigmaMin: Float = 0.002
    public var sigmaMax: Float = 80
    public var rho: Float = 7

    public init(sigmaData: Float = 0.5) { self.sigmaData = sigmaData }

    /// Checks that every value is finite and in range.
    public func validate() throws {
        guard sigmaData > 0, sigmaData.isFinite, pMean.isFinite, pStd >= 0, pStd.isFinite else {
            throw ConfigError("edm: need sigmaData > 0 and finite pMean, pStd >= 0")
        }
        guard sigmaMin > 0, sigmaMax > sigmaMin, sigmaMax.isFinite, rho > 0, rho.isFinite else {
            throw ConfigError("edm: need 0 < sigmaMin < sigmaMax and rho > 0, all finite")
        }
    }

    @inlinable public func cSkip(_ s: Float) -> Float { sigmaData * sigmaData / (s * s + sigmaData * sigmaData) }
    @inlinable public func cOut(_ s: Float) -> Float { s * sigmaData / (s * s + sigmaData * sigmaData).squareRoot() }
    @inlinable public func cIn(_ s: Float) -> Float { 1 / (s * s + sigmaData * sigmaData).squareRoot() }
    @inlinable public func cNoise(_ s: Float) -> Float { logf(s) / 4 }
    /// Loss weight lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2.
    @inlinable public func lossWeight(_ s: Float) -> Float {
        (s * s + sigmaData * sigmaData) / (s * sigmaData * s * sigmaData)
    }
    /// A training noise level from a standard normal draw.
    @inlinable public func trainingSigma(normal n: Float) -> Float { expf(pMean + pStd * n) }

    /// sigma_0 > ... > sigma_{N-1}, then 0: the EDM schedule with `steps` = N levels.
    public func schedule(steps: Int) -> [Float] {
        precondition(steps >= 1)
        let a = powf(sigmaMax, 1 / rho), b = powf(sigmaMin, 1 / rho)
        var t = (0..<steps).map { i -> Float in
            steps == 1 ? sigmaMax : powf(a + Float(i) / Float(steps - 1) * (b - a), rho)
        }
        t.append(0)
        return t
    }
}

/// Something that estimates E[x0 | x] at noise level sigma for a batch of row vectors.
public protocol Denoiser: AnyObject {
    /// Length of one sample vector.
    var dimension: Int { get }
    /// out[b] = D(x[b]; sigma[b]) for b < batch.
    func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, batch: Int)
    /// out[b] = D(x[b]; sigma[b], labels[b]): class-conditional denoisers read the labels (nil:
    /// "no class"); others ignore them.
    func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, labels: UnsafePointer<Int32>?,
                 out: UnsafeMutablePointer<Float>, batch: Int)
}

extension Denoiser {
    /// Not class-conditional: the labels are ignored.
    public func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, labels: UnsafePointer<Int32>?,
                        out: UnsafeMutablePointer<Float>, batch: Int) {
        denoise(x, sigma: sigma, out: out, batch: batch)
    }
}
