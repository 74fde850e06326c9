import Foundation
import NN
import FileFormats
import Training

/// A trained denoiser loaded from a checkpoint: network definition, EDM settings and weights
/// (the EMA when present).
public struct TeacherModel {
    public let network: ConditionalNetwork
    public let networkConfig: NetworkConfig
    public let edm: EDMConfig
    public let parameters: Parameters
    public let metadata: [String: String]

    public init(network: ConditionalNetwork, networkConfig: NetworkConfig, edm: EDMConfig, parameters: Parameters,
                metadata: [String: String]) {
        self.network = network
        self.networkConfig = networkConfig
        self.edm = edm
        self.parameters = parameters
        self.metadata = metadata
    }

    public static func load(_ path: String, useEMA: Bool = true) throws -> TeacherModel {
        try TeacherModel(checkpoint: Checkpoint.read(path), useEMA: useEMA)
    }

    /// The model in a checkpoint already read. The network its metadata describes is checked
    /// against the tensors present before any parameter memory is allocated, so a hostile
    /// config (a huge hidden width) is refused rather than allocated.
    public init(checkpoint ck: Checkpoint, useEMA: Bool = true) throws {
        let path = ck.path
        try CheckpointKind.teacher.check(ck)
        let nc = try ck.metaJSON("network", as: NetworkConfig.self)
        let edm = try ck.metaJSON("edm", as: EDMConfig.self)
        do { try edm.validate() } catch { throw FileFormatError(path: path, "metadata 'edm': \(error)") }
        let net: ConditionalNetwork
        do { net = try nc.build() } catch { throw FileFormatError(path: path, "metadata 'network': \(error)") }
        guard ck.matches(group: "params", layout: net.layout) else {
            throw FileFormatError(path: path, "the tensors under 'params' do not match the network in its metadata (\(StrictConfig.json(nc)))")
        }
        let p = Parameters(layout: net.layout)
        let group = useEMA && ck.has(group: "ema", layout: net.layout) ? "ema" : "params"
        try ck.load(group: group, layout: net.layout, into: p.values)
        self.init(network: net, networkConfig: nc, edm: edm, parameters: p, metadata: ck.metadata)
    }

    public func denoiser(maxBatch: Int) -> NetworkDenoiser {
        NetworkDenoiser(network: network, edm: edm, parameters: parameters, maxBatch: maxBatch)
    }
}

