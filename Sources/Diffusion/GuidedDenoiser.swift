import NN

/// Classifier-free guidance (Ho & Salimans) over a class-conditional denoiser (a network's, or
/// any other that reads labels, such as the exact denoiser of a labelled sample set):
/// D = (1 - w) D(x; sigma, no class) + w D(x; sigma, class). w = 1 is the conditional denoiser
/// and w = 0 the unconditional one, exactly (one base evaluation each); w > 1 extrapolates
/// away from the unconditional branch (two evaluations). Without labels it is the
/// unconditional denoiser.
public final class GuidedDenoiser<Base: Denoiser>: Denoiser {
    public let base: Base
    public var guidance: Float
    /// The unconditional branch's output, grown to the largest batch seen (so a run's calls
    /// allocate once, at the first).
    var unconditional: [Float] = []

    public init(_ base: Base, guidance: Float) {
        if let network = base as? NetworkDenoiser {
            precondition(network.network.classes > 0, "guidance needs a class-conditional network")
            unconditional = [Float](repeating: 0, count: network.maxBatch * network.dimension)
        }
        self.base = base
        self.guidance = guidance
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
        let n = batch * dimension, w = guidance
        if unconditional.count < n { unconditional = [Float](repeating: 0, count: n) }
        unconditional.withUnsafeMutableBufferPointer { u in
            base.denoise(x, sigma: sigma, labels: nil, out: u.baseAddress!, batch: batch)
            base.denoise(x, sigma: sigma, labels: labels, out: out, batch: batch)
            for i in 0..<n { out[i] = (1 - w) * u[i] + w * out[i] }
        }
    }
}
