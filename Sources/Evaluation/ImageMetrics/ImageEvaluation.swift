import Diffusion

/// Sample-quality metrics of generated 28x28 images against a labelled reference set, all in
/// the feature space of an `ImageClassifier`.
public enum ImageEvaluation {
    /// Evaluates `count` generated images (pixels in [-1, 1], row-major) against the first
    /// `maxReference` images of `reference` (usually the test split). Keys:
    /// - `fd`: Frechet distance between the classifier's penultimate features;
    /// - `precision`, `recall`: k-NN precision and recall (k = `k`) on the same features;
    /// - `class_tv`: total variation between the histograms of the classes the classifier
    ///   predicts for the samples and for the reference images (predictions on both sides, so a
    ///   perfect generator scores about 0 whatever the classifier's errors);
    /// - `count`, `reference_count`: the set sizes;
    /// - with `requested` (the class each sample was generated for): `conditional_accuracy`,
    ///   the fraction of samples the classifier assigns to their requested class.
    public static func evaluate(samples: [Float], count: Int, classifier: ImageClassifier, reference: ArrayDataset,
                                maxReference: Int = 10000, k: Int = 3, requested: [Int32]? = nil) throws -> [String: Double] {
        let d = ImageClassifier.imageSize
        guard reference.dimension == d else {
            throw ImageEvaluationError("reference \(reference.name) has dimension \(reference.dimension), need \(d)")
        }
        guard count > k, samples.count >= count * d else {
            throw ImageEvaluationError("need more than \(k) samples of \(d) values (got \(samples.count) values for \(count))")
        }
        let m = min(maxReference, reference.count)
        guard m > k else { throw ImageEvaluationError("need more than \(k) reference images") }
        let refImages = Array(reference.values[0..<(m * d)])
        let fd = classifier.featureDimension
        let (fakeFeatures, fakeClasses) = classifier.featuresAndPredictions(images: samples, count: count)
        let (realFeatures, realClasses) = classifier.featuresAndPredictions(images: refImages, count: m)
        let frechet = try FrechetDistance.compute(a: realFeatures, countA: m, b: fakeFeatures, countB: count, dimension: fd)
        let pr = PrecisionRecall.compute(real: realFeatures, realCount: m, fake: fakeFeatures, fakeCount: count,
                                         dimension: fd, k: k)
        let tv = classTV(predicted: fakeClasses, reference: realClasses, classes: ImageClassifier.classes)
        var result = ["fd": frechet, "precision": pr.precision, "recall": pr.recall, "class_tv": tv,
                      "count": Double(count), "reference_count": Double(m)]
        if let requested {
            guard requested.count == count else { throw ImageEvaluationError("\(requested.count) requested classes for \(count) samples") }
            result["conditional_accuracy"] = conditionalAccuracy(predicted: fakeClasses, requested: requested)
        }
        return result
    }

    /// The fraction of samples whose predicted class is the class they were generated for.
    public static func conditionalAccuracy(predicted: [Int], requested: [Int32]) -> Double {
        precondition(predicted.count == requested.count && !predicted.isEmpty)
        return Double(zip(predicted, requested).filter { $0 == Int($1) }.count) / Double(predicted.count)
    }
}
