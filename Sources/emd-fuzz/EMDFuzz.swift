import Foundation
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

// What the crash and hang handlers report: the input being parsed when the process died.
nonisolated(unsafe) var currentTarget = [CChar](repeating: 0, count: 64)
nonisolated(unsafe) var currentIteration = 0
nonisolated(unsafe) var currentSeed: UInt64 = 0

/// Writes "emd-fuzz: <what> in <target> at iteration N (seed S)" with async-signal-safe calls only.
func report(_ what: StaticString) {
    func put(_ p: UnsafePointer<CChar>, _ n: Int) { _ = write(2, p, n) }
    func putNumber(_ v: UInt64) {
        var digits = [CChar](repeating: 0, count: 24)
        var i = 23, x = v
        repeat { i -= 1; digits[i] = CChar(48 + Int(x % 10)); x /= 10 } while x > 0
        digits.withUnsafeBufferPointer { put($0.baseAddress! + i, 23 - i) }
    }
    "\nemd-fuzz: ".withCString { put($0, strlen($0)) }
    what.withUTF8Buffer { b in b.withMemoryRebound(to: CChar.self) { put($0.baseAddress!, $0.count) } }
    " in ".withCString { put($0, strlen($0)) }
    currentTarget.withUnsafeBufferPointer { put($0.baseAddress!, strlen($0.baseAddress!)) }
    " at iteration ".withCString { put($0, strlen($0)) }
    putNumber(UInt64(currentIteration))
    " (seed ".withCString { put($0, strlen($0)) }
    putNumber(currentSeed)
    "); regenerate it with --replay\n".withCString { put($0, strlen($0)) }
}

func installHandlers() {
    for s in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE] {
        signal(s) { _ in report("CRASH"); _exit(70) }
    }
    signal(SIGALRM) { _ in report("HANG"); _exit(71) }
}

@main
struct EMDFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emd-fuzz",
        abstract: "Seeded mutation fuzzing of emd's input parsers (safetensors, checkpoints, IDX, JSON configs).",
        discussion: """
        Every input is a deterministic mutation of a valid seed, keyed by (seed, iteration), so a \
        failure is reproduced by --replay. An input must parse or be refused with an error that \
        names it and the problem; a crash, a hang (--timeout per input), an unexpected error type \
        or peak memory above --max-rss-mb fails the run (exit 1; 70 crash, 71 hang).
        """)

    @Argument(help: "Targets: safetensors, checkpoint, idx, config, or all (the parsers, in process); argv (mutated emd command lines of every subcommand, run as child processes) or argv-SUB (one subcommand: argv-sample, argv-eval, argv-train-teacher, argv-distill, argv-train-classifier, argv-bench, argv-bench-distill, argv-demo); harness (checks the argv judge on scripted children: blocked, computing, ignoring SIGTERM, starved of CPU).")
    var targets: [String] = ["all"]
    @Option(help: "Mutated inputs per target.") var iterations = 100_000
    @Option(help: "Campaign seed.") var seed: UInt64 = 1
    @Option(help: "Seconds one input may take before it counts as a hang.") var timeout: UInt32 = 5
    @Option(help: "Largest resident memory allowed, MiB.") var maxRssMb = 512
    @Option(help: "Write the input of this iteration (of the single target) to --out and parse it.") var replay: Int?
    @Option(help: "File for --replay, or the JSON summary of the campaign.") var out: String?
    @Option(help: "argv: the emd executable (default: next to emd-fuzz).") var emd: String?
    @Option(help: "argv: folder for fixtures and scratch output (default: a temporary folder).") var work: String?
    @Option(help: "argv: seconds a command line may run before it is judged: blocked without CPU is a hang, computing is stopped with SIGTERM.")
    var runTimeout: Double = 8
    @Option(help: "argv: seconds after SIGTERM before a computing run counts as a hang.") var grace: Double = 10
    @Option(help: "argv: address-space limit of each emd child, MiB.") var childMemoryMb = 8192

    /// Every size from a flag is bounded with a real check (the release build has no overflow
    /// or range checks): a negative --iterations would crash the loop.
    func validate() throws {
        func require(_ ok: Bool, _ message: String) throws { if !ok { throw ValidationError(message) } }
        try require((0...1_000_000_000).contains(iterations), "--iterations \(iterations) must be in 0...1000000000")
        try require((1...3600).contains(timeout), "--timeout \(timeout) must be in 1...3600 seconds")
        try require((1...(1 << 30)).contains(maxRssMb), "--max-rss-mb \(maxRssMb) must be in 1...\(1 << 30)")
        try require(replay.map { $0 >= 0 } ?? true, "--replay must not be negative")
        try require(runTimeout.isFinite && (0.1...3600).contains(runTimeout), "--run-timeout \(runTimeout) must be in 0.1...3600 seconds")
        try require(grace.isFinite && (0...3600).contains(grace), "--grace \(grace) must be in 0...3600 seconds")
        try require((64...(1 << 30)).contains(childMemoryMb), "--child-memory-mb \(childMemoryMb) must be in 64...\(1 << 30)")
    }

    mutating func run() throws {
        if targets == ["harness"] {
            let dir = work ?? FileManager.default.temporaryDirectory.appendingPathComponent("emd-fuzz-harness-\(getpid())").path
            if !checkHarness(work: dir) { throw ExitCode(1) }
            return
        }
        if targets.contains(where: { $0.hasPrefix("argv") }) {
            func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p }
            let own = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("emd").path
            let dir = work ?? FileManager.default.temporaryDirectory.appendingPathComponent("emd-fuzz-argv-\(getpid())").path
            try runArgvCampaign(ArgvOptions(subcommands: try argvSubcommands(targets), iterations: iterations, seed: seed,
                                            timeout: runTimeout, grace: grace, emd: absolute(emd ?? own), work: absolute(dir),
                                            childMemoryMB: childMemoryMb, replay: replay, out: out.map(absolute)))
            return
        }
        let all = try [safetensorsTarget(), checkpointTarget(), idxTarget(), configTarget()]
        let chosen = targets == ["all"] ? all : try targets.map { t in
            guard let f = all.first(where: { $0.name == t }) else {
                throw ValidationError("unknown target \(t) (safetensors, checkpoint, idx, config, all)")
            }
            return f
        }
        installHandlers()
        currentSeed = seed
        if let replay {
            guard chosen.count == 1 else { throw ValidationError("--replay needs exactly one target") }
            let input = chosen[0].input(iteration: replay, seed: seed)
            if let out { try Data(input).write(to: URL(fileURLWithPath: out)) }
            print("\(chosen[0].name) iteration \(replay): \(input.count) bytes; \(describe(chosen[0].run(input)))")
            return
        }
        var summary: [[String: Any]] = []
        var failed = false
        for t in chosen {
            t.name.withCString { p in currentTarget.withUnsafeMutableBufferPointer { _ = strncpy($0.baseAddress!, p, 63) } }
            var accepted = 0, rejected = 0, bad = 0, slowest = 0.0
            var reasons: [String: Int] = [:]
            let start = Date()
            for i in 0..<iterations {
                currentIteration = i
                let input = t.input(iteration: i, seed: seed)
                alarm(timeout)
                let t0 = DispatchTime.now().uptimeNanoseconds
                let outcome = t.run(input)
                slowest = max(slowest, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                alarm(0)
                switch outcome {
                case .accepted: accepted += 1
                case .rejected(let why): rejected += 1; reasons[category(why), default: 0] += 1
                case .bad(let why):
                    bad += 1
                    if bad <= 5 { FileHandle.standardError.write(Data("emd-fuzz: \(t.name) iteration \(i): \(why)\n".utf8)) }
                }
            }
            let rss = peakRSSMiB()
            let ok = bad == 0 && rss <= maxRssMb
            failed = failed || !ok
            let seconds = Date().timeIntervalSince(start)
            print(String(format: "%@ %@: %d inputs in %.1f s (%.0f/s), accepted %d, rejected %d, bad %d, slowest %.4f s, peak RSS %d MiB",
                         ok ? "PASS" : "FAIL", t.name, iterations, seconds, Double(iterations) / seconds, accepted, rejected, bad,
                         slowest, rss))
            for (r, n) in reasons.sorted(by: { $0.value > $1.value }).prefix(8) { print("    \(n)\t\(r)") }
            summary.append(["target": t.name, "iterations": iterations, "seed": seed, "accepted": accepted, "rejected": rejected,
                            "bad": bad, "slowest_seconds": slowest, "peak_rss_mib": rss, "seconds": seconds,
                            "rejection_kinds": reasons.count])
        }
        if let out {
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: out))
        }
        if failed { throw ExitCode(1) }
    }
}

func describe(_ o: Outcome) -> String {
    switch o {
    case .accepted: return "accepted"
    case .rejected(let why): return "rejected: \(why)"
    case .bad(let why): return "BAD: \(why)"
    }
}

/// A rejection message with its numbers and quoted names blanked, to count kinds of rejection.
func category(_ message: String) -> String {
    var out = "", inQuote = false, lastWasDigit = false
    for ch in message.prefix(90) {
        if ch == "'" { inQuote.toggle(); out.append(ch); continue }
        if inQuote { continue }
        if ch.isNumber { if !lastWasDigit { out.append("#") }; lastWasDigit = true; continue }
        lastWasDigit = false
        out.append(ch)
    }
    return out
}

func peakRSSMiB() -> Int {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return u.ru_maxrss / 1024
}
