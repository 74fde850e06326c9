import Foundation

/// An alpha-beta model of one kind of link: a message of n bytes costs `alpha + n / bandwidth`.
public struct LinkModel: Sendable, Equatable {
    /// Seconds per message (latency and software overhead).
    public var alpha: Double
    /// Bytes per second.
    public var bandwidth: Double
    public init(alpha: Double, bandwidth: Double) {
        self.alpha = alpha
        self.bandwidth = bandwidth
    }

    /// Fit alpha and bandwidth to all-reduce times of a p-rank ring (t = 2(p-1) alpha +
    /// 2(p-1)/p n / bandwidth) measured at several sizes: alpha from the smallest message (where
    /// the bandwidth term is negligible), the bandwidth from the slope between the two largest
    /// (where the latency term is).
    public static func fitRingAllreduce(ranks p: Int, samples: [(bytes: Double, seconds: Double)]) -> LinkModel {
        precondition(p >= 2 && samples.count >= 2)
        let sorted = samples.sorted { $0.bytes < $1.bytes }
        let steps = 2 * Double(p - 1)
        let (a, b) = (sorted[sorted.count - 2], sorted[sorted.count - 1])
        let slope = max((b.seconds - a.seconds) / (b.bytes - a.bytes), 1e-30)
        return LinkModel(alpha: sorted[0].seconds / steps, bandwidth: (steps / Double(p)) / slope)
    }
}

/// Costs of the collectives a data-parallel step uses, in the alpha-beta model.
public enum CollectiveCost {
    /// Ring all-reduce of `bytes` over `p` ranks: 2(p-1) messages, 2(p-1)/p of the data each way.
    public static func ringAllreduce(bytes: Double, ranks p: Int, link: LinkModel) -> Double {
        guard p > 1 else { return 0 }
        let q = Double(p)
        return 2 * (q - 1) * link.alpha + 2 * (q - 1) / q * bytes / link.bandwidth
    }

    /// Rabenseifner's all-reduce (recursive-halving reduce-scatter, recursive-doubling
    /// all-gather): the ring's bandwidth term with 2 log2(p) messages.
    public static func halvingDoublingAllreduce(bytes: Double, ranks p: Int, link: LinkModel) -> Double {
        guard p > 1 else { return 0 }
        let q = Double(p)
        return 2 * log2(q).rounded(.up) * link.alpha + 2 * (q - 1) / q * bytes / link.bandwidth
    }

    /// Hierarchical all-reduce over `nodes` nodes of `perNode` ranks: reduce-scatter inside each
    /// node (shared memory), all-reduce of the node's 1/perNode slices across nodes (every rank
    /// one slice, all through the node's one network link, so the link carries the whole
    /// buffer's traffic), all-gather inside the node. `interAlgorithm` is the ring or the
    /// halving-doubling all-reduce.
    public static func hierarchicalAllreduce(bytes: Double, nodes: Int, perNode: Int, intra: LinkModel, inter: LinkModel,
                                             interAlgorithm: (Double, Int, LinkModel) -> Double = halvingDoublingAllreduce) -> Double {
        let c = Double(perNode)
        let intraHalf = perNode > 1 ? (c - 1) * intra.alpha + (c - 1) / c * bytes / intra.bandwidth : 0
        return 2 * intraHalf + interAlgorithm(bytes, nodes, inter)
    }
}

/// A data-parallel training step as the model sees it, from quantities measured on one rank.
public struct ScalingWorkload: Sendable {
    public var name: String
    /// Parameters of each network whose gradient is reduced.
    public var parameters: Int
    /// Gradient reductions per step (distillation: the generator's and n_s student ones).
    public var reductionsPerStep: Int
    /// Seconds of computation per sample per step on one core (everything but the optimiser
    /// and the reductions).
    public var computePerSample: Double
    /// Seconds per step of the optimiser over all parameters on one rank, replicated.
    public var optimizerSeconds: Double

    public init(name: String, parameters: Int, reductionsPerStep: Int, computePerSample: Double, optimizerSeconds: Double) {
        self.name = name
        self.parameters = parameters
        self.reductionsPerStep = reductionsPerStep
        self.computePerSample = computePerSample
        self.optimizerSeconds = optimizerSeconds
    }
}

/// One predicted step.
public struct ScalingPoint: Sendable {
    public var nodes: Int
    public var ranks: Int
    public var compute: Double
    public var communication: Double
    public var optimizer: Double
    public var step: Double { compute + communication + optimizer }
    /// Against one node of the same model: weak scaling, the 1-node step time over this one
    /// (the same work per rank); strong scaling, the 1-node step time over nodes x this one.
    public var efficiency: Double
}

/// Step time against node count for a workload, cluster links and optimiser placement.
public struct ScalingModel: Sendable {
    public var workload: ScalingWorkload
    public var ranksPerNode: Int
    public var intra: LinkModel
    public var inter: LinkModel
    /// Optimiser state sharded over every rank (ZeRO stage 1; the same bytes as an all-reduce).
    public var sharded: Bool
    /// Fraction of the communication hidden behind computation (0: none; bucketed overlap with
    /// the backward pass can hide at most the part that finishes before the backward does).
    public var overlap: Double

    public init(workload: ScalingWorkload, ranksPerNode: Int, intra: LinkModel, inter: LinkModel, sharded: Bool = false,
                overlap: Double = 0) {
        self.workload = workload
        self.ranksPerNode = ranksPerNode
        self.intra = intra
        self.inter = inter
        self.sharded = sharded
        self.overlap = overlap
    }

    func communication(nodes: Int) -> Double {
        let bytes = 4 * Double(workload.parameters)
        let one = nodes == 1
            ? CollectiveCost.ringAllreduce(bytes: bytes, ranks: ranksPerNode, link: intra)
            : CollectiveCost.hierarchicalAllreduce(bytes: bytes, nodes: nodes, perNode: ranksPerNode, intra: intra, inter: inter)
        return Double(workload.reductionsPerStep) * one * (1 - overlap)
    }

    func optimizer(ranks: Int) -> Double {
        sharded ? workload.optimizerSeconds / Double(ranks) : workload.optimizerSeconds
    }

    /// Weak scaling: `perRank` samples per rank whatever the node count.
    public func weak(nodes: Int, perRank: Int) -> ScalingPoint {
        let ranks = nodes * ranksPerNode
        let compute = Double(perRank) * workload.computePerSample
        var p = ScalingPoint(nodes: nodes, ranks: ranks, compute: compute, communication: communication(nodes: nodes),
                             optimizer: optimizer(ranks: ranks), efficiency: 0)
        let oneNode = compute + communication(nodes: 1) + optimizer(ranks: ranksPerNode)
        p.efficiency = oneNode / p.step
        return p
    }

    /// Strong scaling: a global batch of `globalBatch` samples split over every rank.
    public func strong(nodes: Int, globalBatch: Int) -> ScalingPoint {
        let ranks = nodes * ranksPerNode
        let compute = (Double(globalBatch) / Double(ranks)).rounded(.up) * workload.computePerSample
        var p = ScalingPoint(nodes: nodes, ranks: ranks, compute: compute, communication: communication(nodes: nodes),
                             optimizer: optimizer(ranks: ranks), efficiency: 0)
        let oneNode = (Double(globalBatch) / Double(ranksPerNode)).rounded(.up) * workload.computePerSample
            + communication(nodes: 1) + optimizer(ranks: ranksPerNode)
        p.efficiency = oneNode / (Double(nodes) * p.step)
        return p
    }
}
