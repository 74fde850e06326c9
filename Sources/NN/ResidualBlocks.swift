/// Pre-norm residual block for vectors, conditioned on an embedding:
/// y = x + W2 silu(W1 silu(LN(x)) + U emb).
public struct ResidualMLPBlock: Sendable {
    public let width: Int
    public let embedding: Int
    public let norm: LayerNorm
    public let fc1: Linear
    public let fc2: Linear
    public let embProjection: Linear?

    public init(_ layout: inout ParameterLayout, _ name: String, width: Int, embedding: Int, outputScale: Float = 1) {
        self.width = width
        self.embedding = embedding
        (norm, fc1, fc2, embProjection) = layout.scope(name) { l in
            (LayerNorm(&l, "norm", features: width),
             Linear(&l, "fc1", in: width, out: width),
             Linear(&l, "fc2", in: width, out: width, scale: outputScale),
             embedding > 0 ? Linear(&l, "emb", in: embedding, out: width, bias: false) : nil)
        }
    }

    /// Activations kept for the backward pass.
    public final class Cache {
        let normed, act, pre, post, grad1, grad2: Tensor
        let norm: NormCache
        init(batch: Int, width: Int) {
            normed = Tensor(shape: [batch, width]); act = Tensor(shape: [batch, width])
            pre = Tensor(shape: [batch, width]); post = Tensor(shape: [batch, width])
            grad1 = Tensor(shape: [batch, width]); grad2 = Tensor(shape: [batch, width])
            norm = NormCache(groups: batch)
        }
    }

    public func makeCache(batch: Int) -> Cache { Cache(batch: batch, width: width) }

    public func forward(_ p: Parameters, _ x: UnsafePointer<Float>, emb: UnsafePointer<Float>?,
                        _ y: UnsafeMutablePointer<Float>, batch: Int, cache c: Cache) {
        let n = batch * width
        norm.forward(p, x, c.normed.data, batch: batch, cache: c.norm)
        SiLU.forward(c.normed.data, c.act.data, count: n)
        fc1.forward(p, c.act.data, c.pre.data, batch: batch)
        if let e = embProjection, let emb { e.forward(p, emb, c.pre.data, batch: batch, accumulate: true) }
        SiLU.forward(c.pre.data, c.post.data, count: n)
        fc2.forward(p, c.post.data, y, batch: batch)
        for i in 0..<n { y[i] += x[i] }
    }

    /// Backward; `dEmb` (if given) is accumulated into.
    public func backward(_ p: Parameters, x: UnsafePointer<Float>, emb: UnsafePointer<Float>?, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, dEmb: UnsafeMutablePointer<Float>?, batch: Int,
                         cache c: Cache, paramGrads: Bool = true) {
        let n = batch * width
        fc2.backward(p, x: c.post.data, dy: dy, dx: c.grad1.data, batch: batch, paramGrads: paramGrads)
        SiLU.backward(x: c.pre.data, dy: c.grad1.data, dx: c.grad1.data, count: n)
        if let e = embProjection, let emb {
            e.backward(p, x: emb, dy: c.grad1.data, dx: dEmb, batch: batch, paramGrads: paramGrads, accumulateInput: true)
        }
        fc1.backward(p, x: c.act.data, dy: c.grad1.data, dx: c.grad2.data, batch: batch, paramGrads: paramGrads)
        SiLU.backward(x: c.normed.data, dy: c.grad2.data, dx: c.grad2.data, count: n)
        guard let dx else {
            if paramGrads { norm.backward(p, x: x, dy: c.grad2.data, dx: nil, batch: batch, cache: c.norm) }
            return
        }
        norm.backward(p, x: x, dy: c.grad2.data, dx: dx, batch: batch, cache: c.norm, paramGrads: paramGrads)
        for i in 0..<n { dx[i] += dy[i] }
    }
}

/// Residual convolutional block of the U-Net, conditioned on an embedding:
/// y = skip(x) + conv2(silu(GN(conv1(silu(GN(x))) + U emb))), skip = identity or a 1x1 conv.
public struct ResidualConvBlock: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let height: Int
    public let width: Int
    public let norm1: GroupNorm
    public let conv1: Conv2D
    public let norm2: GroupNorm
    public let conv2: Conv2D
    public let embProjection: Linear?
    public let skip: Conv2D?
    /// Dropout rate before conv2 in training forward passes (those given a `DropoutKey`).
    public let dropout: Float

    public init(_ layout: inout ParameterLayout, _ name: String, in inChannels: Int, out outChannels: Int,
                height: Int, width: Int, embedding: Int, groups: Int, outputScale: Float = 1, dropout: Float = 0) {
        precondition(dropout >= 0 && dropout < 1, "dropout rate \(dropout) outside [0, 1)")
        self.dropout = dropout
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.height = height
        self.width = width
        let hw = height * width
        (norm1, conv1, norm2, conv2, embProjection, skip) = layout.scope(name) { l in
            (GroupNorm(&l, "norm1", channels: inChannels, groups: min(groups, inChannels), spatial: hw),
             Conv2D(&l, "conv1", in: inChannels, out: outChannels, height: height, width: width),
             GroupNorm(&l, "norm2", channels: outChannels, groups: min(groups, outChannels), spatial: hw),
             Conv2D(&l, "conv2", in: outChannels, out: outChannels, height: height, width: width, scale: outputScale),
             embedding > 0 ? Linear(&l, "emb", in: embedding, out: outChannels) : nil,
             inChannels != outChannels
                ? Conv2D(&l, "skip", in: inChannels, out: outChannels, kernel: 1, height: height, width: width) : nil)
        }
    }

    public var inSize: Int { inChannels * height * width }
    public var outSize: Int { outChannels * height * width }

    public final class Cache {
        let n1, a1, c1, n2, a2, g1, g2, embOut, dEmbOut: Tensor
        let norm1, norm2: NormCache
        let col: Tensor
        /// The dropout mask of the last forward pass (nil: the block has no dropout).
        let mask: Tensor?
        /// Set for training forward passes: masks are drawn from this key and `dropoutStream`.
        public var dropoutKey: DropoutKey?
        public var dropoutStream = 0
        /// Whether the last forward pass applied a mask.
        var masked = false
        init(_ blk: ResidualConvBlock, batch: Int, budget: Int) {
            mask = blk.dropout > 0 ? Tensor(shape: [batch, blk.outSize]) : nil
            n1 = Tensor(shape: [batch, blk.inSize]); a1 = Tensor(shape: [batch, blk.inSize])
            c1 = Tensor(shape: [batch, blk.outSize]); n2 = Tensor(shape: [batch, blk.outSize])
            a2 = Tensor(shape: [batch, blk.outSize])
            g1 = Tensor(shape: [batch, max(blk.inSize, blk.outSize)]); g2 = Tensor(shape: [batch, max(blk.inSize, blk.outSize)])
            embOut = Tensor(shape: [batch, blk.outChannels]); dEmbOut = Tensor(shape: [batch, blk.outChannels])
            norm1 = blk.norm1.makeCache(batch: batch); norm2 = blk.norm2.makeCache(batch: batch)
            col = Tensor(shape: [([blk.conv1, blk.conv2] + (blk.skip.map { [$0] } ?? [])).map { $0.scratchFloats(batch: batch, budget: budget) }.max()!])
        }
    }

    /// Caches for `batch` samples; convolution chunks within `budget` floats of scratch.
    public func makeCache(batch: Int, budget: Int = Conv2D.defaultScratchFloats) -> Cache {
        Cache(self, batch: batch, budget: budget)
    }

    public func forward(_ p: Parameters, _ x: UnsafePointer<Float>, emb: UnsafePointer<Float>?,
                        _ y: UnsafeMutablePointer<Float>, batch: Int, cache c: Cache) {
        let hw = height * width
        norm1.forward(p, x, c.n1.data, batch: batch, cache: c.norm1)
        SiLU.forward(c.n1.data, c.a1.data, count: batch * inSize)
        conv1.forward(p, c.a1.data, c.c1.data, batch: batch, col: c.col)
        if let e = embProjection, let emb {
            e.forward(p, emb, c.embOut.data, batch: batch)
            for b in 0..<batch {
                for ch in 0..<outChannels {
                    let v = c.embOut.data[b * outChannels + ch]
                    let r = c.c1.data + b * outSize + ch * hw
                    for i in 0..<hw { r[i] += v }
                }
            }
        }
        norm2.forward(p, c.c1.data, c.n2.data, batch: batch, cache: c.norm2)
        SiLU.forward(c.n2.data, c.a2.data, count: batch * outSize)
        c.masked = false
        if let mask = c.mask, let key = c.dropoutKey {
            Dropout.apply(c.a2.data, mask: mask.data, rate: dropout, key: key, stream: c.dropoutStream, batch: batch, size: outSize)
            c.masked = true
        }
        conv2.forward(p, c.a2.data, y, batch: batch, col: c.col)
        if let skip {
            skip.forward(p, x, c.g1.data, batch: batch, col: c.col)
            for i in 0..<(batch * outSize) { y[i] += c.g1.data[i] }
        } else {
            for i in 0..<(batch * outSize) { y[i] += x[i] }
        }
    }

    public func backward(_ p: Parameters, x: UnsafePointer<Float>, emb: UnsafePointer<Float>?, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, dEmb: UnsafeMutablePointer<Float>?, batch: Int,
                         cache c: Cache, paramGrads: Bool = true) {
        let hw = height * width
        conv2.backward(p, x: c.a2.data, dy: dy, dx: c.g1.data, batch: batch, col: c.col, paramGrads: paramGrads)
        if c.masked, let mask = c.mask { Dropout.backward(c.g1.data, mask: mask.data, count: batch * outSize) }
        SiLU.backward(x: c.n2.data, dy: c.g1.data, dx: c.g1.data, count: batch * outSize)
        norm2.backward(p, x: c.c1.data, dy: c.g1.data, dx: c.g2.data, batch: batch, cache: c.norm2, paramGrads: paramGrads)
        // c.g2 now holds d(conv1 output + emb).
        if let e = embProjection, let emb {
            for b in 0..<batch {
                for ch in 0..<outChannels {
                    var s: Float = 0
                    let r = c.g2.data + b * outSize + ch * hw
                    for i in 0..<hw { s += r[i] }
                    c.dEmbOut.data[b * outChannels + ch] = s
                }
            }
            e.backward(p, x: emb, dy: c.dEmbOut.data, dx: dEmb, batch: batch, paramGrads: paramGrads,
                       accumulateInput: true)
        }
        conv1.backward(p, x: c.a1.data, dy: c.g2.data, dx: c.g1.data, batch: batch, col: c.col, paramGrads: paramGrads)
        SiLU.backward(x: c.n1.data, dy: c.g1.data, dx: c.g1.data, count: batch * inSize)
        norm1.backward(p, x: x, dy: c.g1.data, dx: dx, batch: batch, cache: c.norm1, paramGrads: paramGrads)
        guard let dx else {
            if let skip, paramGrads { skip.backward(p, x: x, dy: dy, dx: nil, batch: batch, col: c.col) }
            return
        }
        if let skip {
            skip.backward(p, x: x, dy: dy, dx: dx, batch: batch, col: c.col, paramGrads: paramGrads, accumulateInput: true)
        } else {
            for i in 0..<(batch * inSize) { dx[i] += dy[i] }
        }
    }
}
