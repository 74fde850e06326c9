import Foundation
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// Options of the `argv` targets (mutated `emd` command lines run as child processes).
struct ArgvOptions {
    var subcommands: [String]
    var iterations: Int
    var seed: UInt64
    var timeout: Double
    var grace: Double
    var emd: String
    var work: String
    var childMemoryMB: Int
    var replay: Int?
    var out: String?
    /// Run the children as root too (default: as nobody when run as root).
    var asRoot = false
}

/// Parses target names "argv" (every subcommand) and "argv-SUB" (one subcommand).
func argvSubcommands(_ targets: [String]) throws -> [String] {
    var subs: [String] = []
    for t in targets {
        if t == "argv" { subs += CommandLineFuzzer.subcommands; continue }
        let sub = String(t.dropFirst(5))
        guard t.hasPrefix("argv-"), CommandLineFuzzer.subcommands.contains(sub) else {
            throw ValidationError("unknown target \(t) (argv, or argv-SUB with SUB one of \(CommandLineFuzzer.subcommands.joined(separator: ", ")))")
        }
        subs.append(sub)
    }
    return subs
}

/// Runs an `argv` campaign (or one `--replay`): every command line must end in a clean exit,
/// success or error; a crash signal or a hang fails the campaign (exit 1) and is listed with the
/// iteration that `--replay` reproduces.
func runArgvCampaign(_ o: ArgvOptions) throws {
    guard FileManager.default.isExecutableFile(atPath: o.emd) else {
        throw ValidationError("no emd executable at \(o.emd): build it, or pass --emd")
    }
    let fixtures = FixturePaths(dir: o.work + "/fixtures")
    try FileManager.default.createDirectory(atPath: fixtures.dir, withIntermediateDirectories: true)
    try ArgvFixtures.build(fixtures, emd: o.emd)
    let scratch = o.work + "/scratch"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    // Relative outputs (demo's default runs/demo) land in the scratch folder too.
    guard chdir(scratch) == 0 else { throw ValidationError("cannot enter \(scratch)") }
    // Children inherit the address-space limit: a wild allocation fails there, not in swap.
    var limit = rlimit(rlim_cur: rlim_t(o.childMemoryMB) << 20, rlim_max: rlim_t(o.childMemoryMB) << 20)
    setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
    setenv("EMD_BLAS_THREADS", "1", 1)
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1)
    if getuid() == 0 { setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1); setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1) }
    // As root, the children run as nobody (setpriv): a command line that names a system file as
    // an output cannot replace it, and "permission denied" paths are real.
    var prefix: [String] = []
    if getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && !o.asRoot {
        prefix = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        _ = chmod(o.work, 0o755); _ = chmod(fixtures.dir, 0o755); _ = chmod(scratch, 0o777)
    }
    let gen = CommandLineFuzzer(fixtures: fixtures, scratch: scratch)
    let runner = ChildRunner(emd: o.emd, prefix: prefix, timeout: o.timeout, grace: o.grace, log: o.work + "/child.log")
    func clearScratch() {
        let fm = FileManager.default
        _ = chmod(scratch + "/readonly", 0o755)
        for name in (try? fm.contentsOfDirectory(atPath: scratch)) ?? [] { try? fm.removeItem(atPath: scratch + "/" + name) }
        // The hostile outputs: a FIFO, a directory, a folder the run may not write in.
        _ = mkfifo(scratch + "/fifo", 0o666)
        try? fm.createDirectory(atPath: scratch + "/dir", withIntermediateDirectories: true)
        try? fm.createDirectory(atPath: scratch + "/readonly", withIntermediateDirectories: true)
        _ = chmod(scratch + "/dir", 0o777)
        _ = chmod(scratch + "/readonly", 0o555)
    }
    if let replay = o.replay {
        guard o.subcommands.count == 1 else { throw ValidationError("--replay needs exactly one argv-SUB target") }
        let args = gen.commandLine(o.subcommands[0], iteration: replay, seed: o.seed)
        clearScratch()
        print("argv-\(o.subcommands[0]) iteration \(replay) (seed \(o.seed)): emd \(shellQuoted(args))")
        let r = runner.run(args)
        print(r.output.suffix(2000))
        print("outcome: \(describe(r.outcome)) after \(String(format: "%.2f", r.seconds)) s")
        if r.outcome.isFinding { throw ExitCode(1) }
        return
    }
    var summary: [[String: Any]] = []
    var failed = false
    for sub in o.subcommands {
        var ok = 0, errors = 0, slow = 0, crashes = 0, hangs = 0, slowest = 0.0
        var reasons: [String: Int] = [:]
        let start = Date()
        for i in 0..<o.iterations {
            let args = gen.commandLine(sub, iteration: i, seed: o.seed)
            clearScratch()
            let r = runner.run(args)
            slowest = max(slowest, r.seconds)
            switch r.outcome {
            case .success: ok += 1
            case .error(_, let line): errors += 1; reasons[category(line), default: 0] += 1
            case .slow: slow += 1
            case .hang: hangs += 1
            case .crash: crashes += 1
            }
            if r.outcome.isFinding {
                FileHandle.standardError.write(Data("emd-fuzz: argv-\(sub) iteration \(i) (seed \(o.seed)): \(describe(r.outcome)): emd \(shellQuoted(args))\n    \(lastLine(r.output).prefix(300))\n".utf8))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let bad = crashes + hangs
        failed = failed || bad > 0
        print(String(format: "%@ argv-%@: %d command lines in %.0f s, exit 0: %d, clean errors: %d, slow (stopped by SIGTERM): %d, crashes: %d, hangs: %d, slowest %.1f s",
                     bad == 0 ? "PASS" : "FAIL", sub, o.iterations, seconds, ok, errors, slow, crashes, hangs, slowest))
        for (r, n) in reasons.sorted(by: { $0.value > $1.value }).prefix(6) { print("    \(n)\t\(r)") }
        summary.append(["target": "argv-" + sub, "iterations": o.iterations, "seed": o.seed, "success": ok, "errors": errors,
                        "slow": slow, "crashes": crashes, "hangs": hangs, "bad": bad, "slowest_seconds": slowest,
                        "seconds": seconds, "rejection_kinds": reasons.count])
    }
    if let out = o.out {
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: out))
    }
    if failed { throw ExitCode(1) }
}

func describe(_ o: ArgvOutcome) -> String {
    switch o {
    case .success: return "exit 0"
    case .error(let c, let line): return "clean error exit \(c): \(line.prefix(200))"
    case .slow: return "still computing at the time limit; stopped by SIGTERM"
    case .hang(let why): return "HANG: \(why)"
    case .crash(let s): return "CRASH: killed by \(signalName(s))"
    }
}
