import NN

/// Adam (and optionally an EMA of the parameters) for data-parallel training, with the
/// optimiser state either replicated or sharded across ranks (ZeRO stage 1).
///
/// Replicated: gradients are all-reduced and every rank updates every parameter.
/// Sharded: gradients are reduce-scattered so that each rank holds the sum for its block of a
/// `BlockLayout`; each rank clips (by the global norm, from every block's partial sums),
/// runs Adam and the EMA on its block only, and the parameters are all-gathered. The bytes on
/// the wire are those of one all-reduce; optimiser time and moment memory are divided by the
/// rank count. Every element goes through the same arithmetic either way, so on two ranks
/// (where a sum of two is the same in any order) the parameters are bit-identical.
public final class DataParallelAdam {
    public let sharded: Bool
    /// Parameters covered.
    public let count: Int
    /// The blocks (one for everyone when replicated).
    public let layout: BlockLayout
    /// This rank's block (all of 0..<count when replicated).
    public let block: Range<Int>
    /// Adam over `block`.
    public let adam: Adam
    /// The EMA over `block` (nil: none).
    public let ema: EMA?
    let collectives: Collectives
    /// Sharded only: this rank's block of the summed gradients.
    let blockGrads: Tensor?
    /// Per-chunk sums of squares (sharded norm), one per `gradientNormChunk`.
    let chunkSums: UnsafeMutablePointer<Double>
    let chunkLayout: BlockLayout
    let chunks: Int
    /// Seconds the last `apply` spent in collectives (the norm's partial sums and the
    /// parameters' all-gather; 0 when replicated), so that callers can time them apart.
    public private(set) var lastCommunicationSeconds = 0.0

    /// `makeAdam(n)` builds the Adam for `n` values; `emaDecay` nil means no EMA. The EMA starts
    /// at `initial` (the parameters' values).
    public init(count: Int, collectives: Collectives, sharded: Bool, emaDecay: Float?, initial: UnsafePointer<Float>,
                makeAdam: (Int) -> Adam) {
        self.count = count
        self.collectives = collectives
        let isSharded = sharded && collectives.size > 1
        self.sharded = isSharded
        let layout = BlockLayout(count: count, ranks: isSharded ? collectives.size : 1, alignment: gradientNormChunk)
        self.layout = layout
        let block = isSharded ? layout.range(collectives.rank) : 0..<count
        self.block = block
        adam = makeAdam(block.count)
        ema = emaDecay.map { EMA(count: block.count, initial: initial + block.lowerBound, decay: $0) }
        blockGrads = isSharded ? Tensor(shape: [max(block.count, 1)]) : nil
        let chunks = (count + gradientNormChunk - 1) / gradientNormChunk
        self.chunks = chunks
        chunkSums = .allocate(capacity: max(chunks, 1))
        let chunkLayout = BlockLayout(count: chunks, ranks: layout.ranks, alignment: 1)
        self.chunkLayout = chunkLayout
        if isSharded {
            // The chunk blocks must be the parameter blocks' chunks.
            for r in 0..<layout.ranks {
                precondition(chunkLayout.offsets[r] * gradientNormChunk == layout.offsets[r], "chunk and parameter blocks differ")
            }
        }
    }

    deinit { chunkSums.deallocate() }

    /// Sum `grads` (all `count`) over ranks: all-reduced in place, or (sharded) this rank's block
    /// reduce-scattered into its own buffer.
    public func reduceGradients(_ grads: UnsafeMutablePointer<Float>) throws {
        if let blockGrads {
            try collectives.reduceScatterSum(grads, into: blockGrads.data, layout: layout)
        } else {
            try collectives.allreduceSum(grads, count: count)
        }
    }

    /// Whether the summed gradients this rank holds after `reduceGradients` (its block when
    /// sharded, else all of `grads`) are finite.
    public func reducedGradientsFinite(_ grads: UnsafeMutablePointer<Float>) -> Bool {
        if let blockGrads { return allFinite(blockGrads.data, count: block.count) }
        return allFinite(grads, count: count)
    }

    /// Whole copies of the sharded per-parameter states, for a checkpoint: filled on every rank
    /// by `stageWholeState()` (a collective), kept on rank 0 only until `takeStaged()`.
    var staged: [State: Tensor] = [:]

    /// Sharded: gather m, v and the EMA whole (every rank must call it); rank 0 keeps them for
    /// the checkpoint it writes next. Replicated: nothing to do.
    public func stageWholeState() throws {
        guard sharded else { return }
        for s in State.allCases where tensor(s) != nil {
            let t = Tensor(shape: [count])
            try gather(s, into: t.data)
            staged[s] = t
        }
        if !collectives.isRoot { staged = [:] }
    }

    /// The whole state `which` for a checkpoint: the live tensor when replicated, the staged
    /// copy when sharded (nil for an EMA this optimiser does not keep).
    public func whole(_ which: State) -> UnsafeMutablePointer<Float>? {
        guard sharded else { return tensor(which)?.data }
        guard tensor(which) != nil else { return nil }
        guard let t = staged[which] else {
            preconditionFailure("a sharded optimiser's checkpoint needs stageWholeState() on every rank first")
        }
        return t.data
    }

    /// Drop the staged copies (after the checkpoint is built).
    public func releaseStaged() { staged = [:] }

    /// After `reduceGradients` (and the ranks' agreement that the sums are finite): clip to
    /// `maxNorm` by the global norm (0: no clip), Adam on this rank's block, and (sharded) the
    /// all-gather of the parameters. Returns the global gradient norm before clipping when
    /// `wantNorm` or clipping is on (else 0).
    @discardableResult
    public func apply(values: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>, maxNorm: Float,
                      wantNorm: Bool) throws -> Float {
        guard let blockGrads else {
            let norm = (wantNorm || maxNorm > 0) ? clipGradientNorm(grads, count: count, maxNorm: maxNorm) : 0
            adam.update(values: values, grads: grads, count: count)
            return norm
        }
        let g = blockGrads.data, n = block.count
        var norm: Float = 0
        lastCommunicationSeconds = 0
        if wantNorm || maxNorm > 0 {
            let first = block.lowerBound / gradientNormChunk
            gradientChunkSquareSums(g, count: n, into: chunkSums + first)
            let t0 = WallClock.now()
            try collectives.allgatherBlocks(chunkSums, layout: chunkLayout)
            lastCommunicationSeconds += WallClock.now() - t0
            var total = 0.0
            for j in 0..<chunks { total += chunkSums[j] }
            norm = Float(total.squareRoot())
            if maxNorm > 0 && norm > maxNorm {
                let s = maxNorm / (norm + 1e-6)
                for i in 0..<n { g[i] *= s }
            }
        }
        adam.update(values: values + block.lowerBound, grads: g, count: n)
        let t0 = WallClock.now()
        try collectives.allgatherBlocks(values, layout: layout)
        lastCommunicationSeconds += WallClock.now() - t0
        return norm
    }

    /// Average this rank's block of `values` into the EMA at `decay`.
    public func updateEMA(values: UnsafePointer<Float>, decay: Float) {
        guard let ema else { return }
        ema.decay = decay
        ema.update(from: values + block.lowerBound, count: block.count)
    }

    // MARK: whole-state copies (checkpoints, sampling)

    /// The whole of one per-parameter state (Adam's m or v, or the EMA) in `out` (`count`
    /// values), on every rank. A collective when sharded: every rank must call it.
    public func gather(_ which: State, into out: UnsafeMutablePointer<Float>) throws {
        guard let source = tensor(which) else { return }
        (out + block.lowerBound).update(from: source.data, count: block.count)
        if sharded { try collectives.allgatherBlocks(out, layout: layout) }
    }

    /// Set one per-parameter state from its whole (`count` values), keeping this rank's block.
    public func restore(_ which: State, from whole: UnsafePointer<Float>) {
        guard let target = tensor(which) else { return }
        target.data.update(from: whole + block.lowerBound, count: block.count)
    }

    /// The optimiser's per-parameter states.
    public enum State: CaseIterable, Sendable { case adamM, adamV, ema }

    func tensor(_ which: State) -> Tensor? {
        switch which {
        case .adamM: return adam.m
        case .adamV: return adam.v
        case .ema: return ema?.values
        }
    }
}
