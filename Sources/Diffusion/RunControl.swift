import Foundation
import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var preemptionSignal: sig_atomic_t = 0

/// Preemption: SIGTERM or SIGUSR1 (what Slurm sends before a time limit or requeue) sets a flag
/// that the training loop reads once per step; the ranks agree on it, checkpoint, and exit
/// with `Preemption.exitCode` so a batch script can requeue.
public enum Preemption {
    /// Exit status of a run stopped by a preemption signal after checkpointing (EX_TEMPFAIL).
    public static let exitCode: Int32 = 75

    public static func install() {
        let handler: @convention(c) (Int32) -> Void = { _ in preemptionSignal = 1 }
        signal(SIGTERM, handler)
        signal(SIGUSR1, handler)
    }

    /// Whether this process has received a preemption signal.
    public static var requested: Bool { preemptionSignal != 0 }
}

/// What the ranks agree on after each update, in one small all-reduce: the summed loss, how
/// many ranks saw a non-finite value, whether any rank was asked to stop, and one extra summed
/// counter. The buffer is allocated once, so agreeing allocates nothing per step.
public final class StepAgreement {
    public private(set) var lossSum = 0.0
    public private(set) var nonFiniteRanks = 0
    public private(set) var stopRequested = false
    /// The sum over ranks of the `extra` value.
    public private(set) var extraSum = 0.0
    private let buffer = UnsafeMutablePointer<Double>.allocate(capacity: 4)

    public init() {}
    deinit { buffer.deallocate() }

    /// All-reduce this rank's loss (NaN or infinity marks a non-finite rank), its preemption
    /// flag and `extra`.
    public func reach(_ comm: Communicator, localLoss: Double, extra: Double = 0) throws {
        buffer[0] = localLoss.isFinite ? localLoss : 0
        buffer[1] = localLoss.isFinite ? 0 : 1
        buffer[2] = Preemption.requested ? 1 : 0
        buffer[3] = extra
        try comm.allreduce(buffer, count: 4, op: .sum)
        lossSum = buffer[0]
        nonFiniteRanks = Int(buffer[1])
        stopRequested = buffer[2] > 0
        extraSum = buffer[3]
    }
}

/// A run that stopped for a reason every rank agreed on.
public enum RunStop: Error, CustomStringConvertible {
    case nonFinite(step: Int, ranks: Int)
    case preempted(step: Int, checkpoint: String?)

    public var description: String {
        switch self {
        case .nonFinite(let s, let r):
            return "non-finite loss or gradient at step \(s) on \(r) rank(s); stopped without updating (resume from the last checkpoint with a lower learning rate)"
        case .preempted(let s, let c):
            return "preempted at step \(s); checkpoint \(c ?? "not written")"
        }
    }
}

/// Whether every value in a buffer is finite.
@inlinable
public func allFinite(_ p: UnsafePointer<Float>, count: Int) -> Bool {
    // x * 0 is 0 for finite x and NaN for NaN or infinity; independent lanes keep it fast.
    typealias V = SIMD8<Float>
    var a0 = V(), a1 = V()
    var i = 0
    while i + 16 <= count {
        a0 += UnsafeRawPointer(p + i).loadUnaligned(as: V.self) * 0
        a1 += UnsafeRawPointer(p + i + 8).loadUnaligned(as: V.self) * 0
        i += 16
    }
    var acc = (a0 + a1).sum()
    while i < count { acc += p[i] * 0; i += 1 }
    return acc == 0
}

/// Fault injection for the reliability tests: `EMD_FAULT_NAN=RANK:STEP` makes that rank's
/// gradient NaN at that step (read once at start-up; unset in normal runs).
public struct FaultInjection: Sendable {
    public let rank: Int
    public let step: Int

    static func parse(_ variable: String) -> FaultInjection? {
        guard let v = ProcessInfo.processInfo.environment[variable] else { return nil }
        let parts = v.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 2 else { return nil }
        return FaultInjection(rank: parts[0], step: parts[1])
    }

    /// EMD_FAULT_NAN=RANK:STEP poisons that rank's gradient at that step.
    public static let fromEnvironment: FaultInjection? = parse("EMD_FAULT_NAN")
    /// EMD_FAULT_THROW=RANK:STEP makes that rank throw at that step, as a rank that meets bad
    /// input alone would.
    public static let throwFromEnvironment: FaultInjection? = parse("EMD_FAULT_THROW")

    /// Poison `grads[0]` when this is the configured rank and step.
    public static func apply(rank: Int, step: Int, grads: UnsafeMutablePointer<Float>) {
        if let f = fromEnvironment, f.rank == rank, f.step == step { grads[0] = .nan }
    }

    /// Throw when this is the rank and step of EMD_FAULT_THROW.
    public static func check(rank: Int, step: Int) throws {
        if let f = throwFromEnvironment, f.rank == rank, f.step == step {
            throw ConfigError("injected fault (EMD_FAULT_THROW) on rank \(rank) at step \(step)")
        }
    }
}
