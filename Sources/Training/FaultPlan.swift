/// Faults to inject, for the reliability tests: each names a rank and a step. The CLI reads
/// them from `EMD_FAULT_NAN`, `EMD_FAULT_THROW` and `EMD_FAULT_PREEMPT` (each `RANK:STEP`);
/// normal runs have none.
public struct FaultPlan: Sendable, Equatable {
    public struct Point: Sendable, Equatable {
        public let rank: Int
        public let step: Int
        public init(rank: Int, step: Int) { self.rank = rank; self.step = step }
    }

    /// Poison that rank's gradient with a NaN at that step.
    public var nan: Point?
    /// Make that rank throw at that step, as a rank that meets bad input alone would.
    public var throwError: Point?
    /// Make that rank raise SIGTERM at that step, as a scheduler would: a preemption that lands
    /// at a known step.
    public var preempt: Point?

    public init(nan: Point? = nil, throwError: Point? = nil, preempt: Point? = nil) {
        self.nan = nan
        self.throwError = throwError
        self.preempt = preempt
    }

    /// No faults.
    public static let none = FaultPlan()

    /// The plan in an environment (`EMD_FAULT_NAN`, `EMD_FAULT_THROW`, `EMD_FAULT_PREEMPT`).
    public init(environment: [String: String]) {
        func point(_ name: String) -> Point? {
            guard let v = environment[name] else { return nil }
            let parts = v.split(separator: ":").compactMap { Int($0) }
            return parts.count == 2 ? Point(rank: parts[0], step: parts[1]) : nil
        }
        self.init(nan: point("EMD_FAULT_NAN"), throwError: point("EMD_FAULT_THROW"), preempt: point("EMD_FAULT_PREEMPT"))
    }

    /// Apply the faults due on `rank` at `step` to a gradient buffer about to be reduced.
    @inline(__always)
    public func inject(rank: Int, step: Int, grads: UnsafeMutablePointer<Float>) throws {
        if let p = nan, p.rank == rank, p.step == step { grads[0] = .nan }
        if let p = preempt, p.rank == rank, p.step == step { Preemption.raiseSignal() }
        if let p = throwError, p.rank == rank, p.step == step {
            throw ConfigError("injected fault (EMD_FAULT_THROW) on rank \(rank) at step \(step)")
        }
    }
}
