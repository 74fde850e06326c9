import ArgumentParser
import Foundation
import Training
import SwiftMPI
import Diffusion
import Distillation
import Evaluation
import FileFormats

/// `emd eval`: metrics of samples (or of a checkpoint's samples) on a mixture or on images.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate samples: mixture coverage (on_mode, modes_covered, weight_tv) or image FD, precision, recall, class_tv.")

    @Option(help: "Samples file (.npy or .safetensors from `emd sample`).") var samples: String?
    @Option(help: "Or a checkpoint to sample from (generator: one step; teacher: Heun with --steps).") var checkpoint: String?
    @Option(help: "Samples to draw from --checkpoint.") var count = 10000
    @Option(help: "Teacher Heun noise levels N (NFE = 2N - 1).") var steps = 18
    @Option(help: "Mixture the samples should cover: ring (default), random:D, or a JSON file.") var mixture: String?
    @Option(help: "Images: classifier checkpoint (from `emd train-classifier`); samples are clipped to [-1, 1].") var classifier: String?
    @Option(help: "Images: reference set.") var reference = "fashion-mnist-test"
    @Option(help: "Write metrics as JSON here.") var json: String?
    @Option(help: "Write a scatter plot or image grid here.") var png: String?
    @Option(help: "Seed for sampling a checkpoint.") var seed = 0
    @Option(name: .customLong("class"), help: "Class-conditional checkpoint: sample every class in equal numbers (all) and report conditional_accuracy, the classifier's agreement with the requested class (Fashion-MNIST's classes are balanced, so equal numbers are its class frequencies).")
    var classSpec: String?
    @Option(help: "Teacher's classifier-free guidance scale with --class (a one-step generator's was fixed by distill --guidance; eval records it).") var guidance: Float = 1

    func run() throws {
        guard (samples == nil) != (checkpoint == nil) else { throw ValidationError("give exactly one of --samples and --checkpoint") }
        // The same bounds as `sample` (checked even with --samples, where they are unused, so a
        // bad value is never silently ignored).
        try validateSamplingFlags(count: count, steps: steps, seed: seed)
        try InputLimits.requireGuidance(guidance)
        let comm = startRun(blasThreads: nil)
        StopSignals.installInterrupt()
        try runCommand(comm) {
            guard comm.isRoot else { return }
            // Outputs, mixture, classifier and reference first: a bad path or file should fail
            // before minutes of sampling.
            try checkOutput(json, flag: "--json", creatingFolder: true)
            try checkOutput(png, flag: "--png", creatingFolder: true)
            let mix = classifier == nil || png != nil ? try readMixture(mixture) ?? .ring() : nil
            let scorer = try classifier.map { (try ImageClassifier.load(from: $0), try ArrayDataset.load(reference)) }
            var values: [Float], n: Int, dim: Int
            var requested: [Int32]? = nil
            // What drew the samples (a checkpoint's): recorded beside the metrics, for FD against NFE.
            var provenance: [String: Any] = [:]
            if let samples {
                guard classSpec == nil else { throw ValidationError("--class needs --checkpoint (a samples file has no labels)") }
                guard guidance == 1 else { throw ValidationError("--guidance needs --checkpoint (a teacher's, with --class)") }
                (values, n, dim) = try readSamples(samples)
            } else {
                guard classSpec == nil || classSpec == "all" else { throw ValidationError("--class: eval takes all") }
                let drawn = try drawSamples(checkpoint: checkpoint!, count: count, steps: steps, sampler: .heun, useEMA: true,
                                            seed: seed, copies: 2, classSpec: classSpec, guidance: guidance)
                (values, n, dim) = (drawn.values, count, drawn.dimension)
                provenance = ["nfe": drawn.nfe, "model": drawn.model, "checkpoint": checkpoint!]
                if let w = drawn.guidance { provenance["guidance"] = Double(w) }
                if let classes = drawn.classes, classSpec != nil {
                    requested = try classLabels("all", count: count, classes: classes)
                }
            }
            // NaN samples would score as off every mode (and a clipped NaN as a pixel value):
            // refuse them, counting them, rather than report a meaningless score.
            try refuseNonFinite(values, count: n, dimension: dim, source: samples ?? checkpoint!,
                                action: "refusing to score them")
            try StopSignals.check("eval")
            var result: [String: Any]
            if let (clf, ref) = scorer {
                // Pixels live in [-1, 1]; samples are clipped to that range, as they are when
                // saved as images (a few-step sampler can overshoot far outside it).
                for i in values.indices { values[i] = min(1, max(-1, values[i])) }
                let m = try ImageEvaluation.evaluate(samples: values, count: n, classifier: clf, reference: ref, requested: requested)
                result = m
                print(m.keys.sorted().map { k in String(format: "%@ %.4f", k, m[k]!) }.joined(separator: "  "))
            } else {
                let mix = mix!
                guard mix.dimension == dim else {
                    throw ValidationError("samples have dimension \(dim), the mixture \(mix.dimension): pass --mixture (or --classifier for images)")
                }
                let r = MixtureMetrics.evaluate(values, mixture: mix)
                result = r.dictionary
                print(String(format: "on_mode %.4f  modes_covered %d/%d  weight_tv %.4f  (%d samples)",
                             r.onMode, r.modesCovered, mix.modes, r.weightTV, r.count))
            }
            if let json { try writeJSON(result.merging(provenance) { a, _ in a }, to: json) }
            if let png, let mix { try writePNG(values, count: n, dimension: dim, to: png, mixture: mix) }
        }
    }
}
