/// Normalised histogram of class indices in 0..<classes.
public func classHistogram(_ labels: [Int], classes: Int) -> [Double] {
    precondition(classes > 0 && !labels.isEmpty, "need a non-empty label list and at least one class")
    var h = [Double](repeating: 0, count: classes)
    for y in labels {
        precondition(y >= 0 && y < classes, "class \(y) outside 0..<\(classes)")
        h[y] += 1
    }
    let n = Double(labels.count)
    return h.map { $0 / n }
}

/// Total variation distance 0.5 * sum_c |p_c - q_c| between the class histograms of
/// `predicted` and `reference` (0: same class frequencies, 1: disjoint classes).
public func classTV(predicted: [Int], reference: [Int], classes: Int = 10) -> Double {
    let p = classHistogram(predicted, classes: classes), q = classHistogram(reference, classes: classes)
    var s = 0.0
    for c in 0..<classes { s += abs(p[c] - q[c]) }
    return 0.5 * s
}
