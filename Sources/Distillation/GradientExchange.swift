import Training

/// How one distillation step moves its gradients across ranks, given the step's phases: the
/// generator's gradient is ready (after the E-step and M-step); each schedule reduces it,
/// applies the generator update, and runs the student's updates with their reductions.
protocol GradientExchange {
    /// Returns the generator update's agreed results and the last student loss.
    func exchange(_ d: Distiller, generatorLoss: Double) throws -> (GeneratorUpdate, Double)
}

extension GradientExchangeMode {
    /// The schedule for this mode (`bucketFloats`: the bucketed mode's bucket size).
    func schedule(bucketFloats: Int) -> GradientExchange {
        switch self {
        case .separate: return SeparateExchange()
        case .overlap: return OverlappedExchange()
        case .fused: return FusedExchange()
        case .bucketed: return BucketedExchange(bucketFloats: bucketFloats)
        }
    }
}

/// One blocking all-reduce per network update.
struct SeparateExchange: GradientExchange {
    func exchange(_ d: Distiller, generatorLoss: Double) throws -> (GeneratorUpdate, Double) {
        try d.reduce(d.generatorOptimizer, d.generatorParameters.grads)
        let gen = try d.updateGenerator(localLoss: generatorLoss)
        var studentLoss = 0.0
        for j in 0..<d.config.studentSteps { studentLoss = try d.studentStep(j) }
        return (gen, studentLoss)
    }
}

/// The arithmetic of `SeparateExchange`, with each all-reduce in flight while the next update's
/// draws and generator samples, which do not depend on it, are computed.
struct OverlappedExchange: GradientExchange {
    func exchange(_ d: Distiller, generatorLoss: Double) throws -> (GeneratorUpdate, Double) {
        let c = d.collectives, ns = d.config.studentSteps
        try c.startAllreduceSum(d.generatorParameters.grads, count: d.generatorParameters.count)
        if ns > 0 { d.studentDraw(0); try c.progressPending() }
        try d.waitPending()
        let gen = try d.updateGenerator(localLoss: generatorLoss)
        var studentLoss = 0.0
        guard ns > 0 else { return (gen, studentLoss) }
        d.studentSamples()
        var local = d.studentGradient()
        for j in 0..<ns {
            try c.startAllreduceSum(d.studentParameters.grads, count: d.studentParameters.count)
            if j + 1 < ns {
                d.studentDraw(j + 1)
                try c.progressPending()
                d.studentSamples()
            }
            try d.waitPending()
            studentLoss = try d.updateStudent(localLoss: local)
            if j + 1 < ns { local = d.studentGradient() }
        }
        return (gen, studentLoss)
    }
}

/// The generator's gradient and the first student update's in one all-reduce of the shared
/// gradient buffer; that student update is computed against the generator before this step's
/// update.
struct FusedExchange: GradientExchange {
    func exchange(_ d: Distiller, generatorLoss: Double) throws -> (GeneratorUpdate, Double) {
        guard d.config.studentSteps > 0 else { return try SeparateExchange().exchange(d, generatorLoss: generatorLoss) }
        d.studentDraw(0)
        d.studentSamples()
        let local = d.studentGradient()
        try d.reduce(d.generatorParameters.grads, count: d.generatorParameters.count + d.studentParameters.count)
        let gen = try d.updateGenerator(localLoss: generatorLoss)
        var studentLoss = try d.updateStudent(localLoss: local)
        for j in 1..<d.config.studentSteps { studentLoss = try d.studentStep(j) }
        return (gen, studentLoss)
    }
}

/// `SeparateExchange` with each student gradient reduced in buckets during its backward pass,
/// as DDP and Horovod do. The flat gradient is cut into fixed buckets of `bucketFloats` from the
/// top down (the order in which the backward pass finishes them); when the network reports
/// that everything above an offset is final, every bucket above it is posted as a non-blocking
/// sum and the reductions in flight are progressed; the rest are posted when the backward pass
/// ends (all of them, on a rank with no samples), then all are awaited. Every rank posts the
/// same buckets in the same order, and each element gets the same sum as in one all-reduce.
/// Installs its hook once, so a step allocates nothing.
final class BucketedExchange: GradientExchange {
    let bucketFloats: Int
    private var collectives: Collectives?
    private var grads: UnsafeMutablePointer<Float>?
    private var total = 0
    /// Offsets at and above `posted` are in flight.
    private var posted = 0
    private var armed = false
    private var failure: Error?

    init(bucketFloats: Int) { self.bucketFloats = bucketFloats }

    /// Post every bucket lying at or above `from`.
    private func post(downTo from: Int) {
        guard armed, failure == nil, let c = collectives, let g = grads else { return }
        do {
            while posted > 0 {
                let lower = max(0, posted - bucketFloats)
                guard lower >= from else { break }
                try c.startAllreduceSum(g + lower, count: posted - lower)
                posted = lower
            }
            try c.progressPending()
        } catch { failure = error }
    }

    func exchange(_ d: Distiller, generatorLoss: Double) throws -> (GeneratorUpdate, Double) {
        if collectives == nil {
            collectives = d.collectives
            precondition(d.config.bucketFloats >= 1)
            grads = d.studentParameters.grads
            total = d.studentParameters.count
            d.student.gradientHook = { [unowned self] from in self.post(downTo: from) }
        }
        try d.reduce(d.generatorOptimizer, d.generatorParameters.grads)
        let gen = try d.updateGenerator(localLoss: generatorLoss)
        var studentLoss = 0.0
        for j in 0..<d.config.studentSteps {
            d.studentDraw(j)
            d.studentSamples()
            posted = total
            armed = true
            let local = d.studentGradient()
            post(downTo: 0)
            armed = false
            if let failure { self.failure = nil; throw failure }
            try d.waitPending()
            studentLoss = try d.updateStudent(localLoss: local)
        }
        return (gen, studentLoss)
    }
}
