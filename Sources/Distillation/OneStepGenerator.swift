import Foundation
import NN
import CounterRNG
import Diffusion
import Training

/// A trained one-step generator: g(z) = D(sigma_init z; sigma_init).
public struct OneStepGenerator {
    public let network: ConditionalNetwork
    public let edm: EDMConfig
    public let parameters: Parameters
    public let sigmaInit: Float
    /// The classifier-free guidance scale w of the teacher's score it was distilled with (1 for
    /// unconditional teachers): a property of its weights, not a sampling setting.
    public let guidance: Float

    public init(network: ConditionalNetwork, edm: EDMConfig, parameters: Parameters, sigmaInit: Float, guidance: Float = 1) {
        self.network = network
        self.edm = edm
        self.parameters = parameters
        self.sigmaInit = sigmaInit
        self.guidance = guidance
    }

    /// Load the EMA generator (or the live one) from a distillation checkpoint.
    public static func load(_ path: String, useEMA: Bool = true) throws -> OneStepGenerator {
        let c = try Checkpoint.read(path)
        try CheckpointKind.generator.check(c)
        let nc = try c.metaJSON("network", as: NetworkConfig.self)
        let net = try nc.build()
        let p = Parameters(layout: net.layout)
        try c.load(group: useEMA ? "generator_ema" : "generator", layout: net.layout, into: p.values)
        guard let s = Float(try c.meta("sigma_init")) else { throw ConfigError("\(path): bad sigma_init") }
        // The distillation config's guidance (checkpoints written before it existed: 1).
        let config = try? JSONSerialization.jsonObject(with: Data(c.meta("config").utf8)) as? [String: Any]
        let w = (config?["guidance"] as? NSNumber)?.floatValue ?? 1
        return OneStepGenerator(network: net, edm: try c.metaJSON("edm", as: EDMConfig.self), parameters: p, sigmaInit: s,
                                guidance: w)
    }

    /// `count` samples, one network evaluation each, latents keyed by (seed, global index).
    /// `labels`: one class per sample for a class-conditional generator (nil: "no class").
    public func sample(count: Int, seed: UInt64, first: Int = 0, chunk: Int = 512, labels: [Int32]? = nil) -> [Float] {
        precondition(labels == nil || labels!.count == count, "one label per sample")
        let d = network.inputSize
        let den = NetworkDenoiser(network: network, edm: edm, parameters: parameters, maxBatch: chunk)
        let zt = Tensor(shape: [chunk, d]), sg = Tensor(shape: [chunk])
        sg.fill(sigmaInit)
        var out = [Float](repeating: 0, count: count * d)
        var start = 0
        while start < count {
            let n = min(chunk, count - start)
            Draws.normalRows(seed: seed, step: 0, purpose: .evaluation, firstIndex: first + start, rows: n, dimension: d,
                             scale: sigmaInit, into: zt.data)
            out.withUnsafeMutableBufferPointer { o in
                if let labels {
                    labels.withUnsafeBufferPointer { l in
                        den.denoise(zt.data, sigma: sg.data, labels: l.baseAddress! + start, out: o.baseAddress! + start * d, batch: n)
                    }
                } else {
                    den.denoise(zt.data, sigma: sg.data, out: o.baseAddress! + start * d, batch: n)
                }
            }
            start += n
        }
        return out
    }
}
