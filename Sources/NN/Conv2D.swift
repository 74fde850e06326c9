import BLAS
import CDNNL
import CKernels

/// 2-D convolution on [batch, channels, height, width] tensors with a square kernel (1 or 3),
/// "same" padding (kernel/2) and stride 1 or 2. Weights are [out, in, k, k].
///
/// Computed over chunks of samples: the chunk's im2col matrices side by side ([in k k, chunk
/// ho wo]) and one GEMM per chunk for the forward pass, the weight gradient and the input
/// gradient, so that small feature maps (7 x 7 at a U-Net's lowest resolution) still give BLAS
/// wide products. The chunk is as many samples as the scratch tensor holds (`makeCache`).
public struct Conv2D: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let height: Int
    public let width: Int
    public let weight: Int
    public let bias: Int
    /// The implementation this layer runs with (nil: `ConvBackend.current`; see `resolvedBackend`).
    public var backend: ConvBackend?

    public init(_ layout: inout ParameterLayout, _ name: String, in inChannels: Int, out outChannels: Int,
                kernel: Int = 3, stride: Int = 1, height: Int, width: Int, scale: Float = 1) {
        precondition(kernel == 1 || kernel == 3, "kernel must be 1 or 3")
        precondition(stride == 1 || stride == 2, "stride must be 1 or 2")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.height = height
        self.width = width
        let fanIn = inChannels * kernel * kernel
        let bound = scale / Float(fanIn).squareRoot()
        (weight, bias) = layout.scope(name) { l in
            (l.add("weight", shape: [outChannels, inChannels, kernel, kernel], init: .uniform(bound)),
             l.add("bias", shape: [outChannels], init: .zeros))
        }
    }

    public var outHeight: Int { (height + 2 * (kernel / 2) - kernel) / stride + 1 }
    public var outWidth: Int { (width + 2 * (kernel / 2) - kernel) / stride + 1 }
    public var inSize: Int { inChannels * height * width }
    public var outSize: Int { outChannels * outHeight * outWidth }
    var colRows: Int { inChannels * kernel * kernel }
    var colCols: Int { outHeight * outWidth }
    /// Multiply-adds per sample of one forward pass.
    public var macsPerSample: Int { outChannels * colRows * colCols }

    /// Scratch floats per sample of a chunk: its im2col columns and its output (or output
    /// gradient) columns.
    public var scratchPerSample: Int { (colRows + outChannels) * colCols }

    /// Default scratch budget in floats (256 KB): chunks of about this size keep the im2col
    /// matrix and the output block in the L2 and L3 caches (docs/performance.md).
    public static let defaultScratchFloats = 1 << 16

    /// Scratch for one sample at a time (the per-sample convolution).
    public func makeCache() -> Tensor { Tensor(shape: [scratchPerSample]) }

    /// Scratch for chunks of up to `batch` samples within `budget` floats (at least one sample).
    public func makeCache(batch: Int, budget: Int = Conv2D.defaultScratchFloats) -> Tensor {
        Tensor(shape: [scratchFloats(batch: batch, budget: budget)])
    }

    /// Floats of scratch `makeCache(batch:budget:)` allocates; a network sharing one scratch
    /// among its convolutions allocates the largest.
    public func scratchFloats(batch: Int, budget: Int = Conv2D.defaultScratchFloats) -> Int {
        scratchPerSample * max(1, min(batch, budget / scratchPerSample))
    }

    /// Samples per chunk that `scratch` holds.
    @inline(__always) func chunk(_ scratch: Tensor, batch: Int) -> Int {
        precondition(scratch.count >= scratchPerSample, "convolution scratch too small for one sample")
        return max(1, min(batch, scratch.count / scratchPerSample))
    }

    /// The output columns [lo, hi) whose input column ox * stride + kx - pad lies inside the
    /// image (the rest read the zero padding).
    @inline(__always) func validColumns(_ kx: Int) -> (lo: Int, hi: Int) {
        let pad = kernel / 2, wo = outWidth
        let lo = max(0, (pad - kx + stride - 1) / stride)
        let hi = min(wo, (width - 1 - kx + pad) / stride + 1)
        return (lo, max(lo, hi))
    }

    /// Where the im2col row of kernel tap (ky, kx) reads the input at stride 1: output pixel r
    /// (row-major over the [ho, wo] map, which equals the input's) reads input pixel r + offset;
    /// output rows [rowLo, rowHi) are inside the image vertically, and within them the pixels
    /// [first, end) can be copied as one run (the columns outside [lo, hi) of each row read the
    /// padding and are fixed up after the run).
    struct ShiftedRun {
        let offset: Int, rowLo: Int, rowHi: Int, first: Int, end: Int, lo: Int, hi: Int
    }

    @inline(__always) func shiftedRun(_ ky: Int, _ kx: Int) -> ShiftedRun {
        let pad = kernel / 2, dy = ky - pad, dx = kx - pad
        let rowLo = max(0, -dy), rowHi = max(rowLo, min(height, height - dy))
        let (lo, hi) = validColumns(kx)
        // No row inside the image (a map shorter than the kernel's reach): an empty run.
        if rowHi == rowLo { return ShiftedRun(offset: dy * width + dx, rowLo: rowLo, rowHi: rowHi, first: 0, end: 0, lo: lo, hi: hi) }
        let first = rowLo * width + max(0, -dx), end = max(first, rowHi * width - max(0, dx))
        return ShiftedRun(offset: dy * width + dx, rowLo: rowLo, rowHi: rowHi, first: first, end: end, lo: lo, hi: hi)
    }

    /// Zeroes the columns outside [lo, hi) of the output rows [rowLo, rowHi) of one tap's row:
    /// the pixels that read the side padding.
    @inline(__always) func zeroSideColumns(_ row: UnsafeMutablePointer<Float>, _ r: ShiftedRun) {
        for oy in r.rowLo..<r.rowHi {
            let line = row + oy * width
            for ox in 0..<r.lo { line[ox] = 0 }
            for ox in r.hi..<width { line[ox] = 0 }
        }
    }

    /// Sample x's im2col columns into `col`, whose rows are `ld` floats apart.
    public func im2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, ld: Int) {
        if kernel == 1 && stride == 1 {
            for c in 0..<inChannels { (col + c * ld).update(from: x + c * height * width, count: height * width) }
        } else if stride == 1 {
            im2colShifted(x, col, ld: ld)
        } else {
            im2colByRows(x, col, ld: ld)
        }
    }

    /// im2col at stride 1: each tap's row is the input plane shifted by a constant offset, so it
    /// is one copy of a contiguous run, the rows above or below the image zeroed, and the one or
    /// two columns per row that fall into the side padding zeroed after the copy.
    public func im2colShifted(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, ld: Int) {
        let hw = height * width
        for c in 0..<inChannels {
            let xc = x + c * hw
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = col + ((c * kernel + ky) * kernel + kx) * ld
                    let r = shiftedRun(ky, kx)
                    row.update(repeating: 0, count: r.first)
                    (row + r.first).update(from: xc + (r.first + r.offset), count: r.end - r.first)
                    (row + r.end).update(repeating: 0, count: hw - r.end)
                    zeroSideColumns(row, r)
                }
            }
        }
    }

    /// im2col row by row (any stride): the reference the shifted copy is tested against.
    public func im2colByRows(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, ld: Int) {
        let pad = kernel / 2, ho = outHeight, wo = outWidth
        for c in 0..<inChannels {
            let xc = x + c * height * width
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = col + ((c * kernel + ky) * kernel + kx) * ld
                    let (lo, hi) = validColumns(kx)
                    for oy in 0..<ho {
                        let iy = oy * stride + ky - pad
                        let out = row + oy * wo
                        if iy < 0 || iy >= height {
                            out.update(repeating: 0, count: wo)
                            continue
                        }
                        // Input column of output column ox: ox * stride + shift.
                        let xr = xc + iy * width, shift = kx - pad
                        if lo > 0 { out.update(repeating: 0, count: lo) }
                        if stride == 1 {
                            (out + lo).update(from: xr + (lo + shift), count: hi - lo)
                        } else {
                            for ox in lo..<hi { out[ox] = xr[ox * stride + shift] }
                        }
                        if hi < wo { (out + hi).update(repeating: 0, count: wo - hi) }
                    }
                }
            }
        }
    }

    /// Add the im2col columns in `col` (rows `ld` apart) back onto sample dx. At stride 1 the
    /// columns that read the padding are zeroed in `col` first (it is scratch), so that each
    /// tap's row adds onto dx as one contiguous run; every element of dx receives its taps in
    /// the same order either way.
    public func col2imAdd(_ col: UnsafeMutablePointer<Float>, _ dx: UnsafeMutablePointer<Float>, ld: Int) {
        if stride == 1 && kernel > 1 {
            col2imAddShifted(col, dx, ld: ld)
        } else {
            col2imAddByRows(col, dx, ld: ld)
        }
    }

    /// col2im at stride 1: the side-padding columns of each tap's row zeroed, then the row added
    /// onto dx as one contiguous run.
    public func col2imAddShifted(_ col: UnsafeMutablePointer<Float>, _ dx: UnsafeMutablePointer<Float>, ld: Int) {
        let hw = height * width
        for c in 0..<inChannels {
            let xc = dx + c * hw
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = col + ((c * kernel + ky) * kernel + kx) * ld
                    let r = shiftedRun(ky, kx)
                    zeroSideColumns(row, r)
                    let src = row + r.first, dst = xc + (r.first + r.offset)
                    for i in 0..<(r.end - r.first) { dst[i] += src[i] }
                }
            }
        }
    }

    /// col2im row by row (any stride): the reference the shifted version is tested against.
    public func col2imAddByRows(_ col: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, ld: Int) {
        let pad = kernel / 2, ho = outHeight, wo = outWidth
        for c in 0..<inChannels {
            let xc = dx + c * height * width
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = col + ((c * kernel + ky) * kernel + kx) * ld
                    let (lo, hi) = validColumns(kx)
                    for oy in 0..<ho {
                        let iy = oy * stride + ky - pad
                        if iy < 0 || iy >= height { continue }
                        let r = row + oy * wo
                        if stride == 1 {
                            let xr = xc + iy * width + (lo + kx - pad), rr = r + lo
                            for i in 0..<(hi - lo) { xr[i] += rr[i] }
                        } else {
                            let xr = xc + iy * width, shift = kx - pad
                            for ox in lo..<hi { xr[ox * stride + shift] += r[ox] }
                        }
                    }
                }
            }
        }
    }

    /// y[batch, out, ho, wo] = conv(x) + b, with this layer's backend (`col` is the im2col
    /// scratch; oneDNN keeps its own buffers).
    public func forward(_ p: Parameters, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int,
                        col: Tensor) {
        if resolvedBackend == .onednn {
            forwardOneDNN(p, x, y, batch: batch)
        } else {
            forwardIm2col(p, x, y, batch: batch, col: col)
        }
    }

    /// Backward with this layer's backend: accumulates weight and bias gradients when
    /// `paramGrads`, writes (or adds, with `accumulateInput`) dx when given.
    public func backward(_ p: Parameters, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, col: Tensor, paramGrads: Bool = true,
                         accumulateInput: Bool = false) {
        if resolvedBackend == .onednn {
            backwardOneDNN(p, x: x, dy: dy, dx: dx, batch: batch, paramGrads: paramGrads, accumulateInput: accumulateInput)
        } else {
            backwardIm2col(p, x: x, dy: dy, dx: dx, batch: batch, col: col, paramGrads: paramGrads,
                           accumulateInput: accumulateInput)
        }
    }

    /// Samples per oneDNN call: larger batches run in chunks of this many, so that the blocked
    /// buffers of a handle stay a few MB (the A/B timed batches of 32) however large a sampling
    /// batch is.
    public static let oneDNNChunk = 32

    /// The forward pass through oneDNN (`OneDNNConvolutions`), in chunks of `oneDNNChunk` samples.
    public func forwardOneDNN(_ p: Parameters, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        var b0 = 0
        while b0 < batch {
            let n = min(Self.oneDNNChunk, batch - b0)
            let status = OneDNNConvolutions.shared.with(self, batch: n) {
                emd_conv_forward($0, x + b0 * inSize, p.values + weight, p.values + bias, y + b0 * outSize)
            }
            precondition(status == 0, "oneDNN convolution forward failed (status \(status))")
            b0 += n
        }
    }

    /// The backward pass through oneDNN, with `backward`'s accumulation rules.
    public func backwardOneDNN(_ p: Parameters, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                               dx: UnsafeMutablePointer<Float>?, batch: Int, paramGrads: Bool = true,
                               accumulateInput: Bool = false) {
        guard paramGrads || dx != nil else { return }
        var b0 = 0
        while b0 < batch {
            let n = min(Self.oneDNNChunk, batch - b0)
            let status = OneDNNConvolutions.shared.with(self, batch: n) {
                emd_conv_backward($0, x + b0 * inSize, p.values + weight, dy + b0 * outSize, paramGrads ? p.grads + weight : nil,
                                  paramGrads ? p.grads + bias : nil, dx.map { $0 + b0 * inSize }, accumulateInput ? 1 : 0)
            }
            precondition(status == 0, "oneDNN convolution backward failed (status \(status))")
            b0 += n
        }
    }

    /// y[batch, out, ho, wo] = conv(x) + b by im2col and one GEMM per chunk of samples.
    public func forwardIm2col(_ p: Parameters, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int,
                              col: Tensor) {
        let hw = colCols, chunk = chunk(col, batch: batch)
        var b0 = 0
        while b0 < batch {
            let nb = min(chunk, batch - b0), ld = nb * hw
            let cols = col.data, out = col.data + colRows * ld
            for j in 0..<nb { im2col(x + (b0 + j) * inSize, cols + j * hw, ld: ld) }
            // One sample: the output block is the sample's own [out, ho wo] slice.
            let target = nb == 1 ? y + b0 * outSize : out
            BLAS.gemm(m: outChannels, n: ld, k: colRows, a: p.values + weight, lda: colRows, b: cols, ldb: ld,
                      c: target, ldc: ld)
            for j in 0..<nb {
                let yb = y + (b0 + j) * outSize
                for o in 0..<outChannels {
                    let bv = p.values[bias + o], r = yb + o * hw
                    if nb == 1 {
                        for i in 0..<hw { r[i] += bv }
                    } else {
                        let src = out + o * ld + j * hw
                        for i in 0..<hw { r[i] = src[i] + bv }
                    }
                }
            }
            b0 += nb
        }
    }

    /// Backward by im2col and GEMMs: accumulates weight and bias gradients, writes (or adds,
    /// with `accumulateInput`) dx when given.
    public func backwardIm2col(_ p: Parameters, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                               dx: UnsafeMutablePointer<Float>?, batch: Int, col: Tensor, paramGrads: Bool = true,
                               accumulateInput: Bool = false) {
        let hw = colCols, chunk = chunk(col, batch: batch)
        var b0 = 0
        while b0 < batch {
            let nb = min(chunk, batch - b0), ld = nb * hw
            let cols = col.data, grads = col.data + colRows * ld
            // The chunk's output gradients side by side, [out, nb ho wo] (one sample: in place).
            let g: UnsafePointer<Float>
            if nb == 1 {
                g = dy + b0 * outSize
            } else {
                for j in 0..<nb {
                    let dyb = dy + (b0 + j) * outSize
                    for o in 0..<outChannels { (grads + o * ld + j * hw).update(from: dyb + o * hw, count: hw) }
                }
                g = UnsafePointer(grads)
            }
            if paramGrads {
                for j in 0..<nb { im2col(x + (b0 + j) * inSize, cols + j * hw, ld: ld) }
                BLAS.gemm(transB: true, m: outChannels, n: colRows, k: ld, a: g, lda: ld, b: cols, ldb: ld,
                          beta: 1, c: p.grads + weight, ldc: colRows)
                for o in 0..<outChannels { p.grads[bias + o] += emd_sum(g + o * ld, ld) }
            }
            if let dx {
                BLAS.gemm(transA: true, m: colRows, n: ld, k: outChannels, a: p.values + weight, lda: colRows,
                          b: g, ldb: ld, c: cols, ldc: ld)
                for j in 0..<nb {
                    let dxb = dx + (b0 + j) * inSize
                    if !accumulateInput { dxb.update(repeating: 0, count: inSize) }
                    if kernel == 1 && stride == 1 {
                        for c in 0..<inChannels {
                            let src = cols + c * ld + j * hw, dst = dxb + c * hw
                            for i in 0..<hw { dst[i] += src[i] }
                        }
                    } else {
                        col2imAdd(cols + j * hw, dxb, ld: ld)
                    }
                }
            }
            b0 += nb
        }
    }
}

/// Nearest-neighbour 2x upsampling of [batch, channels, height, width].
public struct Upsample2x: Sendable {
    public let channels: Int
    public let height: Int
    public let width: Int

    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var inSize: Int { channels * height * width }
    public var outSize: Int { inSize * 4 }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        let w2 = 2 * width
        for plane in 0..<(batch * channels) {
            let xp = x + plane * height * width, yp = y + plane * 4 * height * width
            for iy in 0..<height {
                let r0 = yp + (2 * iy) * w2, r1 = r0 + w2
                for ix in 0..<width {
                    let v = xp[iy * width + ix]
                    r0[2 * ix] = v; r0[2 * ix + 1] = v
                    r1[2 * ix] = v; r1[2 * ix + 1] = v
                }
            }
        }
    }

    /// dx = sum of dy over each 2x2 block; with `accumulate`, adds to dx.
    public func backward(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, batch: Int, accumulate: Bool = false) {
        let w2 = 2 * width
        for plane in 0..<(batch * channels) {
            let dxp = dx + plane * height * width, dyp = dy + plane * 4 * height * width
            for iy in 0..<height {
                let r0 = dyp + (2 * iy) * w2, r1 = r0 + w2
                for ix in 0..<width {
                    let s = r0[2 * ix] + r0[2 * ix + 1] + r1[2 * ix] + r1[2 * ix + 1]
                    dxp[iy * width + ix] = accumulate ? dxp[iy * width + ix] + s : s
                }
            }
        }
    }
}
