import NN

/// Classifier-free guidance (Ho & Salimans) over a class-conditional network denoiser:
/// D = (1 - w) D(x; sigma, no class) + w D(x; sigma, class). w = 1 is the conditional denoiser
/// and w = 0 the unconditional one, exactly (one network evaluation each); w > 1 extrapolates
/// away from the unconditional branch (two evaluations). Without labels it is the
/// unconditional denoiser.
public final class GuidedDenoiser: Denoiser {
    public let base: NetworkDenoiser
    public var guidance: Float
    let unconditional: Tensor

    public init(_ base: NetworkDenoiser, guidance: Float) {
        precondition(base.network.classes > 0, "guidance needs a class-conditional network")
        self.base = base
        self.guidance = guidance
        unconditional = Tensor(shape: [base.maxBatch, base.dimension])
    }

    public var dimension: Int { base.dimension }

    public func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, batch: Int) {
        base.denoise(x, sigma: sigma, labels: nil, out: out, batch: batch)
    }

    public func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, labels: UnsafePointer<Int32>?,
                        out: UnsafeMutablePointer<Float>, batch: Int) {
        guard let labels else { return denoise(x, sigma: sigma, out: out, batch: batch) }
        // The endpoints need one branch only (the other's weight is zero).
        if guidance == 1 { return base.denoise(x, sigma: sigma, labels: labels, out: out, batch: batch) }
        if guidance == 0 { return denoise(x, sigma: sigma, out: out, batch: batch) }
        let u = unconditional.data, n = batch * dimension, w = guidance
        base.denoise(x, sigma: sigma, labels: nil, out: u, batch: batch)
        base.denoise(x, sigma: sigma, labels: labels, out: out, batch: batch)
        for i in 0..<n { out[i] = (1 - w) * u[i] + w * out[i] }
    }
}
