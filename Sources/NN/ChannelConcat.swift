/// Concatenation of two per-sample feature maps along channels (a U-Net's skip connection),
/// and its backward split.
enum ChannelConcat {
    /// out[s] = [a[s], b[s]] for per-sample sizes na and nb.
    static func forward(_ a: UnsafePointer<Float>, _ na: Int, _ b: UnsafePointer<Float>, _ nb: Int,
                        _ out: UnsafeMutablePointer<Float>, batch: Int) {
        for s in 0..<batch {
            (out + s * (na + nb)).update(from: a + s * na, count: na)
            (out + s * (na + nb) + na).update(from: b + s * nb, count: nb)
        }
    }

    /// Split the gradient g of a concatenation: the first part written to `da`, the second
    /// added to `db`.
    static func backward(_ g: UnsafePointer<Float>, _ na: Int, _ nb: Int, _ da: UnsafeMutablePointer<Float>,
                         addTo db: UnsafeMutablePointer<Float>, batch: Int) {
        for s in 0..<batch {
            (da + s * na).update(from: g + s * (na + nb), count: na)
            let src = g + s * (na + nb) + na, dst = db + s * nb
            for i in 0..<nb { dst[i] += src[i] }
        }
    }
}
