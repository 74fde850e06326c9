/// A small convolutional U-Net for single-channel square images (side divisible by 4), three
/// resolutions (side, side/2, side/4), residual blocks with GroupNorm (4 channels per group) and
/// SiLU, conditioned on Fourier features of c through a learned embedding and, when `classes`
/// > 0, on a class label: a learned row per class (and one for "no class"; uniform in
/// [-1, 1] at initialisation, so the classes start apart, as EDM scales its label map) added to that
/// embedding before its SiLU, as EDM's and ADM's networks add their label embedding.
/// Input and output: [batch, side*side].
public struct UNetNetwork: ConditionalNetwork {
    public let side: Int
    public let channels: Int
    public let embeddingSize: Int
    public let classes: Int
    public let layout: ParameterLayout
    /// Scratch budget (floats) of each convolution's chunk of samples (`Conv2D`); the scratch
    /// per convolution is at least one sample's, so 0 gives the per-sample convolution.
    public var convScratchFloats = Conv2D.defaultScratchFloats
    public var inputSize: Int { side * side }
    public var outputSize: Int { side * side }

    let fourier: FourierEmbedding
    let embed: Linear
    /// The class conditioning (classes > 0).
    let labelEmbedding: LabelEmbedding?
    let stem: Conv2D
    let down1: ResidualConvBlock
    let pool1: Conv2D
    let down2: ResidualConvBlock
    let pool2: Conv2D
    let mid: ResidualConvBlock
    let up2: Upsample2x
    let dec2: ResidualConvBlock
    let up1: Upsample2x
    let dec1: ResidualConvBlock
    let outNorm: GroupNorm
    let outConv: Conv2D

    public init(side: Int, channels c: Int, embedding: Int, classes: Int = 0) {
        precondition(side % 4 == 0, "U-Net side must be divisible by 4")
        precondition(classes >= 0, "classes must be >= 0")
        self.side = side
        self.channels = c
        self.embeddingSize = embedding
        self.classes = classes
        let s1 = side, s2 = side / 2, s3 = side / 4, ce = 2 * c, g = max(1, c / 4)
        var l = ParameterLayout()
        fourier = FourierEmbedding(dimension: embedding)
        embed = Linear(&l, "embed", in: embedding, out: ce)
        labelEmbedding = classes > 0 ? LabelEmbedding(&l, "label_embed", classes: classes, width: ce) : nil
        stem = Conv2D(&l, "stem", in: 1, out: c, height: s1, width: s1)
        down1 = ResidualConvBlock(&l, "down1", in: c, out: c, height: s1, width: s1, embedding: ce, groups: g)
        pool1 = Conv2D(&l, "pool1", in: c, out: 2 * c, stride: 2, height: s1, width: s1)
        down2 = ResidualConvBlock(&l, "down2", in: 2 * c, out: 2 * c, height: s2, width: s2, embedding: ce, groups: g)
        pool2 = Conv2D(&l, "pool2", in: 2 * c, out: 2 * c, stride: 2, height: s2, width: s2)
        mid = ResidualConvBlock(&l, "mid", in: 2 * c, out: 2 * c, height: s3, width: s3, embedding: ce, groups: g)
        up2 = Upsample2x(channels: 2 * c, height: s3, width: s3)
        dec2 = ResidualConvBlock(&l, "dec2", in: 4 * c, out: 2 * c, height: s2, width: s2, embedding: ce, groups: g)
        up1 = Upsample2x(channels: 2 * c, height: s2, width: s2)
        dec1 = ResidualConvBlock(&l, "dec1", in: 3 * c, out: c, height: s1, width: s1, embedding: ce, groups: g)
        outNorm = GroupNorm(&l, "out_norm", channels: c, groups: g, spatial: s1 * s1)
        outConv = Conv2D(&l, "out_conv", in: c, out: 1, height: s1, width: s1, scale: 0.1)
        layout = l
    }

    public var macsPerSample: Int {
        let blocks = [down1, down2, mid, dec2, dec1].reduce(0) {
            $0 + $1.conv1.macsPerSample + $1.conv2.macsPerSample + ($1.skip?.macsPerSample ?? 0)
        }
        return blocks + stem.macsPerSample + pool1.macsPerSample + pool2.macsPerSample + outConv.macsPerSample
            + embed.macsPerSample
    }

    final class Workspace {
        let batch: Int
        let input, fourierOut, embPre, emb, dEmb: Tensor
        /// The labels of the last forward pass (`classes` for "no class").
        let labels: UnsafeMutablePointer<Int32>
        let h0, h1, p1, h2, p2, h3, u2, cat2, h4, u1, cat1, h5, n5, a5: Tensor
        let g0, g1, gBig, gSkip2, gSkip1: Tensor
        let col: Tensor
        let cDown1, cDown2, cMid, cDec2, cDec1: ResidualConvBlock.Cache
        let outNormCache: NormCache

        deinit { labels.deallocate() }

        init(_ u: UNetNetwork, batch: Int) {
            self.batch = batch
            let c = u.channels, a1 = u.side * u.side, a2 = a1 / 4, a3 = a1 / 16, ce = 2 * c
            func t(_ n: Int) -> Tensor { Tensor(shape: [batch, n]) }
            labels = .allocate(capacity: max(batch, 1))
            input = t(a1); fourierOut = t(u.embeddingSize); embPre = t(ce); emb = t(ce); dEmb = t(ce)
            h0 = t(c * a1); h1 = t(c * a1); p1 = t(2 * c * a2); h2 = t(2 * c * a2); p2 = t(2 * c * a3)
            h3 = t(2 * c * a3); u2 = t(2 * c * a2); cat2 = t(4 * c * a2); h4 = t(2 * c * a2)
            u1 = t(2 * c * a1); cat1 = t(3 * c * a1); h5 = t(c * a1); n5 = t(c * a1); a5 = t(c * a1)
            g0 = t(3 * c * a1); g1 = t(3 * c * a1); gBig = t(3 * c * a1); gSkip2 = t(2 * c * a2); gSkip1 = t(c * a1)
            let budget = u.convScratchFloats
            col = Tensor(shape: [[u.stem, u.pool1, u.pool2, u.outConv].map { $0.scratchFloats(batch: batch, budget: budget) }.max()!])
            cDown1 = u.down1.makeCache(batch: batch, budget: budget); cDown2 = u.down2.makeCache(batch: batch, budget: budget)
            cMid = u.mid.makeCache(batch: batch, budget: budget); cDec2 = u.dec2.makeCache(batch: batch, budget: budget)
            cDec1 = u.dec1.makeCache(batch: batch, budget: budget)
            outNormCache = u.outNorm.makeCache(batch: batch)
        }
    }

    public func makeWorkspace(batch: Int) -> AnyObject { Workspace(self, batch: batch) }

    public func forward(_ p: Parameters, x: UnsafePointer<Float>, c: UnsafePointer<Float>, labels: UnsafePointer<Int32>?,
                        out: UnsafeMutablePointer<Float>, batch: Int, workspace: AnyObject) {
        let w = unsafeDowncast(workspace, to: Workspace.self)
        precondition(batch <= w.batch, "batch \(batch) exceeds workspace size \(w.batch)")
        let ch = channels, a1 = side * side, a2 = a1 / 4
        w.input.data.update(from: x, count: batch * a1)
        fourier.forward(c, w.fourierOut.data, batch: batch)
        embed.forward(p, w.fourierOut.data, w.embPre.data, batch: batch)
        labelEmbedding?.forward(p, labels: labels, into: w.embPre.data, used: w.labels, batch: batch)
        SiLU.forward(w.embPre.data, w.emb.data, count: batch * 2 * ch)
        let e = UnsafePointer(w.emb.data)
        stem.forward(p, w.input.data, w.h0.data, batch: batch, col: w.col)
        down1.forward(p, w.h0.data, emb: e, w.h1.data, batch: batch, cache: w.cDown1)
        pool1.forward(p, w.h1.data, w.p1.data, batch: batch, col: w.col)
        down2.forward(p, w.p1.data, emb: e, w.h2.data, batch: batch, cache: w.cDown2)
        pool2.forward(p, w.h2.data, w.p2.data, batch: batch, col: w.col)
        mid.forward(p, w.p2.data, emb: e, w.h3.data, batch: batch, cache: w.cMid)
        up2.forward(w.h3.data, w.u2.data, batch: batch)
        ChannelConcat.forward(w.u2.data, 2 * ch * a2, w.h2.data, 2 * ch * a2, w.cat2.data, batch: batch)
        dec2.forward(p, w.cat2.data, emb: e, w.h4.data, batch: batch, cache: w.cDec2)
        up1.forward(w.h4.data, w.u1.data, batch: batch)
        ChannelConcat.forward(w.u1.data, 2 * ch * a1, w.h1.data, ch * a1, w.cat1.data, batch: batch)
        dec1.forward(p, w.cat1.data, emb: e, w.h5.data, batch: batch, cache: w.cDec1)
        outNorm.forward(p, w.h5.data, w.n5.data, batch: batch, cache: w.outNormCache)
        SiLU.forward(w.n5.data, w.a5.data, count: batch * ch * a1)
        outConv.forward(p, w.a5.data, out, batch: batch, col: w.col)
    }

    public func backward(_ p: Parameters, dOut: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, batch: Int,
                         workspace: AnyObject, paramGrads: Bool) {
        let w = unsafeDowncast(workspace, to: Workspace.self)
        let ch = channels, a1 = side * side, a2 = a1 / 4
        let e = UnsafePointer(w.emb.data)
        let dE = w.dEmb.data
        dE.update(repeating: 0, count: batch * 2 * ch)
        let g0 = w.g0.data, g1 = w.g1.data, big = w.gBig.data
        outConv.backward(p, x: w.a5.data, dy: dOut, dx: g0, batch: batch, col: w.col, paramGrads: paramGrads)
        SiLU.backward(x: w.n5.data, dy: g0, dx: g0, count: batch * ch * a1)
        outNorm.backward(p, x: w.h5.data, dy: g0, dx: g1, batch: batch, cache: w.outNormCache, paramGrads: paramGrads)
        // dec1: input cat1 = [u1 (2c), h1 (c)]
        dec1.backward(p, x: w.cat1.data, emb: e, dy: g1, dx: big, dEmb: dE, batch: batch, cache: w.cDec1,
                      paramGrads: paramGrads)
        w.gSkip1.zero()
        ChannelConcat.backward(big, 2 * ch * a1, ch * a1, g0, addTo: w.gSkip1.data, batch: batch)
        up1.backward(dy: g0, dx: g1, batch: batch)  // g1 = d h4
        dec2.backward(p, x: w.cat2.data, emb: e, dy: g1, dx: big, dEmb: dE, batch: batch, cache: w.cDec2,
                      paramGrads: paramGrads)
        w.gSkip2.zero()
        ChannelConcat.backward(big, 2 * ch * a2, 2 * ch * a2, g0, addTo: w.gSkip2.data, batch: batch)
        up2.backward(dy: g0, dx: g1, batch: batch)  // g1 = d h3
        mid.backward(p, x: w.p2.data, emb: e, dy: g1, dx: g0, dEmb: dE, batch: batch, cache: w.cMid,
                     paramGrads: paramGrads)
        pool2.backward(p, x: w.h2.data, dy: g0, dx: w.gSkip2.data, batch: batch, col: w.col, paramGrads: paramGrads,
                       accumulateInput: true)
        down2.backward(p, x: w.p1.data, emb: e, dy: w.gSkip2.data, dx: g0, dEmb: dE, batch: batch, cache: w.cDown2,
                       paramGrads: paramGrads)
        pool1.backward(p, x: w.h1.data, dy: g0, dx: w.gSkip1.data, batch: batch, col: w.col, paramGrads: paramGrads,
                       accumulateInput: true)
        down1.backward(p, x: w.h0.data, emb: e, dy: w.gSkip1.data, dx: g0, dEmb: dE, batch: batch, cache: w.cDown1,
                       paramGrads: paramGrads)
        stem.backward(p, x: w.input.data, dy: g0, dx: dx, batch: batch, col: w.col, paramGrads: paramGrads)
        if paramGrads {
            SiLU.backward(x: w.embPre.data, dy: dE, dx: dE, count: batch * 2 * ch)
            embed.backward(p, x: w.fourierOut.data, dy: dE, dx: nil, batch: batch)
            labelEmbedding?.backward(p, used: w.labels, dEmb: dE, batch: batch)
        }
    }
}
