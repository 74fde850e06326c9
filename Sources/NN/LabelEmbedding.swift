/// Class conditioning of a network's embedding: a learned row per class and one for "no class"
/// (label `classes`), added to the embedding of each sample; a table lookup, the product with a
/// one-hot vector without the GEMM. Rows start uniform in [-1, 1], so classes start apart.
struct LabelEmbedding: Sendable {
    let classes: Int
    let width: Int
    /// Offset of the [classes + 1, width] table.
    let table: Int

    init(_ layout: inout ParameterLayout, _ name: String, classes: Int, width: Int) {
        self.classes = classes
        self.width = width
        table = layout.add(name, shape: [classes + 1, width], init: .uniform(1))
    }

    /// emb[b] += row(labels[b]) (nil or out of range: "no class"), recording in `used` the
    /// label each sample got, for the backward pass.
    func forward(_ p: Parameters, labels: UnsafePointer<Int32>?, into emb: UnsafeMutablePointer<Float>,
                 used: UnsafeMutablePointer<Int32>, batch: Int) {
        for b in 0..<batch {
            var label = Int(labels?[b] ?? Int32(classes))
            if label < 0 || label > classes { label = classes }
            used[b] = Int32(label)
            let row = p.values + table + label * width, e = emb + b * width
            for i in 0..<width { e[i] += row[i] }
        }
    }

    /// Accumulate dL/d(emb) of each sample into the gradient of the row it used.
    func backward(_ p: Parameters, used: UnsafePointer<Int32>, dEmb: UnsafePointer<Float>, batch: Int) {
        for b in 0..<batch {
            let row = p.grads + table + Int(used[b]) * width, g = dEmb + b * width
            for i in 0..<width { row[i] += g[i] }
        }
    }
}
