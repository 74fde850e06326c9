import Foundation

/// How rank 0 shows progress: an updating line for a person at a terminal, or plain lines
/// (logs, pipes, batch jobs). The CLI decides (from the terminal and `EMD_PROGRESS`).
public enum ProgressStyle: String, Sendable, CaseIterable {
    case tty, lines
}

/// Rank-0 progress output: an updating line (step, metrics, samples/s, ETA) in the `tty` style,
/// plain lines every `every` steps otherwise, and the same metrics appended to a `MetricsLog`.
/// Other ranks print nothing.
public final class TrainingProgress {
    let isRoot: Bool
    let total: Int
    let every: Int
    let style: ProgressStyle
    let metrics: MetricsLog?
    let start: Double
    /// The step the current run started from (after a resume), for the rate and the ETA.
    public var startStep: Int
    var lastDraw: Double = 0
    /// Seconds of training after which the run stops (0: none); caps the ETA.
    public var timeLimit: Double = 0

    public init(isRoot: Bool, totalSteps: Int, startStep: Int = 0, every: Int, style: ProgressStyle = .lines,
                metrics: MetricsLog? = nil) {
        self.isRoot = isRoot
        total = totalSteps
        self.every = max(1, every)
        self.startStep = startStep
        self.style = isRoot ? style : .lines
        self.metrics = isRoot ? metrics : nil
        start = WallClock.now()
    }

    /// Seconds since this reporter started.
    public var elapsed: Double { WallClock.now() - start }

    /// Whether `report` for `step` would print or record anything (callers skip building
    /// their metrics otherwise, so steps in between allocate nothing).
    public func due(_ step: Int) -> Bool {
        guard isRoot else { return false }
        return step % every == 0 || step == total || (style == .tty && WallClock.now() - lastDraw > 0.2)
    }

    /// Report step `step` (1-based count of completed steps) with `metrics`; `samplesPerStep`
    /// is the global batch.
    public func report(step: Int, samplesPerStep: Int, metrics values: [(String, Double)]) {
        guard isRoot else { return }
        let now = WallClock.now()
        let done = step - startStep
        let rate = done > 0 ? Double(done * samplesPerStep) / (now - start) : 0
        let eta = TrainingProgress.eta(elapsed: now - start, done: done, remaining: total - step, timeLimit: timeLimit)
        let periodic = step % every == 0 || step == total
        if periodic, let metrics {
            metrics.append(step: step, [("elapsed_s", now - start), ("samples_per_s", rate)] + values)
        }
        let body = values.map { String(format: "%@ %.4g", $0.0, $0.1) }.joined(separator: "  ")
        let line = String(format: "step %d/%d  %@  %.0f samples/s  ETA %@", step, total, body, rate, TrainingProgress.clock(eta))
        switch style {
        case .tty:
            if now - lastDraw > 0.2 || step == total {
                lastDraw = now
                Console.out("\r\u{1B}[K" + line + (step == total ? "\n" : ""))
            }
        case .lines:
            if periodic { Console.out(line + "\n") }
        }
    }

    /// A line to rank 0's output (ends any updating line first).
    public func log(_ line: String) {
        guard isRoot else { return }
        Console.out((style == .tty ? "\r\u{1B}[K" : "") + line + "\n")
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
}
