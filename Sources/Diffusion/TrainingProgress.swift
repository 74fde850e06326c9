import Foundation
import SwiftMPI

/// Rank-0 progress output: an updating line (step, metrics, samples/s, ETA) on a terminal,
/// plain lines every `every` steps otherwise (and under mpirun; `EMD_PROGRESS=tty|lines` overrides), and the same metrics appended to a JSON-lines file.
public final class TrainingProgress {
    let isRoot: Bool
    let total: Int
    let every: Int
    let tty: Bool
    let metricsHandle: FileHandle?
    let start: Double
    let startStep: Int
    var lastDraw: Double = 0
    /// Seconds of training after which the run stops (0: none); caps the ETA.
    public var timeLimit: Double = 0

    public init(isRoot: Bool, totalSteps: Int, startStep: Int, every: Int, metricsPath: String?) throws {
        self.isRoot = isRoot
        total = totalSteps
        self.every = max(1, every)
        self.startStep = startStep
        // Under mpirun, standard output is a pipe or pty owned by mpirun whether or not a person
        // watches it: plain lines there unless EMD_PROGRESS=tty asks for the updating line.
        let env = ProcessInfo.processInfo.environment
        switch env["EMD_PROGRESS"] {
        case "tty": tty = true
        case "lines": tty = false
        default: tty = isatty(1) != 0 && env["OMPI_COMM_WORLD_SIZE"] == nil
        }
        start = MPI.wallTime()
        if isRoot, let metricsPath {
            if !FileManager.default.fileExists(atPath: metricsPath) {
                FileManager.default.createFile(atPath: metricsPath, contents: nil)
            }
            guard let h = FileHandle(forWritingAtPath: metricsPath) else {
                throw ConfigError("cannot open metrics file \(metricsPath)")
            }
            h.seekToEndOfFile()
            metricsHandle = h
        } else {
            metricsHandle = nil
        }
    }

    /// Seconds since this reporter started.
    public var elapsed: Double { MPI.wallTime() - start }

    /// Whether `report` for `step` would print or record anything (callers skip building
    /// their metrics otherwise, so steps in between allocate nothing).
    public func due(_ step: Int) -> Bool {
        guard isRoot else { return false }
        return step % every == 0 || step == total || (tty && MPI.wallTime() - lastDraw > 0.2)
    }

    /// Report step `step` (1-based count of completed steps) with `metrics`; `samplesPerStep`
    /// is the global batch.
    public func report(step: Int, samplesPerStep: Int, metrics: [(String, Double)]) {
        guard isRoot else { return }
        let now = MPI.wallTime()
        let done = step - startStep
        let rate = done > 0 ? Double(done * samplesPerStep) / (now - start) : 0
        let eta = TrainingProgress.eta(elapsed: now - start, done: done, remaining: total - step, timeLimit: timeLimit)
        let periodic = step % every == 0 || step == total
        if periodic, let h = metricsHandle {
            var row: [String: Any] = ["step": step, "elapsed_s": now - start, "samples_per_s": rate]
            for (k, v) in metrics { row[k] = v.isFinite ? v : String(v) }
            if let d = try? JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]) {
                h.write(d + Data("\n".utf8))
            }
        }
        let body = metrics.map { String(format: "%@ %.4g", $0.0, $0.1) }.joined(separator: "  ")
        let line = String(format: "step %d/%d  %@  %.0f samples/s  ETA %@", step, total, body, rate, TrainingProgress.clock(eta))
        if tty {
            if now - lastDraw > 0.2 || step == total {
                lastDraw = now
                FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line + (step == total ? "\n" : "")).utf8))
            }
        } else if periodic {
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    }

    /// A line to rank 0's output (ends any updating line first).
    public func log(_ line: String) {
        guard isRoot else { return }
        FileHandle.standardOutput.write(Data(((tty ? "\r\u{1B}[K" : "") + line + "\n").utf8))
    }

    /// Seconds left: the remaining steps at the pace so far, capped by what is left of
    /// `timeLimit` (0: no limit), after which the run stops whatever its step count.
    public static func eta(elapsed: Double, done: Int, remaining: Int, timeLimit: Double) -> Double {
        var eta = done > 0 ? elapsed / Double(done) * Double(remaining) : 0
        if timeLimit > 0 { eta = min(eta, max(0, timeLimit - elapsed)) }
        return eta
    }

    static func clock(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }

    deinit { try? metricsHandle?.close() }
}
