/// What the ranks agree on after each update, in one small all-reduce: the summed loss, how
/// many ranks saw a non-finite value, whether any rank was asked to stop, and four extra summed
/// values (counters, diagnostics). The buffer is allocated once, so agreeing allocates nothing.
public final class StepAgreement {
    public private(set) var lossSum = 0.0
    public private(set) var nonFiniteRanks = 0
    public private(set) var stopRequested = false
    /// The sum over ranks of the `extra` values.
    public private(set) var extraSum = SIMD4<Double>()
    private let buffer = UnsafeMutablePointer<Double>.allocate(capacity: 7)

    public init() {}
    deinit { buffer.deallocate() }

    /// All-reduce this rank's loss (NaN or infinity marks a non-finite rank), its preemption
    /// flag and `extra`.
    public func reach(_ collectives: Collectives, localLoss: Double, extra: SIMD4<Double> = .zero) throws {
        buffer[0] = localLoss.isFinite ? localLoss : 0
        buffer[1] = localLoss.isFinite ? 0 : 1
        buffer[2] = Preemption.requested ? 1 : 0
        for i in 0..<4 { buffer[3 + i] = extra[i] }
        try collectives.allreduceSum(buffer, count: 7)
        lossSum = buffer[0]
        nonFiniteRanks = Int(buffer[1])
        stopRequested = buffer[2] > 0
        extraSum = SIMD4(buffer[3], buffer[4], buffer[5], buffer[6])
    }

    /// Throw `RunStop.nonFinite` when any rank saw a non-finite value at `step`.
    public func throwIfNonFinite(step: Int) throws {
        if nonFiniteRanks > 0 { throw RunStop.nonFinite(step: step, ranks: nonFiniteRanks) }
    }
}

/// A run that stopped for a reason every rank agreed on.
public enum RunStop: Error, CustomStringConvertible {
    case nonFinite(step: Int, ranks: Int)
    /// The update itself made parameters non-finite (identical on every rank).
    case nonFiniteParameters(step: Int)
    case preempted(step: Int, checkpoint: String?)

    public var description: String {
        switch self {
        case .nonFinite(let s, let r):
            return "non-finite loss or gradient at step \(s) on \(r) rank(s); stopped without updating (resume from the last checkpoint with a lower learning rate)"
        case .nonFiniteParameters(let s):
            return "the update at step \(s) made the parameters non-finite; stopped before saving them (resume from the last checkpoint with a lower learning rate)"
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
