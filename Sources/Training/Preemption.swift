#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var preemptionSignal: sig_atomic_t = 0

/// Preemption: SIGTERM, SIGUSR1 (what Slurm sends before a time limit or requeue) or SIGINT
/// sets a flag that training loops read once per step; the ranks agree on it, checkpoint, and
/// exit with `Preemption.exitCode` so a batch script can requeue. Sampling and evaluation read
/// the same flag between chunks.
public enum Preemption {
    /// Exit status of a run stopped by a preemption signal after checkpointing (EX_TEMPFAIL).
    public static let exitCode: Int32 = 75

    /// Install the handler (first thing a command does, so an early signal is not lost), and
    /// ignore SIGPIPE so that a closed output pipe is a write error, not a silent death. A
    /// second SIGINT (Ctrl-C twice) ends the process at once, so a command busy between step
    /// boundaries can still be interrupted by hand; repeated SIGTERM or SIGUSR1 (schedulers and
    /// mpirun may repeat them) only ask for the one checkpoint.
    public static func install() {
        let handler: @convention(c) (Int32) -> Void = { sig in
            if sig == SIGINT && preemptionSignal != 0 {
                signal(SIGINT, SIG_DFL)
                raise(SIGINT)
            }
            preemptionSignal = 1
        }
        signal(SIGTERM, handler)
        signal(SIGUSR1, handler)
        signal(SIGINT, handler)
        signal(SIGPIPE, SIG_IGN)
    }

    /// Give SIGTERM, SIGUSR1 and SIGINT their default action (end the process) again, for
    /// commands with nothing to checkpoint and no step boundary to stop at (benchmarks).
    public static func restoreDefaultActions() {
        for sig in [SIGTERM, SIGUSR1, SIGINT] { signal(sig, SIG_DFL) }
        if preemptionSignal != 0 { raise(SIGTERM) }
    }

    /// Whether this process has received a preemption signal.
    public static var requested: Bool { preemptionSignal != 0 }

    /// Raise SIGTERM in this process, as a scheduler would (fault injection).
    public static func raiseSignal() { raise(SIGTERM) }
}
