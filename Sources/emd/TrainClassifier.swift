import ArgumentParser
import Foundation
import SwiftMPI
import Diffusion
import Evaluation

/// `emd train-classifier`: the convolutional classifier whose penultimate features the image
/// metrics (FD, precision, recall) use, trained on the dataset's labels.
struct TrainClassifier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-classifier",
        abstract: "Train the feature classifier for image metrics (single process) and report its test accuracy.")

    @Option(help: "Labelled training set.") var data = "fashion-mnist"
    @Option(help: "Labelled test set for the reported accuracy.") var test = "fashion-mnist-test"
    @Option(help: "Output checkpoint (.safetensors).") var out: String
    @Option(help: "Training steps.") var steps = 3000
    @Option(help: "Batch size.") var batch = 64
    @Option(name: .customLong("lr"), help: "Peak learning rate (warm-up, then cosine decay).") var learningRate: Float = 2e-3
    @Option(help: "Seed.") var seed = 0
    @Option(help: "Write {accuracy, steps, seconds} as JSON here.") var json: String?

    func run() throws {
        guard steps > 0, batch > 0 else { throw ValidationError("--steps and --batch must be positive") }
        let comm = startRun(blasThreads: nil)
        try runCommand(comm) {
            guard comm.isRoot else { return }
            let train = try ArrayDataset.load(data), testSet = try ArrayDataset.load(test)
            let model = ImageClassifier(seed: UInt64(seed))
            let t0 = Date()
            try model.train(on: train, steps: steps, batch: batch, learningRate: learningRate, seed: UInt64(seed)) { print($0) }
            let seconds = Date().timeIntervalSince(t0)
            let accuracy = try model.accuracy(on: testSet)
            try model.save(to: out)
            print(String(format: "test accuracy %.4f on %d images (%.0f s of training); classifier written to %@",
                         accuracy, testSet.count, seconds, out))
            if let json { try writeJSON(["accuracy": accuracy, "steps": steps, "batch": batch, "seconds": seconds], to: json) }
        }
    }
}
