import NN

/// Entry points for tests (`@testable import Distillation`): the E-step's and M-step's results
/// for this step without updating anything, and the generator with its latent VJP.
extension Distiller {
    /// The chain state after this step's E-step on this rank's shard: z_K, eps_K, the drift
    /// part a_K and the noise levels.
    func runEStep() -> (z: [Float], eps: [Float], drift: [Float], sigma: [Float]) {
        _ = eStep()
        let n = shard.count, d = network.inputSize
        func copy(_ t: Tensor, _ c: Int) -> [Float] { Array(UnsafeBufferPointer(start: t.data, count: c)) }
        return (copy(chains.z, n * d), copy(chains.eps, n * d), copy(chains.a, n * d), copy(chains.sigma, n))
    }

    /// The M-step gradient of this step for the local shard (after the E-step): a copy of the
    /// generator's gradient buffer.
    func mStepGradientForCurrentStep() -> [Float] {
        _ = eStep()
        _ = mStep.gradient(chains, config: config, sigmaHi: noise.hi, generator: generator, teacher: teacher, timer: timer)
        return Array(generatorParameters.gradBuffer)
    }

    /// g(z) for `n` latents (row-major n x d) with the live generator; n <= the shard's capacity.
    func generatorOutput(z latents: [Float], n: Int) -> [Float] {
        let d = network.inputSize
        latents.withUnsafeBufferPointer { chains.z.data.update(from: $0.baseAddress!, count: n * d) }
        generator.forward(chains.z, into: chains.g, n: n)
        return Array(UnsafeBufferPointer(start: chains.g.data, count: n * d))
    }

    /// J_g(z)^T v for `n` latents with the live generator: the E-step's z-drift product.
    func latentGradient(z latents: [Float], v: [Float], n: Int) -> [Float] {
        let d = network.inputSize
        _ = generatorOutput(z: latents, n: n)
        v.withUnsafeBufferPointer { chains.delta.data.update(from: $0.baseAddress!, count: n * d) }
        generator.latentVJP(chains.delta, into: chains.vjp, n: n)
        return Array(UnsafeBufferPointer(start: chains.vjp.data, count: n * d))
    }
}
