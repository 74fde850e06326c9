/// An EDM-style U-Net, in the spirit of EDM's DDPM++ and ADM networks (written here):
/// `multipliers.count` resolutions with `channels * multipliers[l]` channels at level l,
/// `blocks` residual blocks per level on the way down and `blocks + 1` on the way up, a skip
/// connection from every encoder stage (stem, blocks, downsamplers) to a decoder block,
/// self-attention after the blocks of the levels in `attentionLevels` and in the middle (block,
/// attention, block), nearest-neighbour upsampling followed by a 3x3 convolution, strided 3x3
/// convolutions to downsample. Conditioned on Fourier features of c and, with `classes` > 0, a
/// class label (as `UNetNetwork`). Images of `imageChannels` channels, side divisible by
/// 2^(levels - 1). Input and output: [batch, imageChannels * side * side].
public struct EDMUNetNetwork: ConditionalNetwork {
    public let side: Int
    public let imageChannels: Int
    public let channels: Int
    public let multipliers: [Int]
    public let blocks: Int
    public let attentionLevels: Set<Int>
    public let embeddingSize: Int
    public let classes: Int
    /// Dropout rate in every residual block (training forward passes only).
    public let dropout: Float
    public let layout: ParameterLayout
    public var inputSize: Int { imageChannels * side * side }
    public var outputSize: Int { inputSize }

    enum Stage: Sendable {
        case block(ResidualConvBlock, SpatialAttention?)
        case down(Conv2D)
        /// A decoder block: its input is the previous output concatenated with encoder output `skip`.
        case upBlock(ResidualConvBlock, SpatialAttention?, skip: Int)
        case up(Upsample2x, Conv2D)
    }

    let fourier: FourierEmbedding
    let embed: Linear
    let labelEmbedding: LabelEmbedding?
    let stem: Conv2D
    let encoder: [Stage]
    let mid1: ResidualConvBlock
    let midAttention: SpatialAttention
    let mid2: ResidualConvBlock
    let decoder: [Stage]
    let outNorm: GroupNorm
    let outConv: Conv2D
    /// Per-sample sizes of the encoder outputs (stem first).
    let encoderSizes: [Int]

    var embWidth: Int { 4 * channels }

    public init(side: Int, imageChannels: Int = 1, channels c: Int, multipliers: [Int] = [1, 2, 2], blocks: Int = 2,
                attentionLevels: Set<Int> = [2], embedding: Int = 64, classes: Int = 0, dropout: Float = 0) {
        let levels = multipliers.count
        precondition(levels >= 1 && multipliers.allSatisfy { $0 >= 1 } && blocks >= 1 && c >= 1 && imageChannels >= 1)
        precondition(side % (1 << (levels - 1)) == 0, "side \(side) not divisible by 2^\(levels - 1)")
        precondition(attentionLevels.allSatisfy { (0..<levels).contains($0) }, "attention levels out of range")
        self.side = side
        self.imageChannels = imageChannels
        self.channels = c
        self.multipliers = multipliers
        self.blocks = blocks
        self.attentionLevels = attentionLevels
        self.embeddingSize = embedding
        self.classes = classes
        self.dropout = dropout
        let g = max(1, c / 4), ce = 4 * c
        func heads(_ ch: Int) -> Int { ch % 32 == 0 ? ch / 32 : 1 }
        var l = ParameterLayout()
        fourier = FourierEmbedding(dimension: embedding)
        embed = Linear(&l, "embed", in: embedding, out: ce)
        labelEmbedding = classes > 0 ? LabelEmbedding(&l, "label_embed", classes: classes, width: ce) : nil
        var ch = c * multipliers[0], s = side
        stem = Conv2D(&l, "stem", in: imageChannels, out: ch, height: s, width: s)
        var skips: [(channels: Int, side: Int)] = [(ch, s)]
        var enc: [Stage] = []
        for level in 0..<levels {
            let out = c * multipliers[level]
            for b in 0..<blocks {
                let blk = ResidualConvBlock(&l, "enc\(level).block\(b)", in: ch, out: out, height: s, width: s, embedding: ce, groups: g,
                                            dropout: dropout)
                let att = attentionLevels.contains(level)
                    ? SpatialAttention(&l, "enc\(level).attn\(b)", channels: out, heads: heads(out), height: s, width: s, groups: g) : nil
                enc.append(.block(blk, att))
                ch = out
                skips.append((ch, s))
            }
            if level < levels - 1 {
                enc.append(.down(Conv2D(&l, "enc\(level).down", in: ch, out: ch, stride: 2, height: s, width: s)))
                s /= 2
                skips.append((ch, s))
            }
        }
        encoder = enc
        encoderSizes = skips.map { $0.channels * $0.side * $0.side }
        mid1 = ResidualConvBlock(&l, "mid.block0", in: ch, out: ch, height: s, width: s, embedding: ce, groups: g, dropout: dropout)
        midAttention = SpatialAttention(&l, "mid.attn", channels: ch, heads: heads(ch), height: s, width: s, groups: g)
        mid2 = ResidualConvBlock(&l, "mid.block1", in: ch, out: ch, height: s, width: s, embedding: ce, groups: g, dropout: dropout)
        var dec: [Stage] = []
        var skipIndex = skips.count - 1
        for level in (0..<levels).reversed() {
            let out = c * multipliers[level]
            for b in 0...blocks {
                let skip = skips[skipIndex]
                precondition(skip.side == s)
                let blk = ResidualConvBlock(&l, "dec\(level).block\(b)", in: ch + skip.channels, out: out, height: s, width: s,
                                            embedding: ce, groups: g, dropout: dropout)
                let att = attentionLevels.contains(level)
                    ? SpatialAttention(&l, "dec\(level).attn\(b)", channels: out, heads: heads(out), height: s, width: s, groups: g) : nil
                dec.append(.upBlock(blk, att, skip: skipIndex))
                skipIndex -= 1
                ch = out
            }
            if level > 0 {
                dec.append(.up(Upsample2x(channels: ch, height: s, width: s),
                               Conv2D(&l, "dec\(level).up", in: ch, out: ch, height: 2 * s, width: 2 * s)))
                s *= 2
            }
        }
        precondition(skipIndex == -1, "every encoder output feeds one decoder block")
        decoder = dec
        outNorm = GroupNorm(&l, "out_norm", channels: ch, groups: g, spatial: side * side)
        outConv = Conv2D(&l, "out_conv", in: ch, out: imageChannels, height: side, width: side, scale: 0.1)
        layout = l
    }

    public var macsPerSample: Int {
        func stage(_ st: Stage) -> Int {
            switch st {
            case .block(let b, let a), .upBlock(let b, let a, _):
                return b.conv1.macsPerSample + b.conv2.macsPerSample + (b.skip?.macsPerSample ?? 0) + (a?.macsPerSample ?? 0)
            case .down(let conv), .up(_, let conv): return conv.macsPerSample
            }
        }
        return (encoder + decoder).reduce(0) { $0 + stage($1) } + stem.macsPerSample + outConv.macsPerSample
            + mid1.conv1.macsPerSample + mid1.conv2.macsPerSample + mid2.conv1.macsPerSample + mid2.conv2.macsPerSample
            + midAttention.macsPerSample + embed.macsPerSample
    }

    /// Per-sample output size of a stage.
    func outSize(_ st: Stage) -> Int {
        switch st {
        case .block(let b, _), .upBlock(let b, _, _): return b.outSize
        case .down(let conv), .up(_, let conv): return conv.outSize
        }
    }

    final class Workspace {
        let batch: Int
        let input, fourierOut, embPre, emb, dEmb: Tensor
        let labels: UnsafeMutablePointer<Int32>
        /// Encoder outputs (stem first) and, for blocks with attention, the block's own output.
        let enc: [Tensor]
        let encBlockOut: [Tensor?]
        let mid1Out, midAttOut, midOut: Tensor
        /// Decoder: each stage's input (a concatenation, or the upsampled map), the block's own
        /// output before attention, and the stage's output.
        let decIn: [Tensor]
        let decBlockOut: [Tensor?]
        let decOut: [Tensor]
        let n5, a5: Tensor
        let gEnc: [Tensor]
        let g0, g1, g2: Tensor
        let encCaches: [ResidualConvBlock.Cache?], encAtt: [SpatialAttention.Cache?]
        let decCaches: [ResidualConvBlock.Cache?], decAtt: [SpatialAttention.Cache?]
        let mid1Cache, mid2Cache: ResidualConvBlock.Cache
        let midAttCache: SpatialAttention.Cache
        let outNormCache: NormCache
        let col: Tensor
        /// Every residual block's cache: encoder, middle, decoder (dropout streams in this order).
        let blockCaches: [ResidualConvBlock.Cache]

        deinit { labels.deallocate() }


        init(_ u: EDMUNetNetwork, batch: Int) {
            self.batch = batch
            func t(_ n: Int) -> Tensor { Tensor(shape: [batch, n]) }
            labels = .allocate(capacity: max(batch, 1))
            input = t(u.inputSize); fourierOut = t(u.embeddingSize); embPre = t(u.embWidth); emb = t(u.embWidth); dEmb = t(u.embWidth)
            enc = u.encoderSizes.map(t)
            encBlockOut = u.encoder.map { st in if case .block(let b, let a) = st, a != nil { return t(b.outSize) } else { return nil } }
            let midSize = u.mid1.outSize
            mid1Out = t(midSize); midAttOut = t(midSize); midOut = t(midSize)
            var inSizes: [Int] = [], blockOuts: [Tensor?] = [], outs: [Tensor] = []
            var largest = u.encoderSizes.max()! 
            for st in u.decoder {
                switch st {
                case .upBlock(let b, let a, _):
                    inSizes.append(b.inSize); blockOuts.append(a != nil ? t(b.outSize) : nil)
                case .up(let upsample, _):
                    inSizes.append(upsample.outSize); blockOuts.append(nil)
                default: preconditionFailure()
                }
                outs.append(t(u.outSize(st)))
                largest = max(largest, inSizes.last!, u.outSize(st))
            }
            decIn = inSizes.map(t); decBlockOut = blockOuts; decOut = outs
            n5 = t(u.outNorm.channels * u.side * u.side); a5 = t(u.outNorm.channels * u.side * u.side)
            gEnc = u.encoderSizes.map(t)
            g0 = t(largest); g1 = t(largest); g2 = t(largest)
            encCaches = u.encoder.map { st in if case .block(let b, _) = st { return b.makeCache(batch: batch) } else { return nil } }
            encAtt = u.encoder.map { st in if case .block(_, let a?) = st { return a.makeCache(batch: batch) } else { return nil } }
            decCaches = u.decoder.map { st in if case .upBlock(let b, _, _) = st { return b.makeCache(batch: batch) } else { return nil } }
            decAtt = u.decoder.map { st in if case .upBlock(_, let a?, _) = st { return a.makeCache(batch: batch) } else { return nil } }
            mid1Cache = u.mid1.makeCache(batch: batch); mid2Cache = u.mid2.makeCache(batch: batch)
            midAttCache = u.midAttention.makeCache(batch: batch)
            outNormCache = u.outNorm.makeCache(batch: batch)
            blockCaches = encCaches.compactMap { $0 } + [mid1Cache, mid2Cache] + decCaches.compactMap { $0 }
            for (stream, cache) in blockCaches.enumerated() { cache.dropoutStream = stream }
            var convs = [u.stem, u.outConv]
            for st in u.encoder + u.decoder {
                if case .down(let conv) = st { convs.append(conv) }
                if case .up(_, let conv) = st { convs.append(conv) }
            }
            col = Tensor(shape: [convs.map { $0.scratchFloats(batch: batch) }.max()!])
        }
    }

    public func makeWorkspace(batch: Int) -> AnyObject { Workspace(self, batch: batch) }

    public func setDropout(_ key: DropoutKey?, workspace: AnyObject) {
        for cache in unsafeDowncast(workspace, to: Workspace.self).blockCaches { cache.dropoutKey = key }
    }

    public func forward(_ p: Parameters, x: UnsafePointer<Float>, c: UnsafePointer<Float>, labels: UnsafePointer<Int32>?,
                        out: UnsafeMutablePointer<Float>, batch: Int, workspace: AnyObject) {
        let w = unsafeDowncast(workspace, to: Workspace.self)
        precondition(batch <= w.batch, "batch \(batch) exceeds workspace size \(w.batch)")
        w.input.data.update(from: x, count: batch * inputSize)
        fourier.forward(c, w.fourierOut.data, batch: batch)
        embed.forward(p, w.fourierOut.data, w.embPre.data, batch: batch)
        labelEmbedding?.forward(p, labels: labels, into: w.embPre.data, used: w.labels, batch: batch)
        SiLU.forward(w.embPre.data, w.emb.data, count: batch * embWidth)
        let e = UnsafePointer(w.emb.data)
        stem.forward(p, w.input.data, w.enc[0].data, batch: batch, col: w.col)
        for (i, st) in encoder.enumerated() {
            let input = w.enc[i].data, output = w.enc[i + 1].data
            switch st {
            case .block(let blk, let att):
                if let att {
                    blk.forward(p, input, emb: e, w.encBlockOut[i]!.data, batch: batch, cache: w.encCaches[i]!)
                    att.forward(p, w.encBlockOut[i]!.data, output, batch: batch, cache: w.encAtt[i]!)
                } else {
                    blk.forward(p, input, emb: e, output, batch: batch, cache: w.encCaches[i]!)
                }
            case .down(let conv): conv.forward(p, input, output, batch: batch, col: w.col)
            default: preconditionFailure()
            }
        }
        mid1.forward(p, w.enc[encoder.count].data, emb: e, w.mid1Out.data, batch: batch, cache: w.mid1Cache)
        midAttention.forward(p, w.mid1Out.data, w.midAttOut.data, batch: batch, cache: w.midAttCache)
        mid2.forward(p, w.midAttOut.data, emb: e, w.midOut.data, batch: batch, cache: w.mid2Cache)
        var h = UnsafePointer(w.midOut.data), hSize = mid2.outSize
        for (j, st) in decoder.enumerated() {
            let output = w.decOut[j].data
            switch st {
            case .upBlock(let blk, let att, let skip):
                ChannelConcat.forward(h, hSize, w.enc[skip].data, encoderSizes[skip], w.decIn[j].data, batch: batch)
                if let att {
                    blk.forward(p, w.decIn[j].data, emb: e, w.decBlockOut[j]!.data, batch: batch, cache: w.decCaches[j]!)
                    att.forward(p, w.decBlockOut[j]!.data, output, batch: batch, cache: w.decAtt[j]!)
                } else {
                    blk.forward(p, w.decIn[j].data, emb: e, output, batch: batch, cache: w.decCaches[j]!)
                }
            case .up(let upsample, let conv):
                upsample.forward(h, w.decIn[j].data, batch: batch)
                conv.forward(p, w.decIn[j].data, output, batch: batch, col: w.col)
            default: preconditionFailure()
            }
            h = UnsafePointer(output)
            hSize = outSize(st)
        }
        outNorm.forward(p, h, w.n5.data, batch: batch, cache: w.outNormCache)
        SiLU.forward(w.n5.data, w.a5.data, count: batch * outNorm.channels * side * side)
        outConv.forward(p, w.a5.data, out, batch: batch, col: w.col)
    }

    /// Backward of a residual block followed by its attention (if any): `dy` at the stage's
    /// output, the block input's gradient written to `dx`, `scratch` holding the gradient
    /// between the two.
    func stageBackward(_ p: Parameters, _ blk: ResidualConvBlock, _ blkCache: ResidualConvBlock.Cache, _ att: SpatialAttention?,
                       _ attCache: SpatialAttention.Cache?, input: UnsafePointer<Float>, blockOut: UnsafePointer<Float>?,
                       dy: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>,
                       emb: UnsafePointer<Float>, dEmb: UnsafeMutablePointer<Float>, batch: Int, paramGrads: Bool) {
        var g = dy
        if let att, let attCache, let blockOut {
            att.backward(p, x: blockOut, dy: dy, dx: scratch, batch: batch, cache: attCache, paramGrads: paramGrads)
            g = UnsafePointer(scratch)
        }
        blk.backward(p, x: input, emb: emb, dy: g, dx: dx, dEmb: dEmb, batch: batch, cache: blkCache, paramGrads: paramGrads)
    }

    public func backward(_ p: Parameters, dOut: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, batch: Int,
                         workspace: AnyObject, paramGrads: Bool) {
        let w = unsafeDowncast(workspace, to: Workspace.self)
        let e = UnsafePointer(w.emb.data), dE = w.dEmb.data
        dE.update(repeating: 0, count: batch * embWidth)
        for g in w.gEnc { g.data.update(repeating: 0, count: batch * g.count / w.batch) }
        // Three rotating gradient buffers: `cur` holds the gradient of the current stage's output.
        var cur = w.g0.data, spare = w.g1.data, spare2 = w.g2.data
        let top = outNorm.channels * side * side
        outConv.backward(p, x: w.a5.data, dy: dOut, dx: spare, batch: batch, col: w.col, paramGrads: paramGrads)
        SiLU.backward(x: w.n5.data, dy: spare, dx: spare, count: batch * top)
        let lastOut = decoder.isEmpty ? w.midOut.data : w.decOut[decoder.count - 1].data
        outNorm.backward(p, x: lastOut, dy: spare, dx: cur, batch: batch, cache: w.outNormCache, paramGrads: paramGrads)
        for (j, st) in decoder.enumerated().reversed() {
            switch st {
            case .upBlock(let blk, let att, let skip):
                stageBackward(p, blk, w.decCaches[j]!, att, w.decAtt[j], input: w.decIn[j].data, blockOut: w.decBlockOut[j]?.data,
                              dy: cur, scratch: spare, dx: spare2, emb: e, dEmb: dE, batch: batch, paramGrads: paramGrads)
                // Split d(concat): the first part is the previous output's gradient, the second
                // adds to the skip's.
                ChannelConcat.backward(spare2, blk.inSize - encoderSizes[skip], encoderSizes[skip], cur,
                                       addTo: w.gEnc[skip].data, batch: batch)
            case .up(let upsample, let conv):
                conv.backward(p, x: w.decIn[j].data, dy: cur, dx: spare, batch: batch, col: w.col, paramGrads: paramGrads)
                upsample.backward(dy: spare, dx: cur, batch: batch)
            default: preconditionFailure()
            }
        }
        // cur = d(mid output).
        mid2.backward(p, x: w.midAttOut.data, emb: e, dy: cur, dx: spare, dEmb: dE, batch: batch, cache: w.mid2Cache,
                      paramGrads: paramGrads)
        midAttention.backward(p, x: w.mid1Out.data, dy: spare, dx: spare2, batch: batch, cache: w.midAttCache, paramGrads: paramGrads)
        mid1.backward(p, x: w.enc[encoder.count].data, emb: e, dy: spare2, dx: cur, dEmb: dE, batch: batch, cache: w.mid1Cache,
                      paramGrads: paramGrads)
        // cur = d(last encoder output) from the middle; add what its skip received.
        for (i, st) in encoder.enumerated().reversed() {
            let n = encoderSizes[i + 1], gs = w.gEnc[i + 1].data
            for k in 0..<(batch * n) { cur[k] += gs[k] }
            switch st {
            case .block(let blk, let att):
                stageBackward(p, blk, w.encCaches[i]!, att, w.encAtt[i], input: w.enc[i].data, blockOut: w.encBlockOut[i]?.data,
                              dy: cur, scratch: spare, dx: spare2, emb: e, dEmb: dE, batch: batch, paramGrads: paramGrads)
            case .down(let conv):
                conv.backward(p, x: w.enc[i].data, dy: cur, dx: spare2, batch: batch, col: w.col, paramGrads: paramGrads)
            default: preconditionFailure()
            }
            swap(&cur, &spare2)
        }
        let gs0 = w.gEnc[0].data
        for k in 0..<(batch * encoderSizes[0]) { cur[k] += gs0[k] }
        stem.backward(p, x: w.input.data, dy: cur, dx: dx, batch: batch, col: w.col, paramGrads: paramGrads)
        if paramGrads {
            SiLU.backward(x: w.embPre.data, dy: dE, dx: dE, count: batch * embWidth)
            embed.backward(p, x: w.fourierOut.data, dy: dE, dx: nil, batch: batch)
            labelEmbedding?.backward(p, used: w.labels, dEmb: dE, batch: batch)
        }
    }
}
