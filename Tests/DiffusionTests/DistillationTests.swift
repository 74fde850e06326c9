import XCTest
import Foundation
import NN
import CounterRNG
import Training
import Diffusion
@testable import Distillation
import Evaluation

final class DistillationTests: XCTestCase {
    /// A small network and its initial weights, shared by the tests below.
    func smallSetup(hidden: Int = 32, seed: UInt64 = 4) -> (NetworkConfig, EDMConfig, Parameters) {
        let config = NetworkConfig(kind: .mlp, dimension: 2, hidden: hidden, depth: 2, embedding: 16)
        let p = Parameters(layout: try! config.build().layout)
        p.initialize(seed: seed)
        return (config, EDMConfig(sigmaData: 1.3), p)
    }

    /// A one-rank distiller of `config` on the exact ring teacher, made tiny (the small network
    /// with hidden 16, batch 32, K = 2, one student update), from the small network's weights.
    func tinyDistiller(_ config: DistillConfig) throws -> Distiller {
        let (net, edm, p) = smallSetup(hidden: 16)
        var c = config
        c.batch = 32
        c.langevinSteps = 2
        c.studentSteps = 1
        return try Distiller(config: c, collectives: LocalCollectives.single, teacher: ExactMixtureDenoiser(.ring()),
                             networkConfig: net, edm: edm, initial: p)
    }

    /// With the student equal to the teacher the drift is zero, and the E-step is the
    /// discretised Ornstein-Uhlenbeck chain v' = (1 - g) v + sqrt(2 g) xi in both eps and z.
    /// Its variance after K steps from N(0, 1) is s + (1 - s)(1 - g)^(2K), s = 1 / (1 - g/2),
    /// and tends to exactly 1 (invariance of N(0, I)) as the step shrinks. The M-step gradient
    /// is exactly zero with noise cancellation and has zero mean without it.
    func testEStepLeavesStandardNormalInvariantWhenStudentEqualsTeacher() throws {
        let (net, edm, p) = smallSetup()
        // The third case caps the z step (zStepMax 0.1 < gammaZ 0.5): z must follow h_z = 0.1.
        for (gammaEps, gammaZ, zStepMax): (Float, Float, Float) in [(0.3, 0.5, 1), (0.01, 0.02, 1), (0.3, 0.5, 0.1)] {
            var c = DistillConfig()
            c.batch = 16384
            c.langevinSteps = 8
            c.gammaEps = gammaEps
            c.gammaZ = gammaZ
            c.zStepMax = zStepMax
            c.sigmaLo = 1; c.sigmaHi = 1   // h_z = min(gammaZ, zStepMax)
            let teacher = NetworkDenoiser(network: try net.build(), edm: edm, parameters: p, maxBatch: c.batch)
            let d = try Distiller(config: c, collectives: .single, teacher: teacher, networkConfig: net, edm: edm, initial: p)
            let chains = d.runEStep()
            XCTAssertTrue(chains.drift.allSatisfy { $0 == 0 }, "student = teacher must give zero drift")
            for (name, v, g) in [("eps", chains.eps, gammaEps), ("z", chains.z, min(gammaZ, zStepMax))] {
                let n = Double(v.count)
                let mean = v.reduce(0.0) { $0 + Double($1) } / n
                let variance = v.reduce(0.0) { $0 + Double($1) * Double($1) } / n - mean * mean
                let s = 1 / (1 - Double(g) / 2)
                let expected = s + (1 - s) * pow(1 - Double(g), 16)
                // Four standard errors: of the mean sqrt(var/n), of the variance var sqrt(2/n).
                XCTAssertEqual(mean, 0, accuracy: 4 * (expected / n).squareRoot(), "\(name) mean, gamma \(g)")
                let tol = 4 * expected * (2 / n).squareRoot()
                XCTAssertEqual(variance, expected, accuracy: tol, "\(name) variance, gamma \(g)")
                if g <= 0.02 { XCTAssertEqual(variance, 1, accuracy: tol + 0.01, "\(name): N(0, 1) invariant for a small step") }
            }
            // Noise cancellation: the target is g itself, so the gradient is exactly zero.
            XCTAssertEqual(gradientNorm(d.mStepGradientForCurrentStep(), count: p.count), 0)
        }
        // Without cancellation the gradient is J^T eps_K / sigma: zero mean, so the batch average
        // shrinks like 1/sqrt(B) relative to one sample's gradient.
        var c = DistillConfig()
        c.noiseCancellation = false
        c.sigmaLo = 1; c.sigmaHi = 1
        c.batch = 1
        let teacher = NetworkDenoiser(network: try net.build(), edm: edm, parameters: p, maxBatch: 2048)
        let one = try Distiller(config: c, collectives: .single, teacher: teacher, networkConfig: net, edm: edm, initial: p)
        let single = gradientNorm(one.mStepGradientForCurrentStep(), count: p.count)
        c.batch = 2048
        let many = try Distiller(config: c, collectives: .single, teacher: teacher, networkConfig: net, edm: edm, initial: p)
        let averaged = gradientNorm(many.mStepGradientForCurrentStep(), count: p.count)
        XCTAssertGreaterThan(single, 0)
        XCTAssertLessThan(averaged, 4 * single / Float(2048).squareRoot(), "single \(single), batch mean \(averaged)")
    }

    /// K = 1 with noise cancellation (the baseline): sigma * a_1 = gamma_eps (D_phi - D_psi)(x_0),
    /// i.e. the target is g + gamma_eps (D_phi - D_psi), to rounding.
    func testBaselineTargetIsDiffInstructGradient() throws {
        let (net, edm, p) = smallSetup()
        var c = DistillConfig()
        c.method = .baseline
        c.batch = 16
        c.seed = 3
        // The teacher is the exact mixture denoiser and the student an MLP, so D_phi - D_psi != 0.
        let mixture = GaussianMixture.ring()
        let teacher = ExactMixtureDenoiser(mixture)
        let d = try Distiller(config: c, collectives: .single, teacher: teacher, networkConfig: net, edm: edm, initial: p)
        let chains = d.runEStep()
        // Recompute x_0 = g(z_0) + sigma eps_0 and D_phi - D_psi at it, independently.
        var z0 = [Float](), e0 = [Float]()
        for i in 0..<c.batch {
            z0 += Draws.normals(DrawKey(seed: 3, step: 0, purpose: .latent, index: i), count: 2)
            e0 += Draws.normals(DrawKey(seed: 3, step: 0, purpose: .initialEps, index: i), count: 2)
        }
        XCTAssertEqual(chains.z, z0, "the baseline does not move z")
        let g = d.generatorOutput(z: z0, n: c.batch)
        var x = [Float](repeating: 0, count: 2 * c.batch)
        for b in 0..<c.batch { for j in 0..<2 { x[2 * b + j] = g[2 * b + j] + chains.sigma[b] * e0[2 * b + j] } }
        var dphi = x, dpsi = x
        teacher.denoise(x, sigma: chains.sigma, out: &dphi, batch: c.batch)
        let student = NetworkDenoiser(network: try net.build(), edm: edm, parameters: p, maxBatch: c.batch)
        student.denoise(x, sigma: chains.sigma, out: &dpsi, batch: c.batch)
        var maxErr: Float = 0, maxVal: Float = 0
        for b in 0..<c.batch {
            for j in 0..<2 {
                let step = chains.sigma[b] * chains.drift[2 * b + j]
                let want = c.gammaEps * (dphi[2 * b + j] - dpsi[2 * b + j])
                maxErr = max(maxErr, abs(step - want)); maxVal = max(maxVal, abs(want))
            }
        }
        XCTAssertGreaterThan(maxVal, 1e-3, "vacuous: teacher and student agree")
        XCTAssertLessThan(maxErr, 1e-5 * max(1, maxVal), "max error \(maxErr)")
    }

    /// The z drift's vector-Jacobian product J_g(z)^T v against central differences of <v, g(z)>.
    func testLatentVJPMatchesFiniteDifferences() throws {
        let (net, edm, p) = smallSetup(hidden: 24)
        var c = DistillConfig()
        c.batch = 3
        let d = try Distiller(config: c, collectives: .single, teacher: ExactMixtureDenoiser(.ring()), networkConfig: net, edm: edm, initial: p)
        let z = Draws.normals(DrawKey(seed: 1, step: 0, purpose: .test, index: 0), count: 6)
        let v = Draws.normals(DrawKey(seed: 2, step: 0, purpose: .test, index: 0), count: 6)
        let vjp = d.latentGradient(z: z, v: v, n: 3)
        let eps: Float = 1e-2
        for i in 0..<6 {
            var zp = z, zm = z
            zp[i] += eps; zm[i] -= eps
            let gp = d.generatorOutput(z: zp, n: 3), gm = d.generatorOutput(z: zm, n: 3)
            var fd = 0.0
            for j in 0..<6 { fd += Double(v[j]) * Double(gp[j] - gm[j]) }
            fd /= Double(2 * eps)
            XCTAssertEqual(Double(vjp[i]), fd, accuracy: 2e-3 + 1e-2 * abs(fd), "component \(i)")
        }
    }

    /// The EMA ramp-up: the weight left on the initial generator after T updates is the product
    /// of the per-update decays. Plain 0.999 keeps 0.999^T of it (0.37 after 1000 updates); the
    /// ramp-up (half-life capped at 0.05 t) forgets it, and reaches the plain decay once
    /// 0.05 t exceeds the half-life (693 updates). A short run's EMA then tracks the live weights.
    func testEMARampupForgetsTheInitialGenerator() throws {
        var c = DistillConfig()
        c.emaDecay = 0.999
        c.emaRampup = 0
        let plain = (1...1000).reduce(1.0) { $0 * Double(c.emaDecay(atUpdate: $1)) }
        XCTAssertEqual(plain, pow(0.999, 1000), accuracy: 1e-4)
        c.emaRampup = 0.05
        let ramped = (1...1000).reduce(1.0) { $0 * Double(c.emaDecay(atUpdate: $1)) }
        XCTAssertLessThan(ramped, 1e-6)
        XCTAssertLessThan(c.emaDecay(atUpdate: 1), 1e-5)
        for t in [100, 1000, 10000] { XCTAssertLessThan(c.emaDecay(atUpdate: t), c.emaDecay(atUpdate: t + 1)) }
        XCTAssertEqual(c.emaDecay(atUpdate: 14000), 0.999)
        XCTAssertLessThan(c.emaDecay(atUpdate: 13000), 0.999)

        let (_, _, p) = smallSetup(hidden: 16)
        func emaLag(rampup: Float) throws -> Double {
            var cc = c
            cc.emaRampup = rampup
            let d = try tinyDistiller(cc)
            for _ in 0..<40 { _ = try d.trainStep() }
            let live = d.generatorParameters.values, ema = d.generatorEMA.values.data
            var lag = 0.0, moved = 0.0
            for i in 0..<d.generatorParameters.count {
                lag += Double((ema[i] - live[i]) * (ema[i] - live[i]))
                moved += Double((p.values[i] - live[i]) * (p.values[i] - live[i]))
            }
            return (lag / moved).squareRoot()
        }
        let plainLag = try emaLag(rampup: 0), rampedLag = try emaLag(rampup: 0.05)
        XCTAssertGreaterThan(plainLag, 0.9, "a plain 0.999 EMA barely leaves the initial weights in 40 updates")
        XCTAssertLessThan(rampedLag, 0.5 * plainLag, "plain \(plainLag), ramped \(rampedLag)")
    }

    /// The generator's cosine annealing: generatorLR at update 0, half of it midway, 0 at the
    /// horizon, falling monotonically; constant without it; a run longer than the horizon is
    /// refused. In a run the annealed rate is the one applied: the last of 12 updates under a
    /// 12-update horizon (rate 0.017 lr) moves the generator by a small fraction of what the
    /// same update moves it at the constant rate, and a resumed annealed run equals an
    /// uninterrupted one bit for bit.
    func testGeneratorLearningRateCosineAnnealing() throws {
        var c = DistillConfig()
        c.generatorLR = 4e-3
        XCTAssertEqual(c.generatorLR(atUpdate: 500), 4e-3)
        c.generatorLRDecaySteps = 100
        c.steps = 100
        XCTAssertEqual(c.generatorLR(atUpdate: 0), 4e-3)
        XCTAssertEqual(c.generatorLR(atUpdate: 50), 2e-3, accuracy: 1e-9)
        XCTAssertEqual(c.generatorLR(atUpdate: 100), 0, accuracy: 1e-9)
        for t in 0..<100 { XCTAssertGreaterThan(c.generatorLR(atUpdate: t), c.generatorLR(atUpdate: t + 1)) }
        XCTAssertNoThrow(try c.validate())
        c.steps = 101
        XCTAssertThrowsError(try c.validate())

        c.steps = 12
        func make(decay: Int) throws -> Distiller {
            var cc = c
            cc.generatorLRDecaySteps = decay
            return try tinyDistiller(cc)
        }
        /// The norm of the last of `n` updates.
        func lastMove(_ d: Distiller, _ n: Int) throws -> Double {
            for _ in 0..<(n - 1) { _ = try d.trainStep() }
            let before = Array(UnsafeBufferPointer(start: d.generatorParameters.values, count: d.generatorParameters.count))
            _ = try d.trainStep()
            return zip(before, UnsafeBufferPointer(start: d.generatorParameters.values, count: before.count))
                .reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot()
        }
        let annealed = try make(decay: 12), constant = try make(decay: 0)
        let annealedMove = try lastMove(annealed, 12), constantMove = try lastMove(constant, 12)
        XCTAssertEqual(Double(annealed.generatorAdam.learningRate), 4e-3 * (1 + cos(11 * Double.pi / 12)) / 2, accuracy: 1e-9)
        XCTAssertEqual(constant.generatorAdam.learningRate, 4e-3)
        XCTAssertLessThan(annealedMove, 0.1 * constantMove, "annealed \(annealedMove), constant \(constantMove)")

        let first = try make(decay: 12)
        for _ in 0..<5 { _ = try first.trainStep() }
        let path = scratch("distill-lr-decay") + "/c.safetensors"
        try first.checkpoint().write(to: path)
        let resumed = try make(decay: 12)
        try resumed.restore(try Checkpoint.read(path))
        for _ in 0..<7 { _ = try resumed.trainStep() }
        XCTAssertEqual(resumed.generatorParameters.checksum(), annealed.generatorParameters.checksum())
        XCTAssertEqual(Array(resumed.generatorEMA.values.buffer), Array(annealed.generatorEMA.values.buffer))
    }

    /// The student's noise levels: EDM's log-normal by default (some far outside the
    /// distillation range), log-uniform on the range with `studentNoise: distillationRange`
    /// (every draw inside it, the logarithm's mean and spread those of a uniform law).
    func testStudentNoiseLevelsFollowTheConfiguredLaw() throws {
        let (net, edm, p) = smallSetup(hidden: 16)
        var c = DistillConfig()
        c.batch = 4096
        func draws(_ law: StudentNoise) throws -> (levels: NoiseLevels, logs: [Double]) {
            c.studentNoise = law
            let d = try Distiller(config: c, collectives: .single, teacher: ExactMixtureDenoiser(.ring()), networkConfig: net,
                                  edm: edm, initial: p)
            d.studentUpdate.draw(0, seed: 3, step: 7)
            return (d.noise, (0..<c.batch).map { Double(logf(d.studentUpdate.sigma[$0])) })
        }
        let (levels, logs) = try draws(.distillationRange)
        let lo = Double(logf(levels.lo)), hi = Double(logf(levels.hi)), n = Double(logs.count)
        XCTAssertTrue(logs.allSatisfy { $0 >= lo - 1e-5 && $0 <= hi + 1e-5 })
        let mean = logs.reduce(0, +) / n, sd = (logs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n).squareRoot()
        let width = hi - lo
        XCTAssertEqual(mean, (lo + hi) / 2, accuracy: 4 * width / (12 * n).squareRoot())
        XCTAssertEqual(sd, width / 12.squareRoot(), accuracy: 0.03 * width)
        let (_, logNormal) = try draws(.logNormal)
        XCTAssertGreaterThan(logNormal.filter { $0 < lo || $0 > hi }.count, c.batch / 100, "EDM's law reaches outside the range")
        let m = logNormal.reduce(0, +) / n
        XCTAssertEqual(m, Double(edm.pMean), accuracy: 4 * Double(edm.pStd) / n.squareRoot())
    }

    /// Resume: N steps, checkpoint, restore into a fresh distiller, N more equals 2N straight.
    /// Makes the small distillers of the resume tests (hidden 16, batch 32, K = 3, two student
    /// updates, the exact ring teacher), all from the same initial weights. Each gets its own
    /// teacher: a denoiser keeps scratch buffers, so simulated ranks (threads) must not share one.
    func smallDistillers() -> (Collectives) throws -> Distiller {
        let (net, edm, p) = smallSetup(hidden: 16)
        var c = DistillConfig()
        c.batch = 32
        c.langevinSteps = 3
        c.studentSteps = 2
        let config = c
        return {
            try Distiller(config: config, collectives: $0, teacher: ExactMixtureDenoiser(.ring()), networkConfig: net, edm: edm,
                          initial: p)
        }
    }

    func testBitExactResume() throws {
        let makeOn = smallDistillers()
        func make() throws -> Distiller { try makeOn(LocalCollectives.single) }
        let straight = try make()
        for _ in 0..<12 { _ = try straight.trainStep() }
        let first = try make()
        for _ in 0..<6 { _ = try first.trainStep() }
        let path = scratch("distill-resume") + "/c.safetensors"
        try first.checkpoint().write(to: path)
        let resumed = try make()
        try resumed.restore(try Checkpoint.read(path))
        for _ in 0..<6 { _ = try resumed.trainStep() }
        XCTAssertEqual(resumed.step, 12)
        XCTAssertEqual(resumed.generatorParameters.checksum(), straight.generatorParameters.checksum())
        XCTAssertEqual(resumed.studentParameters.checksum(), straight.studentParameters.checksum())
        XCTAssertEqual(Array(resumed.generatorEMA.values.buffer), Array(straight.generatorEMA.values.buffer))
        XCTAssertNotEqual(first.generatorParameters.checksum(), straight.generatorParameters.checksum())
    }

    /// A job of one rank stops within a step on a stop signal, before updating anything: the
    /// step is not taken, its checkpoint holds the step's starting state, and resuming from it
    /// gives what an uninterrupted run gives, bit for bit. Ranks of a larger job (here two
    /// simulated ranks) finish the step instead, as they must agree.
    func testStopWithinAStepLeavesTheStartingState() throws {
        let makeOn = smallDistillers()
        func make(_ collectives: Collectives = LocalCollectives.single) throws -> Distiller { try makeOn(collectives) }
        let straight = try make()
        for _ in 0..<6 { _ = try straight.trainStep() }
        let stopped = try make()
        for _ in 0..<3 { _ = try stopped.trainStep() }
        let before = stopped.generatorParameters.checksum(), studentBefore = stopped.studentParameters.checksum()
        stopped.abortStep = { true }
        XCTAssertTrue(try stopped.trainStep())
        XCTAssertEqual(stopped.step, 3)
        XCTAssertEqual(stopped.generatorParameters.checksum(), before)
        XCTAssertEqual(stopped.studentParameters.checksum(), studentBefore)
        let path = scratch("distill-abort") + "/c.safetensors"
        try stopped.checkpoint().write(to: path)
        let resumed = try make()
        try resumed.restore(try Checkpoint.read(path))
        for _ in 0..<3 { _ = try resumed.trainStep() }
        XCTAssertEqual(resumed.step, 6)
        XCTAssertEqual(resumed.generatorParameters.checksum(), straight.generatorParameters.checksum())
        XCTAssertEqual(resumed.studentParameters.checksum(), straight.studentParameters.checksum())
        let steps = try LocalCollectives.run(ranks: 2) { col -> Int in
            let d = try make(col)
            d.abortStep = { true }
            _ = try d.trainStep()
            return d.step
        }
        XCTAssertEqual(steps, [1, 1])
    }

    /// A short distillation on the exact mixture moves the one-step generator onto the modes:
    /// on_mode and weight_tv improve on the initial generator by fixed margins.
    func testShortDistillationImprovesCoverage() throws {
        var tc = TeacherConfig()
        tc.steps = 1500
        tc.seed = 2
        let fit = try TeacherTrainer(config: tc, collectives: .single, data: MixtureData(tc.mixture))
        for _ in 0..<tc.steps { _ = try fit.trainStep() }
        let initial = Parameters(layout: fit.network.layout)
        fit.ema.copy(into: initial)
        var c = DistillConfig()
        c.steps = 600
        c.emaDecay = 0.95
        c.seed = 2
        let d = try Distiller(config: c, collectives: .single, teacher: ExactMixtureDenoiser(c.mixture), networkConfig: fit.config.network,
                              edm: fit.edm, initial: initial)
        let before = MixtureMetrics.evaluate(d.sample(count: 5000, seed: 77), mixture: c.mixture)
        for _ in 0..<c.steps { _ = try d.trainStep() }
        let after = MixtureMetrics.evaluate(d.sample(count: 5000, seed: 77), mixture: c.mixture)
        XCTAssertGreaterThan(after.onMode, before.onMode + 0.3, "before \(before), after \(after)")
        XCTAssertLessThan(after.weightTV, before.weightTV - 0.1, "before \(before), after \(after)")
        XCTAssertGreaterThanOrEqual(after.modesCovered, before.modesCovered, "before \(before), after \(after)")
    }
}
