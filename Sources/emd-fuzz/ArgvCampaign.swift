import Foundation
import FileFormats
import CounterRNG
import Diffusion
import Distillation
#if canImport(Glibc)
import Glibc
#endif

/// How one `emd` command line ended.
enum ArgvOutcome: Equatable {
    /// Exit status 0.
    case success
    /// A clean error exit (non-zero status); the last line of output is kept.
    case error(Int32, String)
    /// Still computing (using CPU) at the time limit, then stopped by SIGTERM: a long but live run.
    case slow
    /// Blocked without using CPU at the time limit (e.g. in open() on a FIFO): a finding.
    case hang(String)
    /// Died by a crash signal (SIGSEGV, SIGILL, SIGABRT, SIGTRAP, SIGBUS, SIGFPE...) or was killed
    /// by someone else (the OOM killer): a finding.
    case crash(Int32)

    var isFinding: Bool {
        switch self { case .hang, .crash: return true; default: return false }
    }
}

/// Runs `emd` command lines as child processes with a time limit, in their own process group,
/// under an address-space limit (so a wild allocation fails in the child instead of swapping
/// the machine), and classifies how they ended.
struct ChildRunner {
    let emd: String
    /// Command in front of `emd` (setpriv, to drop root), exec'd in place: same process.
    var prefix: [String] = []
    let timeout: Double
    let grace: Double
    let log: String

    func run(_ args: [String]) -> (outcome: ArgvOutcome, seconds: Double, output: String) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = (prefix + [emd] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let start = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        guard posix_spawn(&pid, prefix.first ?? emd, &actions, &attr, argv, environ) == 0 else {
            return (.error(-1, "spawn failed: \(String(cString: strerror(errno)))"), 0, "")
        }
        var status: Int32 = 0
        var verdict: ArgvOutcome? = nil
        var stopSent = false
        var ticksAtStop = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { break }
            let t = elapsed()
            if !stopSent && t > timeout {
                // Live or stuck? A run that uses no CPU for half a second while it should be
                // computing is blocked (in open() on a FIFO, say); one that computes is just long.
                let before = cpuTicks(pid)
                usleep(500_000)
                if waitpid(pid, &status, WNOHANG) == pid { break }
                let after = cpuTicks(pid)
                if let b = before, let a = after, a == b, !isLive(pid) {
                    verdict = .hang("blocked in \(procText(pid, "wchan")) (syscall \(procText(pid, "syscall").split(separator: " ").first ?? "?"))")
                } else {
                    // Computing, waiting for a CPU (runnable, state R, on a loaded machine) or
                    // for the disk (state D: an fsync on a busy disk): a live run, which must
                    // now end within the grace period.
                    verdict = .slow
                }
                ticksAtStop = cpuTicks(pid) ?? 0
                kill(-pid, SIGTERM)
                stopSent = true
            } else if stopSent && t > timeout + grace {
                // The grace is the CPU time the run gets after SIGTERM (a run starved by other
                // work on a shared machine has not had its grace yet), within a wall-clock cap
                // of ten graces; a run still blocked (no CPU, not runnable) has had it.
                let used = Double((cpuTicks(pid) ?? ticksAtStop) - ticksAtStop) / Double(sysconf(Int32(_SC_CLK_TCK)))
                let starved = isLive(pid) && used < grace
                if !starved || t > timeout + 10 * grace {
                    kill(-pid, SIGKILL)
                    if verdict == .slow {
                        verdict = .hang("did not stop within \(grace) s of SIGTERM while computing (\(String(format: "%.1f", used)) s of CPU)")
                    }
                    _ = waitpid(pid, &status, 0)
                    break
                }
            }
            usleep(t < 1 ? 5_000 : 20_000)
        }
        kill(-pid, SIGKILL)  // anything left in the group (nothing, normally)
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let seconds = elapsed()
        if let verdict { return (verdict, seconds, output) }
        if (status & 0x7F) == 0 {
            let code = (status >> 8) & 0xFF
            return (code == 0 ? .success : .error(code, lastLine(output)), seconds, output)
        }
        return (.crash(status & 0x7F), seconds, output)
    }

    /// utime + stime of `pid` from /proc, or nil when it is gone.
    func cpuTicks(_ pid: pid_t) -> Int? {
        let s = procText(pid, "stat")
        guard let close = s.lastIndex(of: ")") else { return nil }
        let fields = s[s.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Int(fields[11]), let k = Int(fields[12]) else { return nil }
        return u + k
    }

    /// The state letter of a /proc stat line (R running, S sleeping, D in uninterruptible disk
    /// wait...).
    func state(ofStat s: String) -> Character? {
        guard let close = s.lastIndex(of: ")") else { return nil }
        return s[s.index(after: close)...].first(where: { $0 != " " })
    }

    /// Whether any thread of any process in the child's process group (the child leads it: an
    /// MPI singleton's helper daemon, say, is in it too) is running or runnable (R: on a CPU or
    /// waiting for one, as on a machine loaded by other work) or in disk wait (D): not blocked on
    /// an input.
    func isLive(_ pid: pid_t) -> Bool {
        let fm = FileManager.default
        let procs = ((try? fm.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int32($0) != nil }
        for p in procs {
            let stat = (try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8)) ?? ""
            guard let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // After the command name: state, ppid, pgrp.
            guard fields.count > 2, Int32(fields[2]) == pid else { continue }
            for t in (try? fm.contentsOfDirectory(atPath: "/proc/\(p)/task")) ?? [] {
                let s = (try? String(contentsOfFile: "/proc/\(p)/task/\(t)/stat", encoding: .utf8)) ?? ""
                if let c = state(ofStat: s), c == "R" || c == "D" { return true }
            }
        }
        return false
    }

    func procText(_ pid: pid_t, _ name: String) -> String {
        (try? String(contentsOfFile: "/proc/\(pid)/\(name)", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
    }
}

/// The line that says why a run ended: the first error line ("Error: ...", "[rank 0] error: ..."),
/// else the last non-blank line.
func lastLine(_ output: String) -> String {
    let lines = output.split(separator: "\n").map(String.init)
    if let e = lines.first(where: { $0.hasPrefix("Error:") || $0.contains("] error:") || $0.hasPrefix("emd:") }) { return e }
    return lines.last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) ?? ""
}

/// Name of a signal number, for reports.
func signalName(_ s: Int32) -> String {
    let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT",
                                  SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGSYS: "SIGSYS", SIGPIPE: "SIGPIPE"]
    return names[s] ?? "signal \(s)"
}

/// The fixtures of an `argv` campaign: small valid inputs of every kind (models trained for a
/// few steps by `emd` itself) and hostile paths (a FIFO, a directory, an empty file).
enum ArgvFixtures {
    static func build(_ f: FixturePaths, emd: String) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: f.classifier) { return }  // built by an earlier run with this --work
        try fm.createDirectory(atPath: f.directory, withIntermediateDirectories: true)
        _ = unlink(f.fifo)
        guard mkfifo(f.fifo, 0o644) == 0 else { throw FileFormatError(path: f.fifo, "mkfifo failed") }
        fm.createFile(atPath: f.empty, contents: Data())
        var rng = SplitMix64(seed: 11)
        try NPY.write(path: f.samples, shape: [64, 2], values: (0..<128).map { _ in Float.random(in: -3...3, using: &rng) })
        try NPY.write(path: f.imageSamples, shape: [16, 784], values: (0..<(16 * 784)).map { _ in Float.random(in: -1...1, using: &rng) })
        try IDX.write(path: f.images, dims: [64, 28, 28], bytes: (0..<(64 * 784)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        try IDX.write(path: f.labels, dims: [64], bytes: (0..<64).map { UInt8($0 % 10) })
        let rows = (0..<40).map { _ in "\(Float.random(in: -2...2, using: &rng)),\(Float.random(in: -2...2, using: &rng))" }
        try Data(("x,y\n" + rows.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: f.csv))
        try Data(StrictConfig.json(GaussianMixture.ring()).utf8).write(to: URL(fileURLWithPath: f.mixture))
        var tc = TeacherConfig()
        tc.network.hidden = 16; tc.steps = 4; tc.batch = 32
        try Data(StrictConfig.json(tc).utf8).write(to: URL(fileURLWithPath: f.teacherConfig))
        var dc = DistillConfig()
        dc.network.hidden = 16; dc.initSteps = 2; dc.batch = 16; dc.steps = 2
        try Data(StrictConfig.json(dc).utf8).write(to: URL(fileURLWithPath: f.distillConfig))
        let runner = ChildRunner(emd: emd, timeout: 300, grace: 10, log: f.dir + "/fixture.log")
        let tmp = f.dir + "/build"
        for (args, made, dest) in [
            (["train-teacher", "--data", "mixture", "--steps", "5", "--hidden", "16", "--out", tmp + "/t"],
             tmp + "/t/teacher.safetensors", f.teacher),
            (["distill", "--teacher", "mixture", "--steps", "2", "--init-steps", "2", "--batch", "16", "--eval-samples", "0",
              "--out", tmp + "/g"], tmp + "/g/generator.safetensors", f.generator),
            (["train-classifier", "--data", "idx:\(f.images),\(f.labels)", "--test", "idx:\(f.images),\(f.labels)",
              "--steps", "2", "--batch", "8", "--out", tmp + "/c.safetensors"], tmp + "/c.safetensors", f.classifier),
        ] {
            let r = runner.run(args)
            guard r.outcome == .success else {
                throw FileFormatError(path: dest, "building the fixture failed (\(r.outcome)): \(r.output.suffix(500))")
            }
            try? fm.removeItem(atPath: dest)
            try fm.moveItem(atPath: made, toPath: dest)
        }
    }
}
