import ArgumentParser
import Foundation
import SwiftMPI
import BLAS
import NN
import Training
import Diffusion
import FileFormats

/// Options every training command shares.
struct RunOptions: ParsableArguments {
    @Option(help: "JSON config file; flags given on the command line override it.")
    var config: String?

    @Option(help: "Output folder: checkpoints, metrics.jsonl, final model.")
    var out: String

    @Flag(help: "Continue from the newest readable checkpoint in --out (its settings must match; steps, time limit, logging and checkpoint interval may change).")
    var resume = false

    @Flag(help: "Replace an earlier run in --out (its checkpoints and metrics are deleted). Without --resume or --overwrite, a folder holding a run is refused.")
    var overwrite = false

    @Option(help: "OpenBLAS threads per rank (default: $EMD_BLAS_THREADS or 1).")
    var blasThreads: Int?

    @Option(help: "With --resume: config keys (comma-separated, dotted for nested ones, e.g. generatorLR,network.hidden) the resumed run may change beyond the step budget, time limit and logging.")
    var allowChanged: String?

    /// The keys of --allow-changed.
    var allowedChanges: Set<String> { Set((allowChanged ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }) }

    mutating func validate() throws { try validateBLASThreads(blasThreads) }

    /// How the run meets an output folder that holds a run.
    func startMode() throws -> StartMode {
        guard !(resume && overwrite) else { throw ValidationError("--resume and --overwrite exclude each other") }
        return resume ? .resume : overwrite ? .overwrite : .fresh
    }

    /// A command's resolved config and start mode; a bad setting is a usage error.
    func resolve<Config>(_ config: () throws -> Config) throws -> (Config, StartMode) {
        do { return (try config(), try startMode()) } catch let e as ConfigError { throw ValidationError(e.description) }
    }

    /// Take --out (lock it, then refuse, clear or keep an earlier run as the start mode says),
    /// open its metrics.jsonl, and make the training loop. `clearing`: the run's other files.
    func openLoop(_ collectives: Collectives, mode: StartMode, keep: Int, schedule: TrainingSchedule, logEvery: Int,
                  clearing: [String], style: ProgressStyle) throws -> TrainingLoop {
        let dir = CheckpointDirectory(path: out, keep: keep)
        try TrainingLoop.claim(dir, collectives: collectives, mode: mode, clearing: clearing)
        let progress = try progressReporter(collectives, steps: schedule.steps, every: logEvery,
                                            metricsPath: out + "/metrics.jsonl", style: style)
        return TrainingLoop(collectives: collectives, directory: dir, schedule: schedule, progress: progress)
    }
}

/// Flags every training command has (`train-teacher`, `distill`), each laid over the config
/// key of the same name by the command's overlay table.
struct LoopFlags: ParsableArguments {
    @Option(help: "Gaussian mixture of a mixture run (--data or --teacher mixture): ring (default), grid, grid-unequal, random:D, or a JSON file.")
    var mixture: String?
    @Option(help: "Seed.") var seed: Int?
    @Option(help: "Log every N steps.") var logEvery: Int?
    @Option(help: "Checkpoint every N steps.") var checkpointEvery: Int?
}

/// What the process environment says, read here and only here, then passed down.
struct CommandEnvironment {
    let faults: FaultPlan
    let progressStyle: ProgressStyle
    let blasThreads: Int
    /// `EMD_CONV`: the convolution backend (nil: the default), or the unknown value given.
    let convBackend: Result<ConvBackend?, ValidationError>
    /// `EMD_GEMM`: the engine of matrix products (nil: the default, OpenBLAS), or the unknown value given.
    let gemmEngine: Result<GEMMEngine?, ValidationError>
    /// Whether an MPI launcher started this process (`launchedByMPI`).
    let underMPILauncher: Bool

    /// The value of the choice variable `name` (nil when unset), or an error naming the choices.
    static func choice<T: RawRepresentable & CaseIterable>(_ name: String, in env: [String: String]) -> Result<T?, ValidationError>
    where T.RawValue == String {
        guard let raw = env[name] else { return .success(nil) }
        return T(rawValue: raw).map { .success($0) }
            ?? .failure(ValidationError("\(name)=\(raw): expected one of \(T.allCases.map(\.rawValue).joined(separator: ", "))"))
    }

    init(_ env: [String: String] = ProcessInfo.processInfo.environment) {
        underMPILauncher = launchedByMPI(env)
        faults = FaultPlan(environment: env)
        // Under mpirun, standard output is a pipe or pty owned by mpirun whether or not a person
        // watches it: plain lines there unless EMD_PROGRESS=tty asks for the updating line.
        switch env["EMD_PROGRESS"] {
        case "tty": progressStyle = .tty
        case "lines": progressStyle = .lines
        default: progressStyle = isatty(1) != 0 && env["OMPI_COMM_WORLD_SIZE"] == nil ? .tty : .lines
        }
        blasThreads = env["EMD_BLAS_THREADS"].flatMap { Int($0) }.map { min(max($0, 1), 1024) } ?? 1
        convBackend = Self.choice("EMD_CONV", in: env)
        gemmEngine = Self.choice("EMD_GEMM", in: env)
        if let dir = env["EMD_FASHION_MNIST_DIR"] { ArrayDataset.fashionMNISTDirectory = dir }
        if let mb = env["EMD_MEMORY_LIMIT_MB"].flatMap({ Int($0) }), mb > 0, mb < Int.max >> 20 {
            ResourceLimits.memoryLimitOverride = mb << 20
        }
    }
}

/// BLAS threads per rank: 1 to 4 per core of this machine.
func validateBLASThreads(_ n: Int?) throws {
    guard let n else { return }
    let most = 4 * ProcessInfo.processInfo.activeProcessorCount
    guard (1...most).contains(n) else { throw ValidationError("--blas-threads must be in 1...\(most) (4 per core), got \(n)") }
}

/// Install the signal handlers (before anything else), set BLAS's threads and join the job:
/// over MPI when a launcher started the process (`launchedByMPI`), otherwise as its only rank
/// without MPI (no singleton start-up; the same results).
func startRun(blasThreads: Int?) -> Collectives {
    let env = prepareProcess(blasThreads)
    return env.underMPILauncher ? MPICollectives.world : SingleProcessCollectives()
}

/// `startRun` for the benchmarks: MPI under a launcher (where they time it), none on one rank
/// started without one. A benchmark has nothing to checkpoint and no step boundary to stop
/// at, so stop signals get their default action back (they end it at once).
func startBenchmarkRun(blasThreads: Int?) -> Collectives {
    let env = prepareProcess(blasThreads)
    Preemption.restoreDefaultActions()
    return env.underMPILauncher ? MPICollectives.world : SingleProcessCollectives()
}

/// The signal handlers first, then the environment, then BLAS's threads, the convolution
/// backend and the GEMM engine (an unknown `EMD_CONV` or `EMD_GEMM` ends the process with
/// status 2 and a message).
private func prepareProcess(_ threads: Int?) -> CommandEnvironment {
    Preemption.install()
    let env = CommandEnvironment()
    BLAS.setThreads(min(max(threads ?? env.blasThreads, 1), 1024))
    if let backend = chosenOrExit(env.convBackend) { ConvBackend.current = backend }
    if let engine = chosenOrExit(env.gemmEngine) { BLAS.engine = engine }
    return env
}

/// The chosen value (nil: unset), or the process ends with status 2 and the error's message.
private func chosenOrExit<T>(_ choice: Result<T?, ValidationError>) -> T? {
    switch choice {
    case .success(let value): return value
    case .failure(let error):
        FileHandle.standardError.write(Data("emd: \(error.message)\n".utf8))
        exit(2)
    }
}

/// Run `body` on every rank; on an error every rank reports it (rank-tagged on stderr) and the
/// process exits non-zero, except an `AgreedError`, which every rank holds alike: rank 0 alone
/// reports it. A preempted run exits with `Preemption.exitCode` after its checkpoint.
func runCommand(_ collectives: Collectives, _ body: () throws -> Void) throws {
    do {
        try body()
        MPI.finalize()
    } catch let stop as RunStop {
        Console.error("[rank \(collectives.rank)] \(stop)\n")
        MPI.finalize()
        if case .preempted = stop { throw ExitCode(Preemption.exitCode) }
        throw ExitCode(3)
    } catch let e as ExitCode {
        MPI.finalize()
        throw e
    } catch let agreed as AgreedError {
        // Every rank holds the same error and none is inside a collective: one report, no abort.
        if collectives.isRoot { Console.error("error: \(agreed)\n") }
        MPI.finalize()
        throw ExitCode(2)
    } catch {
        Console.error("[rank \(collectives.rank)] error: \(error)\n")
        // Other ranks may be inside a collective: end the whole job rather than hang.
        if collectives.size > 1 { collectives.abort(code: 2) }
        MPI.finalize()
        throw ExitCode(2)
    }
}

/// A final evaluation after the model is written: `body` gets the stop condition to pass to its
/// sampler; a stop signal (SIGTERM, SIGUSR1) ends it with a line in the log and exit 75.
func stoppableEvaluation<T>(_ what: String, log: (String) -> Void, _ body: (@escaping () -> Bool) throws -> T) throws -> T {
    do {
        return try body { Preemption.requested }
    } catch is SamplingStopped {
        log("stop signal during \(what): evaluation skipped (exit \(Preemption.exitCode))")
        throw ExitCode(Preemption.exitCode)
    }
}

/// `count` samples of `dimension` values drawn as `draw(first, n)` in chunks of `chunk`, with
/// `stop` asked between chunks (`SamplingStopped` once it is true).
func chunkedSamples(count: Int, dimension: Int, chunk: Int = 65_536, stop: () -> Bool,
                    _ draw: (_ first: Int, _ n: Int) -> [Float]) throws -> [Float] {
    var out: [Float] = []
    out.reserveCapacity(count * dimension)
    var first = 0
    while first < count {
        if stop() { throw SamplingStopped(completed: first, total: count) }
        let n = min(chunk, count - first)
        out += draw(first, n)
        first += n
    }
    return out
}

/// Write JSON (rank 0 only, atomically).
func writeJSON(_ object: Any, to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    // AtomicFile refuses to replace anything but a regular file (a device, a FIFO).
    try AtomicFile.write(data, to: path)
}

/// A mixture by built-in name (`GaussianMixture.named`: ring, grid, grid-unequal, random:D,
/// optionally scaled as in ring*3) or from a JSON file.
func parseMixture(_ spec: String?) throws -> GaussianMixture? {
    guard let spec else { return nil }
    do {
        if let m = try GaussianMixture.named(spec) { return m }
    } catch let e as ConfigError { throw ValidationError(e.description) }
    let data: Data
    do { data = try readRegularFile(spec) } catch {
        throw ValidationError("\(error) (built-in mixtures: ring, grid, grid-unequal, random:D, each optionally scaled as ring*3)")
    }
    do { return try GaussianMixture.decode(json: data, source: spec) } catch { throw ValidationError("\(error)") }
}

/// Every rank's parameter checksums (and rank 0's BLAS kernel, which decides rounding) to
/// `out/ranks.json`; rank 0 logs whether they agree.
func reportChecksums(_ collectives: Collectives, _ sets: [(String, UInt64)], out: String, log: TrainingProgress) throws {
    let same = try RankReport.write(collectives, sets, extra: ["blas_core": BLAS.coreName, "gemm_engine": BLAS.engine.rawValue], to: out + "/ranks.json")
    log.log("parameter checksums on \(collectives.size) rank(s): \(same ? "identical" : "DIFFERENT")")
}

/// Rank 0's progress reporter for a run with metrics in `out/metrics.jsonl` (rank 0 opens it).
func progressReporter(_ collectives: Collectives, steps: Int, every: Int, metricsPath: String?,
                      style: ProgressStyle) throws -> TrainingProgress {
    let metrics = try collectives.isRoot ? metricsPath.map { try MetricsLog(path: $0) } : nil
    return TrainingProgress(isRoot: collectives.isRoot, totalSteps: steps, every: every, style: style, metrics: metrics)
}

/// An output file checked before the work that produces it, so that a path that cannot be
/// written fails in a second rather than after minutes of sampling, training or measuring. With
/// `creatingFolder`, the folder is created first, as `writeJSON` does when it writes.
func checkOutput(_ path: String?, flag: String, creatingFolder: Bool = false) throws {
    guard let path else { return }
    do {
        let dir = (path as NSString).deletingLastPathComponent
        if creatingFolder, !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try AtomicFile.checkWritable(path)
    } catch {
        throw ValidationError("\(flag): \(error)")
    }
}

/// A JSON output (`writeJSON`, which creates its folder) checked by `checkOutput` on rank 0,
/// the rank that writes it; every rank stops with its error.
func checkOutputBeforeWork(_ path: String?, flag: String, _ comm: Collectives) throws {
    var problem: String? = nil
    if comm.isRoot {
        do { try checkOutput(path, flag: flag, creatingFolder: true) } catch { problem = "\(error)" }
    }
    if try comm.any(problem != nil) {
        throw ValidationError(problem ?? "\(flag): rank 0 cannot write \(path ?? "")")
    }
}
