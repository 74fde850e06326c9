import XCTest
import Foundation
import NN
import CounterRNG
import Training
import FileFormats
import Diffusion
import Evaluation

/// A fresh scratch folder.
func scratch(_ tag: String) -> String {
    let d = NSTemporaryDirectory() + "emd-test-\(tag)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

final class TeacherTests: XCTestCase {
    /// A small MLP teacher trained on the 2-D mixture matches the exact denoiser and its Heun
    /// samples cover every mode.
    func testMLPTeacherMatchesExactDenoiser() throws {
        var c = TeacherConfig()
        c.steps = 2500
        c.seed = 1
        let m = c.mixture
        let trainer = try TeacherTrainer(config: c, collectives: .single, data: MixtureData(m))
        for _ in 0..<c.steps { _ = try trainer.trainStep() }
        let learned = NetworkDenoiser(network: trainer.network, edm: trainer.edm,
                                      parameters: { let p = Parameters(layout: trainer.network.layout); trainer.ema.copy(into: p); return p }(),
                                      maxBatch: 512)
        let exact = ExactMixtureDenoiser(m)
        // Mean absolute error per coordinate at points x0 + sigma n, across noise levels.
        // Stated tolerances: 0.1 per coordinate where the training noise distribution
        // (ln sigma ~ N(-1.2, 1.2^2)) puts its mass (sigma <= 2; the ring's radius is 2 and its
        // modes 1.5 apart), 0.25 at sigma = 5, which only 1% of training draws reach.
        for (s, tolerance): (Float, Float) in [(0.05, 0.1), (0.2, 0.1), (0.5, 0.1), (1, 0.1), (2, 0.1), (5, 0.25)] {
            let n = 512
            var x = [Float](repeating: 0, count: n * 2)
            x.withUnsafeMutableBufferPointer { p in
                for i in 0..<n {
                    m.sample(DrawKey(seed: 9, step: 0, purpose: .test, index: i), into: p.baseAddress! + 2 * i)
                    let e = Draws.normals(DrawKey(seed: 9, step: 1, purpose: .test, index: i), count: 2)
                    p[2 * i] += s * e[0]; p[2 * i + 1] += s * e[1]
                }
            }
            let sig = [Float](repeating: s, count: n)
            var a = [Float](repeating: 0, count: n * 2), b = a
            learned.denoise(x, sigma: sig, out: &a, batch: n)
            exact.denoise(x, sigma: sig, out: &b, batch: n)
            let mae = zip(a, b).map { abs($0 - $1) }.reduce(0, +) / Float(2 * n)
            XCTAssertLessThan(mae, tolerance, "sigma \(s): MAE \(mae)")
        }
        let samples = Sampler.heun.sample(learned, edm: trainer.edm, steps: 18, count: 4000, seed: 5)
        let r = MixtureMetrics.evaluate(samples, mixture: m)
        XCTAssertEqual(r.modesCovered, 8, "Heun samples of the learned teacher: \(r)")
    }

    /// The progress ETA: remaining steps at the pace so far, capped by what is left of a time
    /// limit (a time-limited run is given a huge step count, so the step ETA alone is meaningless).
    func testProgressETARespectsTheTimeLimit() {
        XCTAssertEqual(TrainingProgress.eta(elapsed: 100, done: 50, remaining: 150, timeLimit: 0), 300, accuracy: 1e-9)
        XCTAssertEqual(TrainingProgress.eta(elapsed: 100, done: 50, remaining: 999_950, timeLimit: 1150), 1050, accuracy: 1e-9)
        XCTAssertEqual(TrainingProgress.eta(elapsed: 100, done: 50, remaining: 150, timeLimit: 1150), 300, accuracy: 1e-9)
        XCTAssertEqual(TrainingProgress.eta(elapsed: 1200, done: 50, remaining: 150, timeLimit: 1150), 0)
        XCTAssertEqual(TrainingProgress.eta(elapsed: 0, done: 0, remaining: 150, timeLimit: 0), 0)
    }

    /// Training 2N steps equals N steps, checkpoint, restore into a fresh trainer, N more: bit for bit.
    func testBitExactResume() throws {
        var c = TeacherConfig()
        c.steps = 40
        c.network.hidden = 32
        let data = MixtureData(c.mixture)
        let straight = try TeacherTrainer(config: c, collectives: .single, data: data)
        for _ in 0..<40 { _ = try straight.trainStep() }
        let first = try TeacherTrainer(config: c, collectives: .single, data: data)
        for _ in 0..<20 { _ = try first.trainStep() }
        let dir = scratch("resume")
        try first.checkpoint().write(to: dir + "/c.safetensors")
        let resumed = try TeacherTrainer(config: c, collectives: .single, data: data)
        try resumed.restore(try Checkpoint.read(dir + "/c.safetensors"))
        XCTAssertEqual(resumed.step, 20)
        for _ in 0..<20 { _ = try resumed.trainStep() }
        XCTAssertEqual(resumed.parameters.checksum(), straight.parameters.checksum())
        XCTAssertEqual(Array(resumed.ema.values.buffer), Array(straight.ema.values.buffer))
        XCTAssertEqual(Array(resumed.adam.v.buffer), Array(straight.adam.v.buffer))
        // And the trajectory did move.
        XCTAssertNotEqual(first.parameters.checksum(), straight.parameters.checksum())
    }

    func testCheckpointDirectoryKeepsNewest() throws {
        let dir = CheckpointDirectory(path: scratch("keep"), keep: 2)
        var c = Checkpoint()
        c.add("t", shape: [2], values: [1, 2])
        for s in [10, 20, 30] { try dir.save(c, step: s) }
        XCTAssertEqual(dir.checkpoints().map(\.step), [20, 30])
        XCTAssertEqual(dir.checkpoints().last?.file, dir.file(step: 30))
    }
}

/// Bad input gets a clear error naming the file and the problem.
final class BadInputTests: XCTestCase {
    func writeTeacher(_ dir: String, hidden: Int = 16) throws -> String {
        var c = TeacherConfig()
        c.network.hidden = hidden
        let t = try TeacherTrainer(config: c, collectives: .single, data: MixtureData(c.mixture))
        let path = dir + "/teacher.safetensors"
        try t.checkpoint().write(to: path)
        return path
    }

    func testTruncatedCheckpoint() throws {
        let dir = scratch("trunc")
        let path = try writeTeacher(dir)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TeacherModel.load(path)) { e in
            XCTAssertTrue("\(e)".contains(path), "\(e)")
        }
    }

    func testCorruptedHeader() throws {
        let dir = scratch("corrupt")
        let path = try writeTeacher(dir)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[12] = UInt8(ascii: "}")
        try data.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint.read(path)) { e in XCTAssertTrue("\(e)".contains(path), "\(e)") }
    }

    func testShapesThatDoNotFitTheNetwork() throws {
        let dir = scratch("shape")
        let path = try writeTeacher(dir, hidden: 16)
        let other = MLPNetwork(inputSize: 2, hidden: 32, depth: 3, embeddingSize: 64)
        let p = Parameters(layout: other.layout)
        XCTAssertThrowsError(try Checkpoint.read(path).load(group: "params", layout: other.layout, into: p.values)) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains(path) && s.contains("params.fc0.weight") && s.contains("[32, 2]"), s)
        }
        // A trainer configured differently refuses to resume from it.
        var c = TeacherConfig()
        c.network.hidden = 32
        let t = try TeacherTrainer(config: c, collectives: .single, data: MixtureData(c.mixture))
        XCTAssertThrowsError(try t.restore(try Checkpoint.read(path)))
    }

    /// A checkpoint whose metadata describes a huge network is refused before the parameters
    /// are allocated (16384 x 16384 x 1024 floats would not fit in any memory here), and sizes
    /// that would overflow a layout are refused outright.
    func testHostileNetworkMetadataIsRefusedBeforeAllocation() throws {
        let dir = scratch("hostile")
        let path = try writeTeacher(dir)
        var c = try Checkpoint.read(path)
        var nc = try c.metaJSON("network", as: NetworkConfig.self)
        nc.hidden = 16384; nc.depth = 1024
        c.metadata["network"] = StrictConfig.json(nc)
        XCTAssertThrowsError(try TeacherModel(checkpoint: c)) { e in
            XCTAssertTrue("\(e)".contains(path) && "\(e)".contains("do not match"), "\(e)")
        }
        nc.hidden = 1 << 40
        c.metadata["network"] = StrictConfig.json(nc)
        XCTAssertThrowsError(try TeacherModel(checkpoint: c)) { e in
            XCTAssertTrue("\(e)".contains(path) && "\(e)".contains("out of range"), "\(e)")
        }
        var edm = try c.metaJSON("edm", as: EDMConfig.self)
        c.metadata["network"] = StrictConfig.json(try Checkpoint.read(path).metaJSON("network", as: NetworkConfig.self))
        XCTAssertNoThrow(try TeacherModel(checkpoint: c))
        edm.sigmaData = -1
        c.metadata["edm"] = StrictConfig.json(edm)
        XCTAssertThrowsError(try TeacherModel(checkpoint: c)) { e in XCTAssertTrue("\(e)".contains("sigmaData"), "\(e)") }
    }

    func testUnknownConfigKeyAndBadValues() throws {
        XCTAssertThrowsError(try StrictConfig.overlay(TeacherConfig(), json: Data(#"{"stpes": 10}"#.utf8), source: "cfg.json")) { e in
            XCTAssertTrue("\(e)".contains("cfg.json") && "\(e)".contains("stpes"), "\(e)")
        }
        XCTAssertThrowsError(try StrictConfig.overlay(TeacherConfig(), json: Data(#"{"network": {"widht": 3}}"#.utf8), source: "c")) { e in
            XCTAssertTrue("\(e)".contains("network.widht"), "\(e)")
        }
        let ok = try StrictConfig.overlay(TeacherConfig(), json: Data(#"{"steps": 7, "network": {"hidden": 9}}"#.utf8), source: "c")
        XCTAssertEqual(ok.steps, 7); XCTAssertEqual(ok.network.hidden, 9); XCTAssertEqual(ok.network.depth, 3)
        var c = TeacherConfig()
        c.batch = 0
        XCTAssertThrowsError(try c.validate()) { e in XCTAssertTrue("\(e)".contains("batch"), "\(e)") }
        c.batch = -3
        XCTAssertThrowsError(try TeacherTrainer(config: c, collectives: .single, data: MixtureData(c.mixture)))
    }

    func testBadIDXDataset() throws {
        let dir = scratch("idx")
        try Data([0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/short.idx"))
        XCTAssertThrowsError(try ArrayDataset.load("idx:\(dir)/short.idx")) { e in
            XCTAssertTrue("\(e)".contains("short.idx"), "\(e)")
        }
        try Data([1, 2, 8, 1, 0, 0, 0, 1, 7]).write(to: URL(fileURLWithPath: dir + "/magic.idx"))
        XCTAssertThrowsError(try ArrayDataset.load("idx:\(dir)/magic.idx")) { e in
            XCTAssertTrue("\(e)".contains("magic.idx"), "\(e)")
        }
    }

    /// A checkpoint save that fails part-way (the file-size limit is lowered so the write itself
    /// fails with EFBIG) leaves the previous good checkpoint intact and loadable.
    func testFailedSaveKeepsGoodCheckpoint() throws {
        let dir = scratch("atomic")
        let path = try writeTeacher(dir)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        // A bigger checkpoint to write over it.
        var c = TeacherConfig()
        c.network.hidden = 64
        let bigger = try TeacherTrainer(config: c, collectives: .single, data: MixtureData(c.mixture)).checkpoint()
        signal(SIGXFSZ, SIG_IGN)
        var old = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        var low = old
        low.rlim_cur = rlim_t(before.count + 4096)
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &low)
        let failed: Bool
        do { try bigger.write(to: path); failed = false } catch { failed = true }
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        XCTAssertTrue(failed, "the write should have failed under the file-size limit")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        XCTAssertNoThrow(try TeacherModel.load(path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "teacher.safetensors" }
        XCTAssertEqual(leftovers, [], "temporary files left behind")
    }
}
