import ArgumentParser
import Foundation
import SwiftMPI
import Diffusion
import Evaluation
import Training

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
    @Option(help: "Checkpoint every N steps (into OUT.run/).") var checkpointEvery = 1000
    @Flag(help: "Continue from the newest checkpoint in OUT.run/ (otherwise an earlier run there is replaced).") var resume = false

    func run() throws {
        try InputLimits.require(steps, "--steps", in: InputLimits.trainingSteps)
        try InputLimits.require(batch, "--batch", in: 1...65_536)
        try InputLimits.require(checkpointEvery, "--checkpoint-every", in: InputLimits.trainingSteps)
        try InputLimits.require(seed, "--seed", in: InputLimits.seeds)
        let comm = startRun(blasThreads: nil)
        let env = CommandEnvironment()
        try runCommand(comm) {
            guard comm.isRoot else { return }
            let train = try ArrayDataset.load(data), testSet = try ArrayDataset.load(test)
            let model = ImageClassifier(seed: UInt64(seed))
            let trainer = try ClassifierTrainer(model: model, dataset: train, steps: steps, batch: batch,
                                                learningRate: learningRate, seed: UInt64(seed))
            // Checkpoints and metrics of the run go to OUT.run/; the classifier itself to OUT.
            let dir = CheckpointDirectory(path: out + ".run")
            try TrainingLoop.claim(dir, collectives: comm, mode: resume ? .resume : .overwrite)
            let progress = try progressReporter(comm, steps: steps, every: max(1, steps / 20),
                                                metricsPath: dir.path + "/metrics.jsonl", style: env.progressStyle)
            let loop = TrainingLoop(collectives: comm, directory: dir,
                                    schedule: TrainingSchedule(steps: steps, checkpointEvery: checkpointEvery), progress: progress)
            if resume { try loop.resume(trainer) }
            let t0 = Date()
            try loop.run(trainer, finalPath: out)
            let seconds = Date().timeIntervalSince(t0)
            let accuracy = try model.accuracy(on: testSet)
            Console.out(String(format: "test accuracy %.4f on %d images (%.0f s of training); classifier written to %@",
                         accuracy, testSet.count, seconds, out) + "\n")
            if let json { try writeJSON(["accuracy": accuracy, "steps": steps, "batch": batch, "seconds": seconds], to: json) }
        }
    }
}
