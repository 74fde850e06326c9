import XCTest
import NN
import CounterRNG
import Training
import Diffusion
import Distillation

/// Class conditioning and classifier-free guidance.
final class ClassConditionalTests: XCTestCase {
    func randomDenoiser(classes: Int, maxBatch: Int = 4) -> NetworkDenoiser {
        let net = UNetNetwork(side: 8, channels: 8, embedding: 4, classes: classes)
        let p = Parameters(layout: net.layout)
        p.initialize(seed: 5)
        // A label table that matters (it starts at zero).
        for i in 0..<p.count { p.values[i] += 0.05 * Float(sin(Double(i))) }
        return NetworkDenoiser(network: net, edm: EDMConfig(sigmaData: 0.5), parameters: p, maxBatch: maxBatch)
    }

    /// w = 1 is the conditional denoiser and w = 0 the unconditional one, bit for bit; w = 3
    /// is (1 - w) D_uncond + w D_cond; no labels is the unconditional denoiser.
    func testGuidanceEndpointsAreExact() {
        let base = randomDenoiser(classes: 2)
        let n = 3, d = 64
        let x = Draws.normals(DrawKey(seed: 1, step: 0, purpose: .test, index: 0), count: n * d)
        let sigma: [Float] = [0.3, 1, 4]
        let labels: [Int32] = [0, 1, 0]
        func run(_ denoiser: Denoiser, labels: [Int32]?) -> [Float] {
            var out = [Float](repeating: 0, count: n * d)
            if let labels { denoiser.denoise(x, sigma: sigma, labels: labels, out: &out, batch: n) }
            else { denoiser.denoise(x, sigma: sigma, out: &out, batch: n) }
            return out
        }
        let conditional = run(base, labels: labels), unconditional = run(base, labels: nil)
        XCTAssertNotEqual(conditional, unconditional)
        XCTAssertEqual(run(GuidedDenoiser(base, guidance: 1), labels: labels), conditional)
        XCTAssertEqual(run(GuidedDenoiser(base, guidance: 0), labels: labels), unconditional)
        XCTAssertEqual(run(GuidedDenoiser(base, guidance: 3), labels: nil), unconditional)
        let guided = run(GuidedDenoiser(base, guidance: 3), labels: labels)
        for i in 0..<(n * d) { XCTAssertEqual(guided[i], -2 * unconditional[i] + 3 * conditional[i], accuracy: 1e-5) }
    }

    /// A conditional teacher trained briefly on two well-separated classes of toy 8 x 8 images
    /// (class 0 bright in the top half, class 1 in the bottom half) puts its samples of class c
    /// closer to class c's mean than to the other's; guidance makes that hold for all of them,
    /// and without the label (w = 0) samples fall in either class.
    func testToyTwoClassTeacherSamplesItsClass() throws {
        let side = 8, d = side * side, count = 256
        var values = [Float](repeating: 0, count: count * d), labels = [Int](repeating: 0, count: count)
        for i in 0..<count {
            let c = i % 2
            labels[i] = c
            let noise = Draws.normals(DrawKey(seed: 3, step: 0, purpose: .test, index: i), count: d)
            for j in 0..<d {
                let top = j / side < side / 2
                values[i * d + j] = ((top ? c == 0 : c == 1) ? 0.8 : -0.8) + 0.1 * noise[j]
            }
        }
        let data = try ArrayDataset(name: "toy", count: count, dimension: d, values: values, labels: labels, imageSide: side)
        XCTAssertEqual(data.classes, 2)
        var config = TeacherConfig()
        config.data = "toy"
        config.network = NetworkConfig(kind: .unet, dimension: d, embedding: 16)
        config.network.channels = 8
        config.network.imageSide = side
        config.network.classes = 2
        config.steps = 1000
        config.batch = 32
        config.learningRate = 2e-3
        config.emaDecay = 0.9
        let trainer = try TeacherTrainer(config: config, collectives: .single, data: data)
        for _ in 0..<config.steps { _ = try trainer.trainStep() }
        let p = Parameters(layout: trainer.network.layout)
        trainer.ema.copy(into: p)
        let base = NetworkDenoiser(network: trainer.network, edm: trainer.edm, parameters: p, maxBatch: 32)
        var means = [[Float]](repeating: [Float](repeating: 0, count: d), count: 2)
        for i in 0..<count { for j in 0..<d { means[labels[i]][j] += values[i * d + j] / Float(count / 2) } }
        let n = 32
        let sampleLabels = (0..<n).map { Int32($0 % 2) }
        /// Samples closer to their class's mean than to the other's.
        func correct(guidance: Float) -> Int {
            let samples = Sampler.heun.sample(GuidedDenoiser(base, guidance: guidance), edm: trainer.edm, steps: 12, count: n,
                                              seed: 4, labels: sampleLabels)
            return (0..<n).filter { i in
                let c = Int(sampleLabels[i])
                func distance(_ m: [Float]) -> Float { (0..<d).reduce(0) { $0 + (samples[i * d + $1] - m[$1]) * (samples[i * d + $1] - m[$1]) } }
                return distance(means[c]) < distance(means[1 - c])
            }.count
        }
        // Conditional sampling after a brief training: most samples in their class (16 samples
        // drawn with sampler seeds 4, 7 and 11 had 16, 16 and 15 in their class when this was
        // written); guidance (w = 3) strengthens the label: all of them.
        XCTAssertGreaterThanOrEqual(correct(guidance: 1), 28, "w = 1")
        XCTAssertEqual(correct(guidance: 3), n, "w = 3")
        // Unconditional samples (w = 0) fall in both classes.
        let unconditional = correct(guidance: 0)
        XCTAssertGreaterThan(unconditional, 4, "w = 0")
        XCTAssertLessThan(unconditional, n - 4, "w = 0")
    }

    // MARK: conditional distillation

    /// A class-conditional distillation of a random conditional U-Net teacher (guidance 2).
    func conditionalDistiller(collectives: Collectives, steps: Int = 0) throws -> Distiller {
        var net = NetworkConfig(kind: .unet, dimension: 64, embedding: 4)
        net.channels = 8
        net.imageSide = 8
        net.classes = 3
        let teacherDenoiser = randomDenoiser(classes: 3, maxBatch: 6)
        var c = DistillConfig()
        c.batch = 6
        c.langevinSteps = 2
        c.studentSteps = 2
        c.guidance = 2
        let d = try Distiller(config: c, collectives: collectives, teacher: GuidedDenoiser(teacherDenoiser, guidance: 2), networkConfig: net,
                              edm: teacherDenoiser.edm, initial: teacherDenoiser.parameters)
        for _ in 0..<steps { _ = try d.trainStep() }
        return d
    }

    /// Conditional distillation on 1, 2 and 3 simulated ranks: every rank ends identical and
    /// the result is the 1-rank one up to summation order.
    func testConditionalDistillationIsRankCountInvariant() throws {
        let one = try conditionalDistiller(collectives: LocalCollectives.single, steps: 3)
        let reference = withExtendedLifetime(one) { Array(one.generatorParameters.valueBuffer) }
        for ranks in [2, 3] {
            let all = try LocalCollectives.run(ranks: ranks) { col -> [Float] in
                // Keep the distiller alive while its parameters are copied (they are its memory).
                let d = try self.conditionalDistiller(collectives: col, steps: 3)
                return withExtendedLifetime(d) { Array(d.generatorParameters.valueBuffer) }
            }
            XCTAssertTrue(all.allSatisfy { $0 == all[0] }, "ranks differ on \(ranks) ranks")
            var diff = 0.0, norm = 0.0
            for i in reference.indices { diff += Double(reference[i] - all[0][i]) * Double(reference[i] - all[0][i]); norm += Double(reference[i] * reference[i]) }
            XCTAssertLessThan((diff / norm).squareRoot(), 1e-5, "\(ranks) ranks vs 1")
        }
    }

    /// Conditional distillation resumes bit for bit; the labels are part of the trajectory
    /// (a different guidance scale gives a different generator).
    func testConditionalDistillationResumesExactly() throws {
        let straight = try conditionalDistiller(collectives: LocalCollectives.single, steps: 4)
        let first = try conditionalDistiller(collectives: LocalCollectives.single, steps: 2)
        let resumed = try conditionalDistiller(collectives: LocalCollectives.single)
        try resumed.restore(first.checkpoint())
        for _ in 0..<2 { _ = try resumed.trainStep() }
        XCTAssertEqual(resumed.generatorParameters.checksum(), straight.generatorParameters.checksum())
        XCTAssertEqual(resumed.studentParameters.checksum(), straight.studentParameters.checksum())
        XCTAssertNotEqual(first.generatorParameters.checksum(), straight.generatorParameters.checksum())
        // The generator's samples depend on the requested class.
        let p = Parameters(layout: straight.network.layout)
        p.copyValues(from: straight.generatorParameters)
        let g = OneStepGenerator(network: straight.network, edm: straight.edm, parameters: p, sigmaInit: straight.noise.initial)
        XCTAssertNotEqual(g.sample(count: 2, seed: 1, labels: [0, 0]), g.sample(count: 2, seed: 1, labels: [1, 1]))
    }

    /// A generator checkpoint carries the guidance scale it was distilled with (what eval
    /// records for it), and loads the EMA weights it was saved with.
    func testGeneratorCheckpointKnowsItsGuidance() throws {
        let d = try conditionalDistiller(collectives: LocalCollectives.single, steps: 1)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("guided-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try d.checkpoint().write(to: path)
        let g = try OneStepGenerator.load(path, useEMA: false)
        XCTAssertEqual(g.guidance, 2)
        XCTAssertEqual(g.parameters.checksum(), d.generatorParameters.checksum())
    }
}
