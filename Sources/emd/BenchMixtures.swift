import ArgumentParser
import Foundation
import FileFormats
import BLAS
import NN
import Diffusion
import Distillation
import Evaluation
import Training

/// `emd bench-mixtures`: the mixture benchmark suite of docs/results.md. For each mixture and
/// seed: one initial network fitted to the mixture, then the K = 1 baseline and EMD at each K
/// with equal wall time, each evaluated beside the exact teacher's Heun samples. Equal wall
/// time is set by step counts, not clocks, so that a loaded machine cannot shorten a run: the
/// baseline takes `--baseline-steps` and each K takes that many times the ratio of their median
/// step times, measured in this process one after the other before the runs. Runs are
/// `emd distill` child processes, `--jobs` at a time; finished runs are kept and skipped.
struct BenchMixtures: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-mixtures",
        abstract: "Mixture benchmark suite: EMD vs the K = 1 baseline at equal wall time on several mixtures and seeds.")

    @Option(help: "Output folder (runs, results.json, results.md).") var out = "runs/bench-mixtures"
    @Option(help: "Mixtures (comma-separated built-in names or JSON files).")
    var mixtures = "ring,ring*3,grid,grid-unequal,random:8,random:16,random:32"
    @Option(help: "Seeds (comma-separated).") var seeds = "0,1,2"
    @Option(help: "Langevin steps K to compare (comma-separated; 1 is the baseline method).") var ks = "1,4,8"
    @Option(help: "Steps of the K = 1 baseline; every K gets the same wall time (steps scaled by measured step-time ratios).")
    var baselineSteps = 5000
    @Option(help: "Steps fitting each mixture's initial network.") var initSteps = 3000
    @Option(help: "Samples per evaluation.") var evalSamples = 10000
    @Option(help: "Runs at once (each one process, one BLAS thread).") var jobs = 2
    @Flag(help: "CI mode: one seed, 150 baseline steps, 300 initial steps, 2000 samples.") var quick = false
    @Flag(help: "A longer, more thorough pass: 5 seeds, 4x the steps.") var thorough = false
    @Flag(help: "Anneal each run's generator learning rate to 0 over its own steps (--generator-lr-decay-steps set to them).")
    var lrDecay = false
    @Option(parsing: .remaining, help: "Flags passed to every distillation (after --).") var extra: [String] = []

    func run() throws {
        Preemption.install()
        BLAS.setThreads(1)
        var seedList = try list(seeds, "--seeds").map { Int($0)! }
        var baseSteps = baselineSteps, fitSteps = initSteps, samples = evalSamples
        if quick { seedList = [seedList.first ?? 0]; baseSteps = 150; fitSteps = 300; samples = 2000 }
        if thorough { seedList = Array(0..<max(5, seedList.count)); baseSteps *= 4 }
        let kList = try list(ks, "--ks").map { Int($0)! }
        try ResourceLimits.check("--baseline-steps", baseSteps, in: 10...100_000_000)
        try ResourceLimits.check("--jobs", jobs, in: 1...256)
        try ResourceLimits.check("--init-steps", fitSteps, in: 1...10_000_000)
        try ResourceLimits.check("--eval-samples", samples, in: 100...10_000_000)
        let named = try mixtures.split(separator: ",").map { spec -> (String, GaussianMixture) in
            guard let m = try parseMixture(String(spec)) else { throw ValidationError("no mixture \(spec)") }
            return (String(spec), m)
        }
        // The output folder and its report files first: the runs' logs go there, and a folder
        // that cannot be made should fail now, not after hours of runs.
        do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw ValidationError("--out: cannot create \(out): \(error.localizedDescription)")
        }
        try checkOutput(out + "/results.json", flag: "--out")
        let runner = ChildRunner(executable: try selfPath(), jobs: jobs)
        var rows: [[String: Any]] = []
        var budgets: [String: Double] = [:]
        for (spec, mixture) in named {
            let dir = out + "/" + spec.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "-")
                .replacingOccurrences(of: "*", with: "x")
            // Initial networks, one per seed, in parallel.
            for seed in seedList where !exists("\(dir)/init-s\(seed)/teacher.safetensors") {
                runner.submit(["train-teacher", "--data", "mixture", "--mixture", spec, "--steps", "\(fitSteps)", "--seed", "\(seed)",
                               "--log-every", "\(max(1, fitSteps / 4))", "--checkpoint-every", "\(fitSteps)", "--overwrite",
                               "--out", "\(dir)/init-s\(seed)"], log: "\(dir)/init-s\(seed).log")
            }
            try runner.waitAll()
            let stepTimes = try calibrate(mixture, initPath: "\(dir)/init-s\(seedList[0])/teacher.safetensors", ks: kList)
            let budget = Double(baseSteps) * stepTimes[kList.min()!]!
            func stepsFor(_ k: Int) -> Int { max(10, Int((budget / stepTimes[k]!).rounded())) }
            budgets[spec] = budget
            for seed in seedList {
                for k in kList {
                    let steps = stepsFor(k)
                    let run = "\(dir)/s\(seed)/k\(k)"
                    if exists(run + "/eval.json") { continue }
                    runner.submit(["distill", "--mixture", spec, "--init", "\(dir)/init-s\(seed)/teacher.safetensors",
                                   "--seed", "\(seed)", "--steps", "\(steps)", "--method", k == 1 ? "baseline" : "emd",
                                   "--langevin-steps", "\(k)", "--log-every", "\(max(1, steps / 10))", "--checkpoint-every", "\(steps)",
                                   "--eval-samples", "\(samples)", "--overwrite", "--out", run]
                                   + (lrDecay ? ["--generator-lr-decay-steps", "\(steps)"] : []) + extra, log: run + ".log")
                }
            }
            try runner.waitAll()
            for seed in seedList {
                for k in kList {
                    let run = "\(dir)/s\(seed)/k\(k)"
                    var row = try readJSON(run + "/eval.json")
                    row["mixture"] = spec; row["seed"] = seed; row["K"] = k; row["run"] = run
                    row["steps"] = stepsFor(k); row["seconds_per_step"] = stepTimes[k]!
                    row["metrics"] = lastMetrics(run + "/metrics.jsonl")
                    rows.append(row)
                    if k == kList[0] {
                        var t = try readJSON(run + "/eval-teacher.json")
                        t["mixture"] = spec; t["seed"] = seed; t["K"] = 0
                        rows.append(t)
                    }
                }
            }
        }
        let report: [String: Any] = ["baseline_steps": baseSteps, "budget_seconds": budgets, "seeds": seedList, "ks": kList, "init_steps": fitSteps,
                                     "lr_decay": lrDecay,
                                     "eval_samples": samples, "blas_core": BLAS.coreName, "rows": rows,
                                     "date": ISO8601DateFormatter().string(from: Date())]
        try writeJSON(report, to: out + "/results.json")
        let md = BenchMixturesTable.markdown(rows: rows, mixtures: named.map(\.0), ks: kList, baselineSteps: baseSteps, budgets: budgets)
        try AtomicFile.write(Data(md.utf8), to: out + "/results.md")
        Console.out(md)
        Console.out("wrote \(out)/results.md and \(out)/results.json\n")
    }

    func list(_ s: String, _ flag: String) throws -> [String] {
        let items = s.split(separator: ",").map(String.init)
        guard !items.isEmpty, items.allSatisfy({ Int($0).map { $0 >= 0 && $0 <= 1_000_000 } ?? false }) else {
            throw ValidationError("\(flag) must be a comma-separated list of small non-negative integers")
        }
        return items
    }

    /// Median seconds per distillation step of each K on this mixture, measured in this
    /// process on one core: 3 warm-up steps each, then 25 rounds of one timed step of every K in
    /// turn, so that a change in the machine's load touches every K alike.
    func calibrate(_ mixture: GaussianMixture, initPath: String, ks: [Int]) throws -> [Int: Double] {
        let model = try TeacherModel.load(initPath)
        var distillers: [Int: Distiller] = [:]
        for k in ks {
            var c = DistillConfig()
            c.mixture = mixture
            c.method = k == 1 ? .baseline : .emd
            c.langevinSteps = k
            let d = try Distiller(config: c, collectives: LocalCollectives.single(), teacher: ExactMixtureDenoiser(mixture),
                                  networkConfig: model.networkConfig, edm: model.edm, initial: model.parameters)
            for _ in 0..<3 { _ = try d.trainStep() }
            distillers[k] = d
        }
        var times: [Int: [Double]] = [:]
        for _ in 0..<25 {
            for k in ks {
                let t0 = WallClock.now()
                _ = try distillers[k]!.trainStep()
                times[k, default: []].append(WallClock.now() - t0)
            }
        }
        return times.mapValues { $0.sorted()[$0.count / 2] }
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    func readJSON(_ path: String) throws -> [String: Any] {
        guard let d = try? readRegularFile(path),
              let o = try JSONSerialization.jsonObject(with: d) as? [String: Any] else {
            throw ValidationError("cannot read \(path) (did the run fail? see its .log)")
        }
        return o
    }

    /// The last line of a run's metrics.jsonl (its final diagnostics).
    func lastMetrics(_ path: String) -> [String: Any] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let last = text.split(separator: "\n").last,
              let o = try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else { return [:] }
        return o
    }

    func selfPath() throws -> String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        guard FileManager.default.isExecutableFile(atPath: path) else { throw ValidationError("cannot find the emd executable") }
        return path
    }
}

/// Child processes of this program, at most `jobs` running at once.
final class ChildRunner {
    let executable: String
    let jobs: Int
    private var running: [(Process, String)] = []
    private var failures: [String] = []

    init(executable: String, jobs: Int) {
        self.executable = executable
        self.jobs = jobs
    }

    /// Start `arguments` when a slot is free; its output goes to `log`.
    func submit(_ arguments: [String], log: String) {
        while running.count >= jobs { reap(blocking: true) }
        try? FileManager.default.createDirectory(atPath: (log as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let handle = FileHandle(forWritingAtPath: log)
        p.standardOutput = handle
        p.standardError = handle
        do { try p.run(); running.append((p, log)) } catch { failures.append("\(log): \(error)") }
    }

    /// Wait for every child; throw naming the logs of those that failed.
    func waitAll() throws {
        while !running.isEmpty { reap(blocking: true) }
        if Preemption.requested { throw ExitCode(Preemption.exitCode) }
        guard failures.isEmpty else {
            defer { failures = [] }
            throw ValidationError("runs failed, see: " + failures.joined(separator: ", "))
        }
    }

    private func reap(blocking: Bool) {
        while true {
            if let i = running.firstIndex(where: { !$0.0.isRunning }) {
                let (p, log) = running.remove(at: i)
                if p.terminationStatus != 0 { failures.append("\(log) (exit \(p.terminationStatus))") }
                return
            }
            if Preemption.requested { for (p, _) in running { p.terminate() } }
            if !blocking { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}
