import Foundation
import Training
import FileFormats
import CounterRNG

/// Training examples addressed by global position: position p of step s is the p-th sample of
/// that step's global batch, so every rank count sees the same global batches.
public protocol TrainingData: AnyObject {
    var dimension: Int { get }
    /// Per-coordinate standard deviation of the data (EDM's sigma_data).
    var dataStd: Float { get }
    /// Write the sample for (step, position in the global batch of size `batch`) into `out`.
    func fill(step: Int, position: Int, batch: Int, seed: UInt64, into out: UnsafeMutablePointer<Float>)
    /// Number of class labels (0: unlabelled data).
    var classes: Int { get }
    /// The class label of the sample `fill` writes for the same arguments (labelled data only).
    func label(step: Int, position: Int, batch: Int, seed: UInt64) -> Int
}

extension TrainingData {
    public var classes: Int { 0 }
    public func label(step: Int, position: Int, batch: Int, seed: UInt64) -> Int { 0 }
}

/// Endless samples from a Gaussian mixture.
public final class MixtureData: TrainingData {
    public let mixture: GaussianMixture
    public init(_ mixture: GaussianMixture) { self.mixture = mixture }
    public var dimension: Int { mixture.dimension }
    public var dataStd: Float { mixture.dataStd }
    public func fill(step: Int, position: Int, batch: Int, seed: UInt64, into out: UnsafeMutablePointer<Float>) {
        mixture.sample(DrawKey(seed: seed, step: step, purpose: .dataSample, index: position), into: out)
    }
}

/// A finite dataset of vectors (images flattened, pixels in [-1, 1]) with optional labels,
/// visited in epochs shuffled by seed.
public final class ArrayDataset: TrainingData {
    public let name: String
    public let count: Int
    public let dimension: Int
    /// Image side for square single-channel images, else nil.
    public let imageSide: Int?
    public let values: [Float]
    public let labels: [Int]?
    /// One more than the largest label (0 without labels).
    public let classes: Int
    public let dataStd: Float
    private var cachedEpoch = -1
    private var cachedPermutation: [Int] = []
    private var cachedSeed: UInt64 = 0

    public init(name: String, count: Int, dimension: Int, values: [Float], labels: [Int]?, imageSide: Int?) throws {
        let (total, overflow) = count.multipliedReportingOverflow(by: dimension)
        guard count > 0, dimension > 0, !overflow, values.count == total else {
            throw ConfigError("dataset \(name): \(values.count) values do not make \(count) samples of \(dimension)")
        }
        if let labels, labels.count != count {
            throw ConfigError("dataset \(name): \(labels.count) labels for \(count) samples")
        }
        self.name = name
        self.count = count
        self.dimension = dimension
        self.values = values
        self.labels = labels
        classes = labels.map { ($0.max() ?? -1) + 1 } ?? 0
        self.imageSide = imageSide
        var mean = 0.0, sq = 0.0
        for v in values { mean += Double(v); sq += Double(v) * Double(v) }
        mean /= Double(values.count)
        dataStd = Float((sq / Double(values.count) - mean * mean).squareRoot())
        try Self.validateStatistics(name: name, dimension: dimension, values: values, dataStd: dataStd)
    }

    /// Refuse data that would make training meaningless or blow up later with a misleading
    /// message: a non-finite value (NaN, infinity, or a number such as 1e39 that does not fit a
    /// Float), all values equal (zero variance), or a data standard deviation (EDM's sigma_data)
    /// that is not a finite positive number. The error names the dataset and the problem.
    static func validateStatistics(name: String, dimension: Int, values: [Float], dataStd: Float) throws {
        var nonFinite = 0, first = -1
        var lo = Float.infinity, hi = -Float.infinity
        for (i, v) in values.enumerated() {
            if v.isFinite {
                lo = min(lo, v); hi = max(hi, v)
            } else {
                if first < 0 { first = i }
                nonFinite += 1
            }
        }
        if nonFinite > 0 {
            throw ConfigError("dataset \(name): \(nonFinite) non-finite value(s) (NaN, infinity, or beyond Float's range " +
                              "of about 3.4e38); the first is sample \(first / dimension + 1), coordinate \(first % dimension + 1): " +
                              "\(values[first])")
        }
        guard hi > lo else {
            throw ConfigError("dataset \(name): every value equals \(lo) (zero variance); the data standard deviation " +
                              "sigma_data must be positive")
        }
        guard dataStd.isFinite, dataStd > 0 else {
            throw ConfigError("dataset \(name): the data standard deviation sigma_data is \(dataStd) (values from \(lo) " +
                              "to \(hi)); it must be finite and positive")
        }
    }


    public func label(step: Int, position: Int, batch: Int, seed: UInt64) -> Int {
        labels?[index(step: step, position: position, batch: batch, seed: seed)] ?? 0
    }

    public func fill(step: Int, position: Int, batch: Int, seed: UInt64, into out: UnsafeMutablePointer<Float>) {
        let i = index(step: step, position: position, batch: batch, seed: seed)
        values.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + i * dimension, count: dimension) }
    }

    /// The dataset index at a global stream position.
    public func index(step: Int, position: Int, batch: Int, seed: UInt64) -> Int {
        let p = step * batch + position
        let epoch = p / count
        if epoch != cachedEpoch || seed != cachedSeed {
            cachedPermutation = permutation(count, key: DrawKey(seed: seed, step: epoch, purpose: .shuffle, index: 0))
            cachedEpoch = epoch
            cachedSeed = seed
        }
        return cachedPermutation[p % count]
    }

    /// Where Debian's dataset-fashion-mnist puts Fashion-MNIST (the CLI sets it from
    /// `EMD_FASHION_MNIST_DIR`).
    nonisolated(unsafe) public static var fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// Load a dataset by specification: "fashion-mnist" (train split), "fashion-mnist-test",
    /// "idx:IMAGES[,LABELS]" or "csv:PATH" (one sample per row).
    public static func load(_ spec: String) throws -> ArrayDataset {
        let fmnist = fashionMNISTDirectory
        if spec == "fashion-mnist" || spec == "fashion-mnist-test" {
            let split = spec == "fashion-mnist" ? "train" : "t10k"
            let images = "\(fmnist)/\(split)-images-idx3-ubyte.gz", labels = "\(fmnist)/\(split)-labels-idx1-ubyte.gz"
            guard FileManager.default.fileExists(atPath: images) else {
                throw ConfigError("Fashion-MNIST not found at \(images): install Debian's dataset-fashion-mnist (launch/setup.sh does)")
            }
            return try idx(images: images, labels: labels, name: spec)
        }
        if spec.hasPrefix("idx:") {
            let parts = spec.dropFirst(4).split(separator: ",").map(String.init)
            guard parts.count == 1 || parts.count == 2 else { throw ConfigError("bad dataset spec \(spec): idx:IMAGES[,LABELS]") }
            return try idx(images: parts[0], labels: parts.count == 2 ? parts[1] : nil, name: spec)
        }
        if spec.hasPrefix("csv:") {
            let path = String(spec.dropFirst(4))
            let m = try CSV.readMatrix(path: path)
            return try ArrayDataset(name: spec, count: m.rows, dimension: m.cols, values: m.values, labels: nil, imageSide: nil)
        }
        throw ConfigError("unknown dataset '\(spec)' (mixture, fashion-mnist, idx:IMAGES[,LABELS], csv:PATH)")
    }

    /// Read IDX images (uint8, N x H x W, scaled to [-1, 1]) and optional labels.
    public static func idx(images: String, labels: String?, name: String) throws -> ArrayDataset {
        let im = try IDX.read(path: images)
        guard im.dims.count >= 2 else { throw FileFormatError(path: images, "expected N x ... images, got dims \(im.dims)") }
        guard im.dataType == IDX.unsignedByte else { throw FileFormatError(path: images, "expected unsigned byte pixels") }
        let n = im.dims[0], d = im.dims.dropFirst().reduce(1, *)
        let values = im.bytes.map { Float($0) / 127.5 - 1 }
        var labelValues: [Int]? = nil
        if let labels {
            // A labels file that was named must exist: ignoring it would train or evaluate
            // without labels and say nothing (IDX.read names the path and errno).
            let lb = try IDX.read(path: labels)
            guard lb.dataType == IDX.unsignedByte else { throw FileFormatError(path: labels, "expected unsigned byte labels") }
            guard lb.dims == [n] else { throw FileFormatError(path: labels, "labels dims \(lb.dims) do not match \(n) images") }
            labelValues = lb.bytes.map(Int.init)
        }
        let side = im.dims.count == 3 && im.dims[1] == im.dims[2] ? im.dims[1] : nil
        return try ArrayDataset(name: name, count: n, dimension: d, values: values, labels: labelValues, imageSide: side)
    }
}
