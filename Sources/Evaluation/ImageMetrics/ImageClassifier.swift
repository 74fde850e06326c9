import Foundation
import Training
import BLAS
import CounterRNG
import Diffusion
import NN

#if canImport(Glibc)
import Glibc
#endif

/// An error from the image metrics (bad sizes, wrong checkpoint kind, missing labels).
public struct ImageEvaluationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A small convolutional classifier for 28x28 single-channel images in [-1, 1] with 10 classes,
/// used as the feature extractor of the image metrics (Frechet distance, precision/recall) and
/// as the class predictor of the class-histogram metric.
///
/// Architecture (channels c1, c2, c3 and hidden width h):
/// `Conv3x3(1->c1) SiLU  Conv3x3/2(c1->c2) SiLU [14x14]  Conv3x3/2(c2->c3) SiLU [7x7]
/// flatten  Linear(c3*49 -> h) SiLU [features]  Linear(h -> 10) [logits]`.
/// Forward and backward passes are explicit over one flat `Parameters` buffer; a workspace is
/// allocated once per batch size and reused.
public final class ImageClassifier {
    /// Image side (pixels).
    public static let side = 28
    /// Number of classes.
    public static let classes = 10
    /// Pixels per image.
    public static let imageSize = side * side

    /// Convolution widths (c1, c2, c3).
    public let channels: [Int]
    /// Width of the penultimate layer (the feature dimension).
    public let hidden: Int
    /// Parameter values and gradients.
    public let parameters: Parameters
    /// Images per forward pass in inference (`predict`, `features`, `logits`); one workspace of
    /// this size (about 0.35 MB per image with the default widths) serves every call.
    public var inferenceBatch = 100

    let conv1: Conv2D, conv2: Conv2D, conv3: Conv2D
    let fc1: Linear, fc2: Linear
    private var workspaces: [Int: Workspace] = [:]

    /// Dimension of the vectors returned by `features`.
    public var featureDimension: Int { hidden }

    /// A classifier with freshly initialised parameters (Philox draws keyed by `seed`).
    public init(channels: [Int] = [16, 32, 64], hidden: Int = 128, seed: UInt64 = 0) {
        precondition(channels.count == 3 && channels.allSatisfy { $0 > 0 } && hidden > 0, "bad classifier widths")
        self.channels = channels
        self.hidden = hidden
        let s = Self.side
        var l = ParameterLayout()
        // Scale 2 (bound 2/sqrt(fan-in)) keeps activations from shrinking through the SiLUs.
        var c1 = Conv2D(&l, "conv1", in: 1, out: channels[0], kernel: 3, stride: 1, height: s, width: s, scale: 2)
        var c2 = Conv2D(&l, "conv2", in: channels[0], out: channels[1], kernel: 3, stride: 2, height: s, width: s, scale: 2)
        var c3 = Conv2D(&l, "conv3", in: channels[1], out: channels[2], kernel: 3, stride: 2,
                        height: c2.outHeight, width: c2.outWidth, scale: 2)
        // The evaluation instrument stays put: im2col convolutions whatever the process default,
        // so the same command trains a classifier with the same bits, and its FDs compare with
        // every one recorded before oneDNN became the default.
        c1.backend = .im2col; c2.backend = .im2col; c3.backend = .im2col
        conv1 = c1; conv2 = c2; conv3 = c3
        fc1 = Linear(&l, "fc1", in: c3.outSize, out: hidden, scale: 2)
        fc2 = Linear(&l, "fc2", in: hidden, out: Self.classes)
        parameters = Parameters(layout: l)
        parameters.initialize(seed: seed)
    }

    /// Activations of one batch size, allocated once.
    final class Workspace {
        let batch: Int
        let a1, s1, h1, a2, s2, h2, a3, s3, h3: Tensor
        let f, fs, feat, logits, dLogits, dFeat, dh3, dh2, dh1, input: Tensor
        let col1, col2, col3: Tensor

        init(_ c: ImageClassifier, batch: Int) {
            self.batch = batch
            func t(_ n: Int) -> Tensor { Tensor(shape: [batch, n]) }
            a1 = t(c.conv1.outSize); s1 = t(c.conv1.outSize); h1 = t(c.conv1.outSize)
            a2 = t(c.conv2.outSize); s2 = t(c.conv2.outSize); h2 = t(c.conv2.outSize)
            a3 = t(c.conv3.outSize); s3 = t(c.conv3.outSize); h3 = t(c.conv3.outSize)
            f = t(c.hidden); fs = t(c.hidden); feat = t(c.hidden)
            logits = t(ImageClassifier.classes); dLogits = t(ImageClassifier.classes)
            dFeat = t(c.hidden); dh3 = t(c.conv3.outSize); dh2 = t(c.conv2.outSize); dh1 = t(c.conv1.outSize)
            input = t(ImageClassifier.imageSize)
            col1 = c.conv1.makeCache(); col2 = c.conv2.makeCache(); col3 = c.conv3.makeCache()
        }
    }

    func workspace(batch: Int) -> Workspace {
        if let w = workspaces[batch] { return w }
        let w = Workspace(self, batch: batch)
        workspaces[batch] = w
        return w
    }

    /// Forward pass of `n` images at `x` through the workspace (logits in `ws.logits`).
    func forward(_ x: UnsafePointer<Float>, n: Int, _ ws: Workspace) {
        let p = parameters
        conv1.forward(p, x, ws.a1.data, batch: n, col: ws.col1)
        SiLU.forward(ws.a1.data, ws.h1.data, count: n * conv1.outSize, sigmoid: ws.s1.data)
        conv2.forward(p, ws.h1.data, ws.a2.data, batch: n, col: ws.col2)
        SiLU.forward(ws.a2.data, ws.h2.data, count: n * conv2.outSize, sigmoid: ws.s2.data)
        conv3.forward(p, ws.h2.data, ws.a3.data, batch: n, col: ws.col3)
        SiLU.forward(ws.a3.data, ws.h3.data, count: n * conv3.outSize, sigmoid: ws.s3.data)
        fc1.forward(p, ws.h3.data, ws.f.data, batch: n)
        SiLU.forward(ws.f.data, ws.feat.data, count: n * hidden, sigmoid: ws.fs.data)
        fc2.forward(p, ws.feat.data, ws.logits.data, batch: n)
    }

    /// Mean softmax cross-entropy of the logits in `ws`; writes d(loss)/d(logits) into
    /// `ws.dLogits` and counts correct predictions.
    /// Mean cross-entropy of `n` rows and the count classified correctly; dLogits holds the
    /// gradient of the mean over `total` rows (n, or the whole batch when it is taken in chunks).
    func crossEntropy(_ labels: UnsafePointer<Int>, n: Int, total: Int? = nil, _ ws: Workspace) -> (loss: Double, correct: Int) {
        let k = Self.classes
        var loss = 0.0, correct = 0
        let inv = 1 / Float(total ?? n)
        for r in 0..<n {
            let z = ws.logits.data + r * k, g = ws.dLogits.data + r * k
            var m = z[0], arg = 0
            for j in 1..<k where z[j] > m { m = z[j]; arg = j }
            var s: Float = 0
            for j in 0..<k { let e = expf(z[j] - m); g[j] = e; s += e }
            let y = labels[r]
            precondition(y >= 0 && y < k, "label \(y) out of range")
            if arg == y { correct += 1 }
            loss += Double(logf(s)) - Double(z[y] - m)
            let scale = inv / s
            for j in 0..<k { g[j] *= scale }
            g[y] -= inv
        }
        return (loss / Double(n), correct)
    }

    /// Backward pass after `forward` and `crossEntropy`: accumulates into `parameters.grads`.
    func backward(_ x: UnsafePointer<Float>, n: Int, _ ws: Workspace) {
        let p = parameters
        fc2.backward(p, x: ws.feat.data, dy: ws.dLogits.data, dx: ws.dFeat.data, batch: n)
        SiLU.backward(x: ws.f.data, sigmoid: ws.fs.data, dy: ws.dFeat.data, dx: ws.dFeat.data, count: n * hidden)
        fc1.backward(p, x: ws.h3.data, dy: ws.dFeat.data, dx: ws.dh3.data, batch: n)
        SiLU.backward(x: ws.a3.data, sigmoid: ws.s3.data, dy: ws.dh3.data, dx: ws.dh3.data, count: n * conv3.outSize)
        conv3.backward(p, x: ws.h2.data, dy: ws.dh3.data, dx: ws.dh2.data, batch: n, col: ws.col3)
        SiLU.backward(x: ws.a2.data, sigmoid: ws.s2.data, dy: ws.dh2.data, dx: ws.dh2.data, count: n * conv2.outSize)
        conv2.backward(p, x: ws.h1.data, dy: ws.dh2.data, dx: ws.dh1.data, batch: n, col: ws.col2)
        SiLU.backward(x: ws.a1.data, sigmoid: ws.s1.data, dy: ws.dh1.data, dx: ws.dh1.data, count: n * conv1.outSize)
        conv1.backward(p, x: x, dy: ws.dh1.data, dx: nil, batch: n, col: ws.col1)
    }

    private func checkImages(_ images: [Float], _ count: Int) {
        precondition(count >= 0 && images.count >= count * Self.imageSize,
                     "\(images.count) values do not hold \(count) images of \(Self.imageSize)")
    }

    /// Mean cross-entropy of `count` images with `labels`, without touching the gradients.
    public func loss(images: [Float], labels: [Int], count: Int) -> Double {
        checkImages(images, count)
        precondition(labels.count >= count && count > 0)
        let ws = workspace(batch: count)
        images.withUnsafeBufferPointer { forward($0.baseAddress!, n: count, ws) }
        return labels.withUnsafeBufferPointer { crossEntropy($0.baseAddress!, n: count, ws).loss }
    }

    /// Mean cross-entropy of `count` images with `labels`; sets `parameters.grads` to its
    /// gradient (the gradient buffer is zeroed first).
    @discardableResult
    public func lossAndGradient(images: [Float], labels: [Int], count: Int) -> Double {
        checkImages(images, count)
        precondition(labels.count >= count && count > 0)
        let ws = workspace(batch: count)
        parameters.zeroGrads()
        return images.withUnsafeBufferPointer { x in
            forward(x.baseAddress!, n: count, ws)
            let l = labels.withUnsafeBufferPointer { crossEntropy($0.baseAddress!, n: count, ws).loss }
            backward(x.baseAddress!, n: count, ws)
            return l
        }
    }

    /// Runs the network over `count` images in chunks of `inferenceBatch` and hands each
    /// chunk's workspace (start index, size) to `body`.
    private func inference(_ images: [Float], _ count: Int, _ body: (Int, Int, Workspace) -> Void) {
        checkImages(images, count)
        guard count > 0 else { return }
        let chunk = max(1, inferenceBatch)
        let ws = workspace(batch: chunk)
        images.withUnsafeBufferPointer { buf in
            var start = 0
            while start < count {
                let n = min(chunk, count - start)
                forward(buf.baseAddress! + start * Self.imageSize, n: n, ws)
                body(start, n, ws)
                start += n
            }
        }
    }

    /// Class logits, `count` x 10 row-major.
    public func logits(images: [Float], count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count * Self.classes)
        out.withUnsafeMutableBufferPointer { o in
            inference(images, count) { start, n, ws in
                (o.baseAddress! + start * Self.classes).update(from: ws.logits.data, count: n * Self.classes)
            }
        }
        return out
    }

    /// The most likely class of each of `count` images.
    public func predict(images: [Float], count: Int) -> [Int] {
        var out = [Int](repeating: 0, count: count)
        inference(images, count) { start, n, ws in
            for r in 0..<n {
                let z = ws.logits.data + r * Self.classes
                var arg = 0
                for j in 1..<Self.classes where z[j] > z[arg] { arg = j }
                out[start + r] = arg
            }
        }
        return out
    }

    /// Penultimate-layer features (after the SiLU), `count` x `featureDimension` row-major.
    public func features(images: [Float], count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count * hidden)
        out.withUnsafeMutableBufferPointer { o in
            inference(images, count) { start, n, ws in
                (o.baseAddress! + start * hidden).update(from: ws.feat.data, count: n * hidden)
            }
        }
        return out
    }

    /// Penultimate features and predicted classes in one pass over the images.
    public func featuresAndPredictions(images: [Float], count: Int) -> (features: [Float], classes: [Int]) {
        var feats = [Float](repeating: 0, count: count * hidden)
        var classes = [Int](repeating: 0, count: count)
        feats.withUnsafeMutableBufferPointer { o in
            inference(images, count) { start, n, ws in
                (o.baseAddress! + start * hidden).update(from: ws.feat.data, count: n * hidden)
                for r in 0..<n {
                    let z = ws.logits.data + r * Self.classes
                    var arg = 0
                    for j in 1..<Self.classes where z[j] > z[arg] { arg = j }
                    classes[start + r] = arg
                }
            }
        }
        return (feats, classes)
    }

    /// Fraction of the labelled images of `dataset` classified correctly.
    public func accuracy(on dataset: ArrayDataset) throws -> Double {
        guard let labels = dataset.labels else { throw ImageEvaluationError("dataset \(dataset.name) has no labels") }
        guard dataset.dimension == Self.imageSize else {
            throw ImageEvaluationError("dataset \(dataset.name) has dimension \(dataset.dimension), need \(Self.imageSize)")
        }
        let predicted = predict(images: dataset.values, count: dataset.count)
        var correct = 0
        for i in 0..<dataset.count where predicted[i] == labels[i] { correct += 1 }
        return Double(correct) / Double(dataset.count)
    }

    /// Write the parameters and architecture to a safetensors checkpoint (metadata "kind":
    /// "classifier").
    public func save(to path: String) throws {
        var c = Checkpoint()
        c.add(group: "params", layout: parameters.layout, values: parameters.values)
        c.metadata = architectureMetadata
        try c.write(to: path)
    }

    /// The metadata that `load` needs to rebuild this architecture.
    var architectureMetadata: [String: String] {
        ["kind": CheckpointKind.classifier.rawValue, "channels": channels.map(String.init).joined(separator: ","),
         "hidden": String(hidden), "side": String(Self.side), "classes": String(Self.classes)]
    }

    /// Read a classifier written by `save`.
    public static func load(from path: String) throws -> ImageClassifier {
        let c = try Checkpoint.read(path)
        try CheckpointKind.classifier.check(c)
        let channels = try c.meta("channels").split(separator: ",").compactMap { Int($0) }
        let hidden = try c.metaInt("hidden")
        guard channels.count == 3, channels.allSatisfy({ $0 > 0 }), hidden > 0,
              try c.metaInt("side") == side, try c.metaInt("classes") == classes else {
            throw ImageEvaluationError("\(path): unsupported classifier architecture \(c.metadata)")
        }
        let model = ImageClassifier(channels: channels, hidden: hidden)
        try c.load(group: "params", layout: model.parameters.layout, into: model.parameters.values)
        return model
    }
}
