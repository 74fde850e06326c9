import ArgumentParser
import Foundation
import Training
import SwiftMPI
import Diffusion
import Distillation
import Evaluation
import FileFormats

/// `emd demo`: the main job on the built-in default. Distills the exact 8-mode mixture teacher
/// with EMD and with the K = 1 baseline on the same budget and seeds, evaluates both beside the
/// teacher's own Heun samples, and writes a Markdown report with scatter plots.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "EMD vs the mode-seeking baseline on the built-in exact mixture teacher, with a report.")

    @Option(help: "Write the metrics as JSON here (rank 0).") var json: String?
    @Option(help: "Output folder for checkpoints, plots and report.md.") var out = "runs/demo"
    @Option(help: "Generator steps for each method.") var steps = 5000
    @Option(help: "Steps fitting the initial network to the mixture.") var initSteps = 3000
    @Option(name: .customLong("langevin-steps"), help: "K for EMD.") var langevinSteps = 8
    @Option(help: "Samples per evaluation.") var samples = 10000
    @Option(help: "Heun steps for the teacher's samples (NFE = 2N - 1).") var teacherSteps = 18
    @Option(help: "Seed.") var seed = 0
    @Option(help: "Mixture: ring (default), random:D, or a JSON file.") var mixture: String?
    @Option(help: "OpenBLAS threads per rank.") var blasThreads: Int?

    func run() throws {
        try InputLimits.require(steps, "--steps", in: InputLimits.trainingSteps)
        try InputLimits.require(initSteps, "--init-steps", in: InputLimits.trainingSteps)
        try InputLimits.require(samples, "--samples", in: 1...10_000_000)
        try InputLimits.require(teacherSteps, "--teacher-steps", in: InputLimits.samplerSteps)
        try InputLimits.require(langevinSteps, "--langevin-steps", in: 1...1000)
        try InputLimits.require(seed, "--seed", in: InputLimits.seeds)
        try validateBLASThreads(blasThreads)
        let mix = try parseMixture(mixture) ?? .ring()
        let comm = startRun(blasThreads: blasThreads)
        let env = CommandEnvironment()
        try runCommand(comm) {
            try checkOutputBeforeWork(json, flag: "--json", comm)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let log = TrainingProgress(isRoot: comm.isRoot, totalSteps: steps, every: max(1, steps / 10), style: env.progressStyle)
            var base = DistillConfig()
            base.mixture = mix
            base.network.dimension = mix.dimension
            base.steps = steps
            base.initSteps = initSteps
            base.seed = seed
            base.langevinSteps = langevinSteps
            base.logEvery = max(1, steps / 10)
            base.checkpointEvery = steps
            // One initial network for both methods.
            let setup = try DistillationRun.setup(base, collectives: comm, initOut: out + "/init", log: log, style: env.progressStyle)
            var results: [String: [String: Any]] = [:]
            var rows: [(String, String, MixtureReport, String)] = []
            for method in [DistillMethod.emd, .baseline] {
                let name = method.rawValue
                var c = base
                c.method = method
                let d = try Distiller(config: c, collectives: comm, teacher: setup.teacher, networkConfig: setup.networkConfig,
                                      edm: setup.edm, initial: setup.initial, faults: env.faults)
                let t0 = WallClock.now()
                // Each demo run replaces the previous demo's run of the same method.
                let dir = CheckpointDirectory(path: "\(out)/\(name)", keep: c.keepCheckpoints)
                try TrainingLoop.claim(dir, collectives: comm, mode: .overwrite, clearing: ["generator.safetensors"])
                let progress = try progressReporter(comm, steps: steps, every: c.logEvery, metricsPath: "\(out)/\(name)/metrics.jsonl",
                                                    style: env.progressStyle)
                let loop = TrainingLoop(collectives: comm, directory: dir,
                                        schedule: TrainingSchedule(steps: steps, checkpointEvery: c.checkpointEvery), progress: progress)
                try loop.run(d, finalName: "generator.safetensors")
                let seconds = WallClock.now() - t0
                if comm.isRoot {
                    let s = d.sample(count: samples, seed: UInt64(seed) &+ 1000)
                    let r = MixtureMetrics.evaluate(s, mixture: mix)
                    try AtomicFile.write(try ScatterPlot.png(samples: s, mixture: mix), to: "\(out)/\(name).png")
                    var row = r.dictionary
                    row["seconds"] = seconds
                    row["seconds_per_step"] = seconds / Double(steps)
                    row["method"] = name
                    row["langevin_steps"] = c.effectiveK
                    results[name] = row
                    let label = method == .emd ? "EMD (K = \(c.effectiveK)), one step" : "baseline (K = 1, Diff-Instruct/DMD), one step"
                    rows.append((name, label, r, String(format: "%.1f s", seconds)))
                }
            }
            if comm.isRoot {
                // The exact teacher's own multi-step samples and the initial generator.
                let teacherSamples = try stoppableEvaluation("the teacher's evaluation", log: log.log) { stop in
                    try Sampler.heun.sample(ExactMixtureDenoiser(mix), edm: setup.edm, steps: teacherSteps, count: samples,
                                            seed: UInt64(seed) &+ 2000, stop: stop)
                }
                let tr = MixtureMetrics.evaluate(teacherSamples, mixture: mix)
                try AtomicFile.write(try ScatterPlot.png(samples: teacherSamples, mixture: mix), to: "\(out)/teacher.png")
                var trow = tr.dictionary
                trow["nfe"] = Sampler.heun.nfe(steps: teacherSteps)
                results["teacher"] = trow
                rows.append(("teacher", "exact teacher, Heun \(Sampler.heun.nfe(steps: teacherSteps)) NFE", tr, "—"))
                let initial = OneStepGenerator(network: try setup.networkConfig.build(), edm: setup.edm, parameters: setup.initial,
                                               sigmaInit: base.noiseLevels(sigmaData: setup.edm.sigmaData).initial).sample(count: samples, seed: UInt64(seed) &+ 1000)
                let ir = MixtureMetrics.evaluate(initial, mixture: mix)
                try AtomicFile.write(try ScatterPlot.png(samples: initial, mixture: mix), to: "\(out)/initial.png")
                results["initial_generator"] = ir.dictionary
                rows.append(("initial", "initial generator (before distillation), one step", ir, "—"))
                var result: [String: Any] = results
                result["config"] = ["steps": steps, "init_steps": initSteps, "ranks": comm.size, "samples": samples,
                                    "seed": seed, "batch": base.batch, "langevin_steps": langevinSteps]
                try writeJSON(result, to: "\(out)/demo.json")
                if let json { try writeJSON(result, to: json) }
                var md = "# emd demo: EM Distillation vs the mode-seeking baseline\n\n"
                md += "Exact \(mix.modes)-mode Gaussian-mixture teacher in \(mix.dimension)-D, weights \(mix.weights.map { String(format: "%.2f", $0) }.joined(separator: " ")); "
                md += "\(steps) generator steps per method, global batch \(base.batch), \(comm.size) rank(s), seed \(seed), \(samples) samples per evaluation.\n\n"
                md += "| model | on_mode | modes covered | weight_tv | training time |\n|---|---|---|---|---|\n"
                for (_, label, r, t) in rows {
                    md += String(format: "| %@ | %.3f | %d/%d | %.3f | %@ |\n", label, r.onMode, r.modesCovered, mix.modes, r.weightTV, t)
                }
                md += "\nPer-mode shares of on-mode samples (weights: \(mix.weights.map { String(format: "%.2f", $0) }.joined(separator: ", "))):\n\n"
                for (_, label, r, _) in rows {
                    md += "- \(label): " + r.modeShares.map { String(format: "%.3f", $0) }.joined(separator: ", ") + "\n"
                }
                md += "\n| EMD | baseline | teacher (Heun) | initial generator |\n|---|---|---|---|\n"
                md += "| ![emd](emd.png) | ![baseline](baseline.png) | ![teacher](teacher.png) | ![initial](initial.png) |\n"
                try AtomicFile.write(Data(md.utf8), to: "\(out)/report.md")
                for (_, label, r, _) in rows {
                    log.log(String(format: "%-52@ on_mode %.3f  modes %d/%d  weight_tv %.3f", label as NSString, r.onMode, r.modesCovered, mix.modes, r.weightTV))
                }
                log.log("report: \(out)/report.md")
            }
        }
    }
}
