import NN

/// An EDM-preconditioned network bound to one parameter set:
/// D(x; sigma) = c_skip x + c_out F(c_in x; c_noise).
/// Teacher, generator and student are three `NetworkDenoiser`s over one `ConditionalNetwork`
/// definition with three `Parameters`. Each owns its workspace, so their forward passes can
/// interleave and each keeps what its own backward pass needs.
public final class NetworkDenoiser: Denoiser {
    public let network: ConditionalNetwork
    public let edm: EDMConfig
    public let parameters: Parameters
    public let maxBatch: Int
    /// Class labels for the next `denoise`, one per sample (nil: "no class"), read only by a
    /// class-conditional network. The caller keeps the memory valid while it is set.
    public var labels: UnsafePointer<Int32>?
    let workspace: AnyObject
    let scaled: Tensor
    let noise: Tensor
    let sigmas: Tensor
    let f: Tensor
    let grad: Tensor

    public init(network: ConditionalNetwork, edm: EDMConfig, parameters: Parameters, maxBatch: Int) {
        precondition(parameters.layout == network.layout, "parameters do not match the network")
        self.network = network
        self.edm = edm
        self.parameters = parameters
        self.maxBatch = maxBatch
        workspace = network.makeWorkspace(batch: maxBatch)
        let d = network.inputSize
        scaled = Tensor(shape: [maxBatch, d])
        noise = Tensor(shape: [maxBatch])
        sigmas = Tensor(shape: [maxBatch])
        f = Tensor(shape: [maxBatch, d])
        grad = Tensor(shape: [maxBatch, d])
    }

    public var dimension: Int { network.inputSize }

    public func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                        batch: Int) {
        precondition(batch <= maxBatch, "batch \(batch) exceeds denoiser capacity \(maxBatch)")
        let d = dimension
        for b in 0..<batch {
            let s = sigma[b]
            sigmas[b] = s
            noise[b] = edm.cNoise(s)
            let ci = edm.cIn(s)
            for j in 0..<d { scaled[b * d + j] = ci * x[b * d + j] }
        }
        network.forward(parameters, x: scaled.data, c: noise.data, labels: labels, out: f.data, batch: batch,
                        workspace: workspace)
        for b in 0..<batch {
            let s = sigma[b], cs = edm.cSkip(s), co = edm.cOut(s)
            for j in 0..<d { out[b * d + j] = cs * x[b * d + j] + co * f[b * d + j] }
        }
    }

    /// `denoise` with these labels (nil: "no class") for this call only.
    public func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, labels: UnsafePointer<Int32>?,
                        out: UnsafeMutablePointer<Float>, batch: Int) {
        let saved = self.labels
        self.labels = labels
        denoise(x, sigma: sigma, out: out, batch: batch)
        self.labels = saved
    }

    /// Reports of gradients becoming final during `backward` (offsets into this denoiser's
    /// parameters; `ConditionalNetwork.setGradientHook`); nil: none.
    public var gradientHook: ((Int) -> Void)? {
        didSet { network.setGradientHook(gradientHook, workspace: workspace) }
    }

    /// While on, every `denoise` has the noise levels, labels and batch size of the first one
    /// after it was switched on and the parameters do not change, so the network may compute
    /// what depends only on the noise level once (`ConditionalNetwork.setFixedConditioning`).
    public func setFixedConditioning(_ on: Bool) { network.setFixedConditioning(on, workspace: workspace) }

    /// The next forward passes are training passes that draw dropout masks from `key` (nil:
    /// none; the default, as sampling and evaluation want). Networks without dropout ignore it.
    public func setDropout(_ key: DropoutKey?) { network.setDropout(key, workspace: workspace) }

    /// Backward of the last `denoise`: given dL/dD, accumulates parameter gradients (when
    /// `paramGrads`) and writes dL/dx into `dx` when given (the vector-Jacobian product).
    public func backward(dOut: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, batch: Int, paramGrads: Bool) {
        let d = dimension
        for b in 0..<batch {
            let co = edm.cOut(sigmas[b])
            for j in 0..<d { grad[b * d + j] = co * dOut[b * d + j] }
        }
        network.backward(parameters, dOut: grad.data, dx: dx == nil ? nil : scaled.data, batch: batch,
                         workspace: workspace, paramGrads: paramGrads)
        guard let dx else { return }
        for b in 0..<batch {
            let s = sigmas[b], ci = edm.cIn(s), cs = edm.cSkip(s)
            for j in 0..<d { dx[b * d + j] = ci * scaled[b * d + j] + cs * dOut[b * d + j] }
        }
    }
}
