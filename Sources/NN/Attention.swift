import BLAS
#if canImport(Glibc)
import Glibc
#endif

/// Multi-head self-attention over the spatial positions of [batch, channels, height, width]
/// feature maps, pre-normalised and residual, as in ADM's and DDPM++'s attention blocks:
/// y = x + proj(attention(q, k, v)) with [q; k; v] = qkv(GroupNorm(x)), both maps 1x1
/// convolutions, softmax(q^T k / sqrt(d_head)) per head over the positions. Every product is a
/// GEMM per sample and head; the backward pass is explicit and gradient-checked.
public struct SpatialAttention: Sendable {
    public let channels: Int
    public let heads: Int
    public let height: Int
    public let width: Int
    public let norm: GroupNorm
    public let qkv: Conv2D
    public let proj: Conv2D

    public init(_ layout: inout ParameterLayout, _ name: String, channels: Int, heads: Int, height: Int, width: Int,
                groups: Int) {
        precondition(heads >= 1 && channels % heads == 0, "channels \(channels) not divisible by heads \(heads)")
        self.channels = channels
        self.heads = heads
        self.height = height
        self.width = width
        (norm, qkv, proj) = layout.scope(name) { l in
            (GroupNorm(&l, "norm", channels: channels, groups: min(groups, channels), spatial: height * width),
             Conv2D(&l, "qkv", in: channels, out: 3 * channels, kernel: 1, height: height, width: width),
             // A small output map: the block starts close to the identity.
             Conv2D(&l, "proj", in: channels, out: channels, kernel: 1, height: height, width: width, scale: 0.1))
        }
    }

    var tokens: Int { height * width }
    var headSize: Int { channels / heads }
    public var size: Int { channels * tokens }
    /// Multiply-adds per sample of the forward pass (maps and attention).
    public var macsPerSample: Int { qkv.macsPerSample + proj.macsPerSample + 2 * channels * tokens * tokens }

    public final class Cache {
        let normed, qkvOut, attended, gAttended, gQKV, gNormed: Tensor
        /// Softmax probabilities, [batch, heads, tokens (queries), tokens (keys)].
        let probs: Tensor
        let dProbs: Tensor
        let normCache: NormCache
        let col: Tensor
        init(_ a: SpatialAttention, batch: Int) {
            let n = a.size, t = a.tokens
            normed = Tensor(shape: [batch, n]); qkvOut = Tensor(shape: [batch, 3 * n]); attended = Tensor(shape: [batch, n])
            gAttended = Tensor(shape: [batch, n]); gQKV = Tensor(shape: [batch, 3 * n]); gNormed = Tensor(shape: [batch, n])
            probs = Tensor(shape: [batch * a.heads, t * t]); dProbs = Tensor(shape: [t * t])
            normCache = a.norm.makeCache(batch: batch)
            col = Tensor(shape: [max(a.qkv.scratchFloats(batch: batch), a.proj.scratchFloats(batch: batch))])
        }
    }

    public func makeCache(batch: Int) -> Cache { Cache(self, batch: batch) }

    public func forward(_ p: Parameters, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int,
                        cache c: Cache) {
        let n = size, t = tokens, dh = headSize
        let scale = 1 / Float(dh).squareRoot()
        norm.forward(p, x, c.normed.data, batch: batch, cache: c.normCache)
        qkv.forward(p, c.normed.data, c.qkvOut.data, batch: batch, col: c.col)
        for b in 0..<batch {
            let base = c.qkvOut.data + b * 3 * n
            for h in 0..<heads {
                let q = base + h * dh * t, k = base + n + h * dh * t, v = base + 2 * n + h * dh * t
                let pr = c.probs.data + (b * heads + h) * t * t
                // S[query, key] = scale q^T k, then a softmax over the keys of each query.
                BLAS.gemm(transA: true, m: t, n: t, k: dh, alpha: scale, a: q, lda: t, b: k, ldb: t, c: pr, ldc: t)
                for row in 0..<t {
                    let r = pr + row * t
                    var m = -Float.infinity
                    for s in 0..<t { m = max(m, r[s]) }
                    var sum: Float = 0
                    for s in 0..<t { let e = expf(r[s] - m); r[s] = e; sum += e }
                    let inv = 1 / sum
                    for s in 0..<t { r[s] *= inv }
                }
                // O[i, query] = sum over keys of v[i, key] P[query, key].
                BLAS.gemm(transB: true, m: dh, n: t, k: t, a: v, lda: t, b: pr, ldb: t,
                          c: c.attended.data + b * n + h * dh * t, ldc: t)
            }
        }
        proj.forward(p, c.attended.data, y, batch: batch, col: c.col)
        for i in 0..<(batch * n) { y[i] += x[i] }
    }

    /// Backward of the last `forward`: parameter gradients accumulate (when `paramGrads`); dx
    /// (when given) is written: dy through the residual plus the block's own gradient.
    public func backward(_ p: Parameters, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, cache c: Cache, paramGrads: Bool = true) {
        let n = size, t = tokens, dh = headSize
        let scale = 1 / Float(dh).squareRoot()
        proj.backward(p, x: c.attended.data, dy: dy, dx: c.gAttended.data, batch: batch, col: c.col, paramGrads: paramGrads)
        let dP = c.dProbs.data
        for b in 0..<batch {
            let base = c.qkvOut.data + b * 3 * n, gBase = c.gQKV.data + b * 3 * n
            for h in 0..<heads {
                let off = h * dh * t
                let q = base + off, k = base + n + off, v = base + 2 * n + off
                let gq = gBase + off, gk = gBase + n + off, gv = gBase + 2 * n + off
                let pr = c.probs.data + (b * heads + h) * t * t
                let gO = c.gAttended.data + b * n + off
                // dV = dO P; dP = dO^T V.
                BLAS.gemm(m: dh, n: t, k: t, a: gO, lda: t, b: pr, ldb: t, c: gv, ldc: t)
                BLAS.gemm(transA: true, m: t, n: t, k: dh, a: gO, lda: t, b: v, ldb: t, c: dP, ldc: t)
                // Softmax backward, in place: dS = P (dP - sum_s P dP).
                for row in 0..<t {
                    let r = pr + row * t, g = dP + row * t
                    var dot: Float = 0
                    for s in 0..<t { dot += r[s] * g[s] }
                    for s in 0..<t { g[s] = r[s] * (g[s] - dot) }
                }
                // dQ = scale K dS^T; dK = scale Q dS.
                BLAS.gemm(transB: true, m: dh, n: t, k: t, alpha: scale, a: k, lda: t, b: dP, ldb: t, c: gq, ldc: t)
                BLAS.gemm(m: dh, n: t, k: t, alpha: scale, a: q, lda: t, b: dP, ldb: t, c: gk, ldc: t)
            }
        }
        qkv.backward(p, x: c.normed.data, dy: c.gQKV.data, dx: dx == nil ? nil : c.gNormed.data, batch: batch, col: c.col,
                     paramGrads: paramGrads)
        if let dx {
            norm.backward(p, x: x, dy: c.gNormed.data, dx: dx, batch: batch, cache: c.normCache, paramGrads: paramGrads)
            for i in 0..<(batch * n) { dx[i] += dy[i] }
        } else if paramGrads {
            norm.backward(p, x: x, dy: c.gNormed.data, dx: nil, batch: batch, cache: c.normCache)
        }
    }
}
