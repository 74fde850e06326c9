import ArgumentParser
import Foundation
import SwiftMPI
import BLAS
import NN
import Diffusion
import Training
import Distillation

/// `emd bench-distill`: seconds per distillation step with its breakdown, for the 2-D mixture
/// network and the 784-d image MLP, K = 1 and K = 8, on however many ranks it runs; and the
/// matrix-FLOP rate of the image step relative to sgemm measured in the same run.
struct BenchDistill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-distill",
        abstract: "Time distillation steps (breakdown by phase) and one-step vs multi-step sampling.")

    @Option(help: "Write the results as JSON here (rank 0).") var json: String?
    @Option(help: "Timed steps per configuration (after 2 warm-up steps; medians reported).") var steps = 9
    @Option(help: "Global batch.") var batch = 256
    @Option(help: "Langevin step counts to time (comma-separated).") var ks = "1,8"
    @Option(help: "Which networks (comma-separated): mixture (2-D MLP), image (784-d MLP), unet (28x28 U-Net, 32 channels).") var networks = "mixture,image"
    @Option(help: "Gradient all-reduce modes to time (comma-separated: separate, overlap, fused).")
    var allreduce = "separate"
    @Option(help: "Optimiser state to time (comma-separated: replicated, sharded); sharded needs --allreduce separate.")
    var optimizer = "replicated"
    @Flag(help: "Time a barrier before each blocking all-reduce, reporting the wait for the slowest rank (imbalance) apart from the reduction itself.")
    var splitImbalance = false

    func run() throws {
        try InputLimits.require(steps, "--steps", in: 1...100_000)
        try InputLimits.require(batch, "--batch", in: 1...65_536)
        let kList = ks.split(separator: ",").compactMap { Int($0) }
        guard !kList.isEmpty, kList.allSatisfy({ (1...1000).contains($0) }) else {
            throw ValidationError("--ks must be a comma-separated list of Langevin step counts in 1...1000, got \(ks)")
        }
        let networkList = networks.split(separator: ",").map(String.init)
        guard !networkList.isEmpty, networkList.allSatisfy(["mixture", "image", "unet"].contains) else {
            throw ValidationError("--networks: needs a comma-separated list of mixture, image, unet, got '\(networks)'")
        }
        let modes = try allreduce.split(separator: ",").map { m -> GradientExchangeMode in
            guard let mode = GradientExchangeMode(rawValue: String(m)) else {
                throw ValidationError("--allreduce: unknown mode '\(m)' (separate, overlap, fused, bucketed)")
            }
            return mode
        }
        let shardings = try optimizer.split(separator: ",").map { o -> Bool in
            switch o {
            case "replicated": return false
            case "sharded": return true
            default: throw ValidationError("--optimizer: unknown '\(o)' (replicated, sharded)")
            }
        }
        guard !modes.isEmpty, !shardings.isEmpty else {
            throw ValidationError("--allreduce and --optimizer need at least one value each")
        }
        let comm = startBenchmarkRun(blasThreads: nil)
        try runCommand(comm) {
            try checkOutputBeforeWork(json, flag: "--json", comm)
            let log = TrainingProgress(isRoot: comm.isRoot, totalSteps: 1, every: 1)
            let machine = MachineSummary.measure()
            machine.lines.forEach(log.log)
            // sgemm at 1024, the reference for utilisation, measured in this run.
            let n = 1024
            let a = Tensor(shape: [n, n]), b = Tensor(shape: [n, n]), c = Tensor(shape: [n, n])
            a.fill(0.5); b.fill(0.25)
            var ts: [Double] = []
            for _ in 0..<5 {
                let t0 = WallClock.now()
                BLAS.gemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
                ts.append(WallClock.now() - t0)
            }
            let sgemm = 2 * Double(n * n * n) / ts.sorted()[2] / 1e9
            log.log(String(format: "sgemm 1024: %.2f GFLOP/s", sgemm))
            var rows: [[String: Any]] = []
            for which in networkList {
                let (net, netConfig, teacher, edm, dim): (ConditionalNetwork, NetworkConfig, Denoiser, EDMConfig, Int)
                let localBatch = Shard(comm, globalBatch: batch).count
                if which == "mixture" {
                    let m = GaussianMixture.ring()
                    netConfig = NetworkConfig(kind: .mlp, dimension: 2, hidden: 128, depth: 3, embedding: 64)
                    net = try netConfig.build()
                    teacher = ExactMixtureDenoiser(m)
                    edm = EDMConfig(sigmaData: m.dataStd)
                    dim = 2
                } else if which == "image" || which == "unet" {
                    netConfig = which == "image" ? NetworkConfig(kind: .mlp, dimension: 784, hidden: 1024, depth: 3, embedding: 64)
                        : NetworkConfig(kind: .unet, dimension: 784, embedding: 64)
                    net = try netConfig.build()
                    edm = EDMConfig(sigmaData: 0.7)
                    let tp = Parameters(layout: net.layout)
                    tp.initialize(seed: 99)
                    teacher = NetworkDenoiser(network: net, edm: edm, parameters: tp, maxBatch: localBatch)
                    dim = 784
                } else {
                    throw ValidationError("--networks: unknown '\(which)' (mixture, image, unet)")
                }
                let initial = Parameters(layout: net.layout)
                initial.initialize(seed: 1)
                for k in kList {
                  for mode in modes {
                  for sharding in shardings {
                    var cfg = DistillConfig()
                    cfg.allreduce = mode
                    cfg.optimizerSharding = sharding
                    cfg.batch = batch
                    cfg.langevinSteps = k
                    cfg.method = k == 1 ? .baseline : .emd
                    cfg.mixture = .ring()
                    let d = try Distiller(config: cfg, collectives: comm, teacher: teacher, networkConfig: netConfig, edm: edm, initial: initial)
                    d.separateImbalance = splitImbalance
                    for _ in 0..<2 { _ = try d.trainStep() }
                    d.times = StepTimes()
                    try comm.barrier()
                    // Step times, each followed by one sgemm(1024) timed under the same load.
                    var stepTimes: [Double] = [], gemmTimes: [Double] = []
                    for _ in 0..<steps {
                        var t0 = WallClock.now()
                        _ = try d.trainStep()
                        stepTimes.append(WallClock.now() - t0)
                        t0 = WallClock.now()
                        BLAS.gemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
                        gemmTimes.append(WallClock.now() - t0)
                    }
                    // The slowest rank's median (nanoseconds through an all-gather, which every
                    // collectives implementation has).
                    let wall = Double(try comm.allgather(Int64(stepTimes.sorted()[steps / 2] * 1e9)).max() ?? 0) / 1e9
                    let sgemmNow = 2 * Double(n * n * n) / gemmTimes.sorted()[steps / 2] / 1e9
                    // Matrix FLOPs per step on this rank (forward F = 2 * macs * local batch):
                    // E-step K x (generator, teacher, student forwards + generator VJP), M-step
                    // generator forward (when z moves) + backward (~2F), n_s x (generator forward,
                    // student forward + backward (~2F)).
                    let f = 2 * Double(net.macsPerSample) * Double(localBatch)
                    let teacherF = which == "mixture" ? 0 : f
                    let zMoves = cfg.effectiveGammaZ > 0
                    let flops = Double(k) * (2 * f + teacherF + (zMoves ? f : 0)) + (zMoves ? f : 0) + 2 * f
                        + Double(cfg.studentSteps) * 4 * f
                    var row: [String: Any] = ["network": which, "dimension": dim, "K": k, "ranks": comm.size,
                                              "batch": batch, "seconds_per_step": wall, "allreduce": mode.rawValue,
                                              "optimizer": sharding ? "sharded" : "replicated"]
                    row["breakdown_ms"] = d.times.dictionary.mapValues { 1000 * $0 / Double(steps) }
                    row["allreduce_share"] = d.times.allreduce / d.times.total
                    if splitImbalance { row["imbalance_share"] = d.times.imbalance / d.times.total }
                    row["sgemm_1024_alongside_gflops"] = sgemmNow
                    if which != "mixture" {
                        row["gflops"] = flops / wall / 1e9
                        row["utilization"] = flops / wall / 1e9 / sgemmNow
                        if let ofPeak = machine.ofPeak(flops / wall / 1e9) { row["utilization_of_peak"] = ofPeak }
                    }
                    rows.append(row)
                    let parts = d.times.dictionary.sorted { $0.key < $1.key }
                        .map { String(format: "%@ %.1f", $0.key, 1000 * $0.value / Double(steps)) }.joined(separator: ", ")
                    log.log(String(format: "%@ K=%d ranks=%d allreduce=%@%@: %.1f ms/step (median)%@ [%@ ms]", which, k, comm.size, mode.rawValue,
                                   sharding ? " optimizer=sharded" : "", 1000 * wall,
                                   which != "mixture" ? String(format: ", %.1f GFLOP/s = %.2f of sgemm(1024) timed alongside (%.1f), %.2f of the core's peak",
                                                            flops / wall / 1e9, flops / wall / 1e9 / sgemmNow, sgemmNow,
                                                            machine.ofPeak(flops / wall / 1e9) ?? .nan) : "", parts))
                  }
                  }
                }
                if which == "image" && comm.isRoot {
                    // One-step sampling vs the teacher's 35-NFE Heun sampler, same network.
                    let p = Parameters(layout: net.layout)
                    p.initialize(seed: 1)
                    let count = 512
                    var t0 = WallClock.now()
                    _ = OneStepGenerator(network: net, edm: edm, parameters: p, sigmaInit: 2.5).sample(count: count, seed: 1)
                    let one = Double(count) / (WallClock.now() - t0)
                    t0 = WallClock.now()
                    _ = Sampler.heun.sample(NetworkDenoiser(network: net, edm: edm, parameters: p, maxBatch: 256), edm: edm,
                                            steps: 18, count: count, seed: 1)
                    let heun = Double(count) / (WallClock.now() - t0)
                    rows.append(["sampling": "image", "one_step_samples_per_s": one, "heun35_samples_per_s": heun,
                                 "speedup": one / heun])
                    log.log(String(format: "sampling 784-d MLP: one step %.0f samples/s, Heun 35 NFE %.0f samples/s (%.1fx)", one, heun, one / heun))
                }
            }
            if comm.isRoot, let json {
                try writeJSON(["sgemm_gflops_1024": sgemm, "machine": machine.json, "rows": rows, "date": ISO8601DateFormatter().string(from: Date())], to: json)
            }
        }
    }
}
