import Foundation
import NN
import CounterRNG
import Diffusion
import Training

/// Training of the feature classifier with Adam on softmax cross-entropy, one process, driven by
/// `TrainingLoop` (checkpoints, resume, progress): `steps` minibatches of `batch` images visited
/// in epochs shuffled by `permutation` keyed by (`seed`, epoch). The learning rate warms up
/// linearly over the first 2% of steps and then follows a cosine decay to 2% of `learningRate`.
public final class ClassifierTrainer: Trainable {
    public let model: ImageClassifier
    public let dataset: ArrayDataset
    public let steps: Int, batch: Int, learningRate: Float, seed: UInt64
    public private(set) var step = 0
    let labels: [Int]
    let adam: Adam
    /// Samples per forward and backward pass within a step.
    let chunk: Int
    /// Activations for one chunk, and the step's whole batch of images.
    let ws: ImageClassifier.Workspace
    let batchImages: Tensor
    var order: [Int] = [], orderEpoch = -1
    var batchLabels: [Int]
    var lossSum = 0.0, correct = 0, seen = 0

    /// - Parameter chunk: samples per forward and backward pass within a step (a larger batch
    ///   goes through in chunks whose gradients add up to the batch's).
    public init(model: ImageClassifier, dataset: ArrayDataset, steps: Int, batch: Int, learningRate: Float = 2e-3,
                seed: UInt64 = 0, chunk: Int = 1024) throws {
        self.chunk = max(1, chunk)
        guard let labels = dataset.labels else { throw ImageEvaluationError("dataset \(dataset.name) has no labels") }
        guard dataset.dimension == ImageClassifier.imageSize else {
            throw ImageEvaluationError("dataset \(dataset.name) has dimension \(dataset.dimension), need \(ImageClassifier.imageSize)")
        }
        // Real checks: -Ounchecked drops preconditions, and these come from flags and label files.
        guard steps > 0, (1...65536).contains(batch), dataset.count > 0 else {
            throw ImageEvaluationError("classifier training needs steps > 0 (got \(steps)), batch in 1...65536 (got \(batch)) and images")
        }
        if let bad = labels.firstIndex(where: { !(0..<ImageClassifier.classes).contains($0) }) {
            throw ImageEvaluationError("dataset \(dataset.name): label \(labels[bad]) of image \(bad + 1) is outside 0..<\(ImageClassifier.classes)")
        }
        self.model = model
        self.dataset = dataset
        self.labels = labels
        self.steps = steps
        self.batch = batch
        self.learningRate = learningRate
        self.seed = seed
        adam = Adam(count: model.parameters.count, learningRate: learningRate)
        ws = model.workspace(batch: min(batch, self.chunk))
        batchImages = Tensor(shape: [batch, ImageClassifier.imageSize])
        batchLabels = [Int](repeating: 0, count: batch)
    }

    public var samplesPerStep: Int { batch }

    public func trainStep() throws -> Bool {
        let d = ImageClassifier.imageSize, n = dataset.count
        dataset.values.withUnsafeBufferPointer { values in
            for i in 0..<batch {
                let pos = step * batch + i, epoch = pos / n
                if epoch != orderEpoch {
                    order = permutation(n, key: DrawKey(seed: seed, step: epoch, purpose: .shuffle, index: 0))
                    orderEpoch = epoch
                }
                let j = order[pos % n]
                (batchImages.data + i * d).update(from: values.baseAddress! + j * d, count: d)
                batchLabels[i] = labels[j]
            }
        }
        let warmup = max(1, steps / 50)
        let t = Float(step) / Float(max(1, steps - 1))
        let cosine = 0.02 + 0.98 * 0.5 * (1 + cosf(Float.pi * t))
        adam.learningRate = learningRate * min(1, Float(step + 1) / Float(warmup)) * cosine
        model.parameters.zeroGrads()
        // Batches above `chunk` go through in chunks whose gradients add up to the batch's, with
        // a stop signal honoured between chunks before anything is updated (a step of a huge
        // batch takes long); a batch of at most `chunk` is one pass, as it always was.
        var loss = 0.0, right = 0, first = 0
        while first < batch {
            if first > 0 && Preemption.requested { return true }
            let n = min(chunk, batch - first)
            let x = batchImages.data + first * d
            model.forward(x, n: n, ws)
            let r = batchLabels.withUnsafeBufferPointer { model.crossEntropy($0.baseAddress! + first, n: n, total: batch, ws) }
            model.backward(x, n: n, ws)
            loss += r.loss * Double(n); right += r.correct
            first += n
        }
        adam.update(model.parameters)
        lossSum += loss; correct += right; seen += batch
        step += 1
        return Preemption.requested
    }

    /// Mean loss and training accuracy since the last call, and the learning rate.
    public func metrics() -> [(String, Double)] {
        defer { lossSum = 0; correct = 0; seen = 0 }
        let n = Double(max(seen, 1))
        return [("loss", lossSum / n), ("train_acc", Double(correct) / n), ("lr", Double(adam.learningRate))]
    }

    var config: String {
        StrictConfig.json(["steps": steps, "batch": batch, "seed": Int(seed), "learningRate": Int(learningRate.bitPattern),
                           "images": dataset.count])
    }

    public func checkpoint() -> Checkpoint {
        var c = Checkpoint()
        let l = model.parameters.layout
        c.add(group: "params", layout: l, values: model.parameters.values)
        c.add(group: "adam_m", layout: l, values: adam.m.data)
        c.add(group: "adam_v", layout: l, values: adam.v.data)
        c.metadata = model.architectureMetadata
        c.metadata["step"] = "\(step)"
        c.metadata["adam_step"] = "\(adam.step)"
        c.metadata["config"] = config
        return c
    }

    public func restore(_ c: Checkpoint) throws {
        try CheckpointKind.classifier.check(c)
        try ConfigCompatibility.check(saved: try c.meta("config"), current: config, mutable: [], source: c.path)
        let l = model.parameters.layout
        for (group, values) in [("params", model.parameters.values), ("adam_m", adam.m.data), ("adam_v", adam.v.data)] {
            try c.load(group: group, layout: l, into: values)
        }
        step = try c.metaInt("step")
        adam.step = try c.metaInt("adam_step")
    }

    public func stateChecksum() -> UInt64 { model.parameters.checksum() ^ UInt64(step) }
}
