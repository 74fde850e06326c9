import XCTest
import NN
import CounterRNG
import Training
import Diffusion
@testable import Distillation

/// Rank-count behaviour without mpirun: the same trainers on 1, 2 and 3 simulated ranks
/// (threads, `LocalCollectives`). Only the summation order of the gradients may differ, every
/// rank must end bit-identical, and ranks beyond the batch must not break anything.
final class RankInvarianceTests: XCTestCase {
    func distill(ranks: Int, batch: Int, mode: GradientExchangeMode = .separate) throws -> [[Float]] {
        let net = NetworkConfig(kind: .mlp, dimension: 2, hidden: 24, depth: 2, embedding: 16)
        let initial = Parameters(layout: try net.build().layout)
        initial.initialize(seed: 5)
        var c = DistillConfig()
        c.batch = batch
        c.langevinSteps = 3
        c.studentSteps = 2
        c.allreduce = mode
        // Small buckets: the bucketed mode posts many reductions per student update.
        c.bucketFloats = 100
        let config = c
        return try LocalCollectives.run(ranks: ranks) { col -> [Float] in
            let d = try Distiller(config: config, collectives: col, teacher: ExactMixtureDenoiser(.ring()), networkConfig: net,
                                  edm: EDMConfig(sigmaData: 1.3), initial: initial)
            for _ in 0..<8 { _ = try d.trainStep() }
            return withExtendedLifetime(d) { Array(d.generatorParameters.valueBuffer) + Array(d.studentParameters.valueBuffer) }
        }
    }

    func relative(_ a: [Float], _ b: [Float]) -> Double {
        var diff = 0.0, norm = 0.0
        for i in a.indices { diff += Double(a[i] - b[i]) * Double(a[i] - b[i]); norm += Double(a[i]) * Double(a[i]) }
        return (diff / norm).squareRoot()
    }

    func testDistillationIsRankCountInvariant() throws {
        let one = try distill(ranks: 1, batch: 30)[0]
        for ranks in [2, 3] {
            let all = try distill(ranks: ranks, batch: 30)
            XCTAssertTrue(all.allSatisfy { $0 == all[0] }, "ranks differ on \(ranks) ranks")
            XCTAssertLessThan(relative(one, all[0]), 1e-5, "\(ranks) ranks vs 1")
            XCTAssertNotEqual(one, all[0], "summation order should differ on \(ranks) ranks; identical means the batch was not split")
        }
        // The overlapped exchange does the same arithmetic as the separate one.
        XCTAssertEqual(try distill(ranks: 2, batch: 30, mode: .overlap)[0], try distill(ranks: 2, batch: 30)[0])
        // So do gradient buckets posted during the backward pass.
        XCTAssertEqual(try distill(ranks: 2, batch: 30, mode: .bucketed)[0], try distill(ranks: 2, batch: 30)[0])
        XCTAssertEqual(try distill(ranks: 3, batch: 30, mode: .bucketed), try distill(ranks: 3, batch: 30))
        // More ranks than samples: idle ranks (no backward pass, so no bucket reports) still
        // take part in every collective, posting the same buckets.
        XCTAssertEqual(try distill(ranks: 3, batch: 2, mode: .bucketed), try distill(ranks: 3, batch: 2))
        let sparse = try distill(ranks: 3, batch: 2)
        XCTAssertTrue(sparse.allSatisfy { $0 == sparse[0] })
        XCTAssertLessThan(relative(try distill(ranks: 1, batch: 2)[0], sparse[0]), 1e-5)
    }

    func testTeacherTrainingIsRankCountInvariant() throws {
        var c = TeacherConfig()
        c.network.hidden = 24
        c.batch = 40
        let config = c
        func train(_ ranks: Int) throws -> [[Float]] {
            try LocalCollectives.run(ranks: ranks) { col -> [Float] in
                let t = try TeacherTrainer(config: config, collectives: col, data: MixtureData(config.mixture))
                for _ in 0..<10 { _ = try t.trainStep() }
                return withExtendedLifetime(t) { Array(t.parameters.valueBuffer) }
            }
        }
        let one = try train(1)[0], three = try train(3)
        XCTAssertTrue(three.allSatisfy { $0 == three[0] })
        XCTAssertLessThan(relative(one, three[0]), 1e-5)
    }

    /// A shard above `TeacherTrainer.chunk` samples goes through in chunks whose gradients add
    /// up: one rank with 5,000 samples (chunks of 4,096 and 904) trains as two ranks of 2,500
    /// (one pass each) do, up to summation order.
    func testChunkedTeacherStepMatchesUnchunkedShards() throws {
        var c = TeacherConfig()
        c.network.hidden = 16
        c.batch = 5000
        XCTAssertGreaterThan(c.batch, TeacherTrainer.chunk)
        XCTAssertLessThanOrEqual(c.batch / 2, TeacherTrainer.chunk)
        let config = c
        func train(_ ranks: Int) throws -> [[Float]] {
            try LocalCollectives.run(ranks: ranks) { col -> [Float] in
                let t = try TeacherTrainer(config: config, collectives: col, data: MixtureData(config.mixture))
                for _ in 0..<3 { _ = try t.trainStep() }
                return withExtendedLifetime(t) { Array(t.parameters.valueBuffer) }
            }
        }
        let one = try train(1)[0], two = try train(2)
        XCTAssertLessThan(relative(one, two[0]), 1e-5)
    }

    /// Dropout masks are keyed by global sample index: a dropout teacher trains the same on 1
    /// and 2 ranks (up to summation order), and differs from the same run without dropout.
    func testDropoutTeacherIsRankCountInvariant() throws {
        let side = 4, d = side * side, count = 32
        let values = (0..<(count * d)).map { i in Float((i * 37) % 11) / 11 - 0.5 }
        let data = try ArrayDataset(name: "toy", count: count, dimension: d, values: values, labels: nil, imageSide: side)
        var c = TeacherConfig()
        c.data = "toy"
        c.network = NetworkConfig(kind: .edmUnet, dimension: d, embedding: 4)
        c.network.channels = 4
        c.network.imageSide = side
        c.network.channelMultipliers = [1, 2]
        c.network.blocksPerLevel = 1
        c.network.attentionLevels = []
        c.network.dropout = 0.2
        c.batch = 6
        func train(_ config: TeacherConfig, ranks: Int) throws -> [[Float]] {
            try LocalCollectives.run(ranks: ranks) { col -> [Float] in
                let t = try TeacherTrainer(config: config, collectives: col, data: data)
                for _ in 0..<4 { _ = try t.trainStep() }
                return withExtendedLifetime(t) { Array(t.parameters.valueBuffer) }
            }
        }
        let one = try train(c, ranks: 1)[0], two = try train(c, ranks: 2)
        XCTAssertEqual(two[0], two[1])
        XCTAssertLessThan(relative(one, two[0]), 1e-5)
        var none = c
        none.network.dropout = 0
        XCTAssertGreaterThan(relative(one, try train(none, ranks: 1)[0]), 1e-4)
    }

    /// Every module's random-draw purposes are distinct kinds (a collision would correlate two
    /// kinds of draws).
    func testDrawPurposesAreDistinct() {
        let all: [Purpose] = [.parameterInit, .dropout, .labelDropout, .chainClass, .studentClass, .dataNoise, .dataSigma, .shuffle, .dataSample, .sampling, .latent, .initialEps,
                              .distillSigma, .langevinEps, .langevinZ, .studentLatent, .studentSigma, .studentNoise,
                              .evaluation, .test]
        XCTAssertEqual(Set(all.map { $0.raw >> 16 }).count, all.count)
    }
}

/// Distillation noise levels follow the data's scale (sigma_data), as EDM's own do.
final class NoiseScaleTests: XCTestCase {
    /// For a mixture scaled by c, the resolved noise range and sigma_init are c times those of
    /// the unscaled mixture, and the z step h_z at corresponding noise levels (c sigma against
    /// sigma) is the same, so the chains move z alike; in absolute units nothing is rescaled.
    func testResolvedNoiseLevelsScaleWithTheData() throws {
        let c = DistillConfig()
        for base in [GaussianMixture.ring(), .grid(), .randomDirections(dimension: 16)] {
            for factor: Float in [0.25, 3] {
                let scaled = try base.scaled(by: factor)
                XCTAssertEqual(scaled.dataStd, factor * base.dataStd, accuracy: 1e-5 * factor * base.dataStd)
                let a = c.noiseLevels(sigmaData: base.dataStd), b = c.noiseLevels(sigmaData: scaled.dataStd)
                for (x, y) in [(a.lo, b.lo), (a.hi, b.hi), (a.initial, b.initial)] {
                    XCTAssertEqual(y, factor * x, accuracy: 1e-5 * factor * x)
                }
                let sigma = a.hi / 2
                XCTAssertEqual(b.zStep * (factor * sigma) * (factor * sigma), a.zStep * sigma * sigma, accuracy: 1e-6 * a.zStep * sigma * sigma)
            }
        }
        var absolute = c
        absolute.noiseUnits = .absolute
        XCTAssertEqual(absolute.noiseLevels(sigmaData: 7), NoiseLevels(lo: c.sigmaLo, hi: c.sigmaHi, initial: c.sigmaInit, zStep: c.gammaZ, zStepMax: c.zStepMax))
    }

    /// The distiller uses the resolved levels: its chains' noise levels lie in the scaled range.
    func testDistillerDrawsNoiseLevelsInTheScaledRange() throws {
        let net = NetworkConfig(kind: .mlp, dimension: 2, hidden: 16, depth: 2, embedding: 8)
        let p = Parameters(layout: try net.build().layout)
        p.initialize(seed: 1)
        var c = DistillConfig()
        c.batch = 512
        let edm = EDMConfig(sigmaData: 6)
        let d = try Distiller(config: c, collectives: .single, teacher: ExactMixtureDenoiser(.ring()), networkConfig: net, edm: edm, initial: p)
        let sigmas = d.runEStep().sigma
        XCTAssertGreaterThanOrEqual(sigmas.min()!, c.sigmaLo * 6 * 0.999)
        XCTAssertLessThanOrEqual(sigmas.max()!, c.sigmaHi * 6 * 1.001)
        XCTAssertGreaterThan(sigmas.max()!, c.sigmaHi * 6 * 0.8, "the draws should reach near the top of the scaled range")
    }
}
