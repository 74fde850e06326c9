import ArgumentParser
import Foundation
import Diffusion
import Training

/// `emd scaling-model`: predicted step time, weak and strong scaling efficiency against node
/// count for the image MLP and U-Net distillation, from an alpha-beta model of the all-reduce
/// calibrated on this machine (docs/scaling.md has the measurements and the reading).
struct ScalingModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling-model",
        abstract: "Predict distillation step time and scaling efficiency on many nodes (alpha-beta model).")

    @Option(help: "Node counts (comma-separated).") var nodes = "1,8,64,512"
    @Option(help: "Ranks (cores) per node.") var ranksPerNode = 2
    @Option(help: "Inter-node link speeds in Gb/s (comma-separated).") var gbits = "25,100"
    @Option(help: "Inter-node latency per message, microseconds (not measurable on one VM; docs/scaling.md).")
    var interAlphaUs = 5.0
    @Option(help: "Intra-node (shared memory) latency per message, microseconds (measured: emd bench on 2 ranks).")
    var intraAlphaUs = 0.39
    @Option(help: "Intra-node bandwidth per link, GB/s (measured: emd bench on 2 ranks).") var intraGBytes = 6.0
    @Option(help: "Weak scaling: samples per rank per step.") var perRank = 128
    @Option(help: "Strong scaling: global batch.") var globalBatch = 4096
    @Option(help: "Image MLP distillation (K = 8): compute ms per sample per step on one core (measured: bench-distill).")
    var mlpMsPerSample = 5.46
    @Option(help: "Image MLP: optimiser ms per step on one rank, replicated (measured).") var mlpOptimizerMs = 71.0
    @Option(help: "U-Net distillation (K = 8): compute ms per sample per step on one core (measured).")
    var unetMsPerSample = 243.0
    @Option(help: "U-Net: optimiser ms per step on one rank, replicated (measured).") var unetOptimizerMs = 7.1
    @Option(help: "Student updates per generator update (one gradient reduction each, plus the generator's).")
    var studentSteps = 5
    @Flag(help: "Sharded optimiser state (optimiser time divided by the rank count).") var sharded = false
    @Option(help: "Fraction of communication hidden behind computation (0...1).") var overlap = 0.0
    @Option(help: "Write the predictions as JSON here.") var json: String?

    func run() throws {
        let nodeList = nodes.split(separator: ",").compactMap { Int($0) }
        let speeds = gbits.split(separator: ",").compactMap { Double($0) }
        guard !nodeList.isEmpty, nodeList.allSatisfy({ (1...1_000_000).contains($0) }) else {
            throw ValidationError("--nodes: comma-separated counts in 1...1000000, got \(nodes)")
        }
        guard !speeds.isEmpty, speeds.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw ValidationError("--gbits: positive speeds") }
        try InputLimits.require(ranksPerNode, "--ranks-per-node", in: 1...4096)
        try InputLimits.require(perRank, "--per-rank", in: 1...1_000_000)
        try InputLimits.require(globalBatch, "--global-batch", in: 1...100_000_000)
        try InputLimits.require(studentSteps, "--student-steps", in: 0...1000)
        for (v, name) in [(interAlphaUs, "--inter-alpha-us"), (intraAlphaUs, "--intra-alpha-us"), (intraGBytes, "--intra-gbytes"),
                          (mlpMsPerSample, "--mlp-ms-per-sample"), (mlpOptimizerMs, "--mlp-optimizer-ms"),
                          (unetMsPerSample, "--unet-ms-per-sample"), (unetOptimizerMs, "--unet-optimizer-ms")]
        where !(v.isFinite && v >= 0) {
            throw ValidationError("\(name) must be a finite number >= 0, got \(v)")
        }
        guard (0...1).contains(overlap) else { throw ValidationError("--overlap must be in 0...1") }
        let mlp = try NetworkConfig(kind: .mlp, dimension: 784, hidden: 1024, depth: 3, embedding: 64).build().layout.count
        let unet = try NetworkConfig(kind: .unet, dimension: 784, embedding: 64).build().layout.count
        let workloads = [
            ScalingWorkload(name: "image MLP 784-1024x3-784, K = 8", parameters: mlp, reductionsPerStep: 1 + studentSteps,
                            computePerSample: mlpMsPerSample / 1000, optimizerSeconds: mlpOptimizerMs / 1000),
            ScalingWorkload(name: "U-Net c = 32, 28 x 28, K = 8", parameters: unet, reductionsPerStep: 1 + studentSteps,
                            computePerSample: unetMsPerSample / 1000, optimizerSeconds: unetOptimizerMs / 1000),
        ]
        let intra = LinkModel(alpha: intraAlphaUs * 1e-6, bandwidth: intraGBytes * 1e9)
        var out: [[String: Any]] = []
        print("Alpha-beta model of a distillation step (docs/scaling.md): \(ranksPerNode) rank(s) per node, hierarchical all-reduce "
              + "(shared memory inside a node, halving-doubling between nodes), \(1 + studentSteps) gradient reductions per step, "
              + "optimiser \(sharded ? "sharded" : "replicated"), overlap \(overlap).")
        print(String(format: "intra-node: alpha %.2f us, %.2f GB/s; inter-node: alpha %.2f us", intraAlphaUs, intraGBytes, interAlphaUs))
        for w in workloads {
            for g in speeds {
                let model = ScalingModel(workload: w, ranksPerNode: ranksPerNode, intra: intra,
                                         inter: LinkModel(alpha: interAlphaUs * 1e-6, bandwidth: g * 1e9 / 8), sharded: sharded,
                                         overlap: overlap)
                print("\n\(w.name) (\(w.parameters) parameters), \(g) Gb/s")
                print("| nodes | ranks | weak: step ms (compute, comm, optimiser) | weak eff. | strong: step ms (compute, comm, optimiser) | strong eff. |")
                print("|---|---|---|---|---|---|")
                for n in nodeList {
                    let wk = model.weak(nodes: n, perRank: perRank), st = model.strong(nodes: n, globalBatch: globalBatch)
                    func cell(_ p: ScalingPoint) -> String {
                        String(format: "%.1f (%.1f, %.1f, %.1f)", 1000 * p.step, 1000 * p.compute, 1000 * p.communication, 1000 * p.optimizer)
                    }
                    print(String(format: "| %d | %d | %@ | %.3f | %@ | %.3f |", n, wk.ranks, cell(wk), wk.efficiency, cell(st), st.efficiency))
                    out.append(["workload": w.name, "gbits": g, "nodes": n, "ranks": wk.ranks,
                                "weak_step_s": wk.step, "weak_comm_s": wk.communication, "weak_efficiency": wk.efficiency,
                                "strong_step_s": st.step, "strong_comm_s": st.communication, "strong_efficiency": st.efficiency])
                }
            }
        }
        if let json { try writeJSON(["predictions": out, "ranks_per_node": ranksPerNode, "sharded": sharded, "overlap": overlap], to: json) }
    }
}
