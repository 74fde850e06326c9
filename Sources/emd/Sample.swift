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
    @Option(name: .customLong("class"), help: "Class-conditional teacher: sample this class, or all (the classes in order, one PNG row each).")
    var classSpec: String?
    @Option(help: "Classifier-free guidance scale w with --class: D = (1 - w) D_uncond + w D_cond (1: conditional, 0: unconditional). Teachers only: a one-step generator's was fixed by distill --guidance.")
    var guidance: Float = 1

    func run() throws {
        // Every size is checked before MPI starts or anything is read (the release build has no
        // overflow checks): see InputLimits.
        try validateSamplingFlags(count: count, steps: steps, seed: seed)
        guard let s = Sampler(rawValue: sampler) else { throw ValidationError("--sampler must be heun or euler") }
        try InputLimits.requireGuidance(guidance)
        guard out.hasSuffix(".npy") || out.hasSuffix(".safetensors") else {
            throw ValidationError("--out must end in .npy or .safetensors")
        }
        let comm = startRun(blasThreads: nil)
        StopSignals.installInterrupt()
        try runCommand(comm) {
            guard comm.isRoot else { return }
            // Outputs and the mixture first: a bad path or file should fail before minutes of
            // sampling.
            try checkOutput(out, flag: "--out", creatingFolder: true)
            try checkOutput(png, flag: "--png", creatingFolder: true)
            let mix = png == nil ? nil : try readMixture(mixture) ?? .ring()
            // Three copies at most at once: the samples, their encoded file, the PNG's input.
            let drawn = try drawSamples(checkpoint: checkpoint, count: count, steps: steps, sampler: s, useEMA: !noEma,
                                        seed: seed, copies: 3, classSpec: classSpec, guidance: guidance)
            // Non-finite samples are refused, not written: a file of NaNs would only fail later.
            try refuseNonFinite(drawn.values, count: count, dimension: drawn.dimension, source: checkpoint,
                                action: "nothing written to \(out)")
            try StopSignals.check("sample")
            try writeSamples(drawn.values, count: count, dimension: drawn.dimension, to: out, nfe: drawn.nfe)
            if let png, let mix {
                if classSpec == "all", let classes = drawn.classes {
                    try writeClassGrid(drawn.values, count: count, dimension: drawn.dimension, classes: classes, to: png)
                } else {
                    try writePNG(drawn.values, count: count, dimension: drawn.dimension, to: png, mixture: mix)
                }
            }
            print("\(count) samples (\(drawn.nfe) NFE each) written to \(out)")
        }
    }
}

/// `parseMixture`, but a mixture file is read without blocking (a FIFO is refused, naming it).
func readMixture(_ spec: String?) throws -> GaussianMixture? {
    guard let spec, spec != "ring", spec != "default", !spec.hasPrefix("random:") else { return try parseMixture(spec) }
    let data = try readRegularFile(spec)
    do { return try GaussianMixture.decode(json: data, source: spec) } catch { throw ValidationError("\(error)") }
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

/// Read a samples file (.npy, or .safetensors with a 2-D tensor "samples"): at least one sample
/// of at least one coordinate, the file refused up front when it and its decoded copy cannot fit.
func readSamples(_ path: String) throws -> (values: [Float], count: Int, dimension: Int) {
    try InputLimits.requireFileFits(path, copies: 3)
    let values: [Float], shape: [Int]
    if path.hasSuffix(".npy") {
        (shape, values) = try NPY.read(path: path)
        guard shape.count == 2 else { throw ValidationError("\(path): expected a 2-D array, got shape \(shape)") }
    } else {
        let f = try SafeTensorsFile(path: path)
        guard let e = f.tensors["samples"], e.shape.count == 2 else {
            throw ValidationError("\(path): no 2-D tensor named 'samples'")
        }
        (shape, values) = (e.shape, try e.floats())
    }
    guard shape[0] >= 1, shape[1] >= 1 else {
        throw ValidationError("\(path): shape \(shape) holds no samples; at least one sample of one coordinate is needed")
    }
    try InputLimits.require(shape[0], "\(path): sample count", in: InputLimits.counts)
    return (values, shape[0], shape[1])
}

/// One row per class of up to 10 samples each (labels laid out by `classLabels(all)`).
func writeClassGrid(_ values: [Float], count: Int, dimension: Int, classes: Int, to path: String) throws {
    let side = Int(Double(dimension).squareRoot())
    guard side * side == dimension else { throw ValidationError("--class all --png needs square images") }
    let per = max(1, count / classes), columns = min(per, 10)
    var images: [Float] = []
    for c in 0..<classes {
        for j in 0..<columns where c * per + j < count {
            images += values[((c * per + j) * dimension)..<((c * per + j + 1) * dimension)]
        }
    }
    try AtomicFile.write(try ImageGrid.png(images: images, count: images.count / dimension, side: side, columns: columns), to: path)
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
