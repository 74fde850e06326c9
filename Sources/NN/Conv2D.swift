import BLAS

/// 2-D convolution on [batch, channels, height, width] tensors with a square kernel (1 or 3),
/// "same" padding (kernel/2) and stride 1 or 2, computed per sample as im2col followed by one
/// GEMM. Weights are [out, in, k, k].
public struct Conv2D: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let height: Int
    public let width: Int
    public let weight: Int
    public let bias: Int

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

    /// Scratch for one sample's im2col matrix.
    public func makeCache() -> Tensor { Tensor(shape: [colRows, colCols]) }

    func im2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>) {
        let pad = kernel / 2, ho = outHeight, wo = outWidth
        for c in 0..<inChannels {
            let xc = x + c * height * width
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = col + ((c * kernel + ky) * kernel + kx) * ho * wo
                    for oy in 0..<ho {
                        let iy = oy * stride + ky - pad
                        let out = row + oy * wo
                        if iy < 0 || iy >= height {
                            out.update(repeating: 0, count: wo)
                            continue
                        }
                        let xr = xc + iy * width
                        for ox in 0..<wo {
                            let ix = ox * stride + kx - pad
                            out[ox] = (ix >= 0 && ix < width) ? xr[ix] : 0
                        }
                    }
                }
            }
        }
    }

    func col2imAdd(_ col: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        let pad = kernel / 2, ho = outHeight, wo = outWidth
        for c in 0..<inChannels {
            let xc = dx + c * height * width
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let row = col + ((c * kernel + ky) * kernel + kx) * ho * wo
                    for oy in 0..<ho {
                        let iy = oy * stride + ky - pad
                        if iy < 0 || iy >= height { continue }
                        let xr = xc + iy * width
                        let r = row + oy * wo
                        for ox in 0..<wo {
                            let ix = ox * stride + kx - pad
                            if ix >= 0 && ix < width { xr[ix] += r[ox] }
                        }
                    }
                }
            }
        }
    }

    /// y[batch, out, ho, wo] = conv(x) + b.
    public func forward(_ p: Parameters, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int,
                        col: Tensor) {
        let hw = colCols
        for b in 0..<batch {
            let xb = x + b * inSize, yb = y + b * outSize
            let src: UnsafePointer<Float>
            if kernel == 1 && stride == 1 { src = xb } else { im2col(xb, col.data); src = UnsafePointer(col.data) }
            BLAS.gemm(m: outChannels, n: hw, k: colRows, a: p.values + weight, lda: colRows, b: src, ldb: hw,
                      c: yb, ldc: hw)
            for o in 0..<outChannels {
                let bv = p.values[bias + o]
                let r = yb + o * hw
                for i in 0..<hw { r[i] += bv }
            }
        }
    }

    /// Backward: accumulates weight and bias gradients, writes (or adds, with
    /// `accumulateInput`) dx when given.
    public func backward(_ p: Parameters, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, col: Tensor, paramGrads: Bool = true,
                         accumulateInput: Bool = false) {
        let hw = colCols
        let direct = kernel == 1 && stride == 1
        for b in 0..<batch {
            let xb = x + b * inSize, dyb = dy + b * outSize
            if paramGrads {
                let src: UnsafePointer<Float>
                if direct { src = xb } else { im2col(xb, col.data); src = UnsafePointer(col.data) }
                BLAS.gemm(transB: true, m: outChannels, n: colRows, k: hw, a: dyb, lda: hw, b: src, ldb: hw,
                          beta: 1, c: p.grads + weight, ldc: colRows)
                for o in 0..<outChannels {
                    var s: Float = 0
                    let r = dyb + o * hw
                    for i in 0..<hw { s += r[i] }
                    p.grads[bias + o] += s
                }
            }
            guard let dx else { continue }
            let dxb = dx + b * inSize
            if direct {
                BLAS.gemm(transA: true, m: colRows, n: hw, k: outChannels, a: p.values + weight, lda: colRows,
                          b: dyb, ldb: hw, beta: accumulateInput ? 1 : 0, c: dxb, ldc: hw)
            } else {
                BLAS.gemm(transA: true, m: colRows, n: hw, k: outChannels, a: p.values + weight, lda: colRows,
                          b: dyb, ldb: hw, c: col.data, ldc: hw)
                if !accumulateInput { dxb.update(repeating: 0, count: inSize) }
                col2imAdd(col.data, dxb)
            }
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
