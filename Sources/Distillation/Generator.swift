import NN
import Diffusion
import Training

/// The generator g_theta(z) = D_theta(sigma_g z; sigma_g) over a shard's latents, with the
/// vector-Jacobian product in z that the E-step's z drift needs. Owns its denoiser (and so the
/// activations of its last forward pass) and the scaled-input buffer.
final class Generator {
    let denoiser: NetworkDenoiser
    let sigmaInit: Float
    let dimension: Int
    let scaledInput: Tensor
    let sigmaG: Tensor

    init(network: ConditionalNetwork, edm: EDMConfig, parameters: Parameters, sigmaInit: Float, capacity: Int) {
        denoiser = NetworkDenoiser(network: network, edm: edm, parameters: parameters, maxBatch: capacity)
        self.sigmaInit = sigmaInit
        dimension = network.inputSize
        scaledInput = Tensor(shape: [capacity, dimension])
        sigmaG = Tensor(shape: [capacity])
        sigmaG.fill(sigmaInit)
    }

    var parameters: Parameters { denoiser.parameters }

    /// out = g(z) for the first n rows of `z`.
    func forward(_ z: Tensor, into out: Tensor, n: Int) {
        let s = sigmaInit
        for i in 0..<(n * dimension) { scaledInput[i] = s * z[i] }
        denoiser.denoise(scaledInput.data, sigma: sigmaG.data, out: out.data, batch: n)
    }

    /// vjp = J_g(z)^T v at the z of the last `forward`: the Jacobian in z is sigma_g times the
    /// denoiser's Jacobian in its input.
    func latentVJP(_ v: Tensor, into vjp: Tensor, n: Int) {
        denoiser.backward(dOut: v.data, dx: vjp.data, batch: n, paramGrads: false)
        let sg = sigmaInit
        for i in 0..<(n * dimension) { vjp[i] *= sg }
    }

    /// Accumulate the parameter gradient of <dOut, g> at the last `forward` (zeroed first).
    func parameterGradient(_ dOut: Tensor, n: Int) {
        parameters.zeroGrads()
        denoiser.backward(dOut: dOut.data, dx: nil, batch: n, paramGrads: true)
    }
}
