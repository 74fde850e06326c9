import ArgumentParser
import Foundation
import Training
import SwiftMPI
import Diffusion
import Distillation
import Evaluation
import FileFormats

/// `emd sample`: draw samples from a one-step generator or a teacher (Heun/Euler).
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample a generator (one step) or a teacher (Heun or Euler) checkpoint.")

    @Option(help: "A generator or teacher checkpoint (.safetensors).") var checkpoint: String
    @Option(help: "Number of samples.") var count = 10000
    @Option(help: "Write all samples here: .npy or .safetensors.") var out: String
    @Option(help: "Also write a PNG: an image grid (square images) or a scatter plot (vectors).") var png: String?
    @Option(help: "Mixture drawn under a scatter plot: ring (default), random:D, or a JSON file.") var mixture: String?
    @Option(help: "Teacher: number of noise levels N (Heun NFE = 2N - 1).") var steps = 18
    @Option(help: "Teacher sampler: heun | euler.") var sampler = "heun"
    @Flag(help: "Use the raw weights instead of the EMA.") var noEma = false
    @Option(help: "Seed.") var seed = 0

    func run() throws {
        guard count > 0, steps > 0 else { throw ValidationError("--count and --steps must be positive") }
        guard let s = Sampler(rawValue: sampler) else { throw ValidationError("--sampler must be heun or euler") }
        let comm = startRun(blasThreads: nil)
        try runCommand(comm) {
            guard comm.isRoot else { return }
            let kind = try Checkpoint.read(checkpoint).metadata["kind"] ?? ""
            let values: [Float], dim: Int, nfe: Int
            if kind == "generator" {
                let g = try OneStepGenerator.load(checkpoint, useEMA: !noEma)
                values = g.sample(count: count, seed: UInt64(seed))
                dim = g.network.inputSize
                nfe = 1
            } else {
                let t = try TeacherModel.load(checkpoint, useEMA: !noEma)
                values = s.sample(t.denoiser(maxBatch: 256), edm: t.edm, steps: steps, count: count, seed: UInt64(seed))
                dim = t.network.inputSize
                nfe = s.nfe(steps: steps)
            }
            try writeSamples(values, count: count, dimension: dim, to: out, nfe: nfe)
            if let png { try writePNG(values, count: count, dimension: dim, to: png, mixture: try parseMixture(mixture) ?? .ring()) }
            print("\(count) samples (\(nfe) NFE each) written to \(out)")
        }
    }
}

func writeSamples(_ values: [Float], count: Int, dimension: Int, to path: String, nfe: Int) throws {
    if path.hasSuffix(".npy") {
        try NPY.write(path: path, shape: [count, dimension], values: values)
    } else if path.hasSuffix(".safetensors") {
        try SafeTensorsFile(tensors: [try SafeTensorsEntry(name: "samples", shape: [count, dimension], floats: values)],
                            metadata: ["nfe": "\(nfe)"]).write(to: path)
    } else {
        throw ValidationError("--out must end in .npy or .safetensors")
    }
}

func readSamples(_ path: String) throws -> (values: [Float], count: Int, dimension: Int) {
    if path.hasSuffix(".npy") {
        let (shape, v) = try NPY.read(path: path)
        guard shape.count == 2 else { throw ValidationError("\(path): expected a 2-D array, got shape \(shape)") }
        return (v, shape[0], shape[1])
    }
    let f = try SafeTensorsFile(path: path)
    guard let e = f.tensors["samples"], e.shape.count == 2 else {
        throw ValidationError("\(path): no 2-D tensor named 'samples'")
    }
    return (try e.floats(), e.shape[0], e.shape[1])
}

func writePNG(_ values: [Float], count: Int, dimension: Int, to path: String, mixture: GaussianMixture) throws {
    let side = Int(Double(dimension).squareRoot())
    if side * side == dimension && dimension >= 64 {
        let n = min(count, 100)
        try AtomicFile.write(try ImageGrid.png(images: Array(values.prefix(n * dimension)), count: n, side: side,
                                               columns: 10), to: path)
    } else {
        guard mixture.dimension == dimension else {
            throw ValidationError("samples have dimension \(dimension) but the mixture has \(mixture.dimension): pass --mixture")
        }
        try AtomicFile.write(try ScatterPlot.png(samples: values, mixture: mixture), to: path)
    }
}
