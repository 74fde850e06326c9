import XCTest
import NN

final class LayerGradientTests: XCTestCase {
    let checker = GradientChecker()

    func testLinear() {
        var l = ParameterLayout()
        let lin = Linear(&l, "fc", in: 5, out: 4)
        let p = randomParameters(l)
        let batch = 3
        checker.check(name: "Linear", p: p, input: randomArray(batch * 5, seed: 1), outputCount: batch * 4,
                      forward: { x in
                          var y = [Float](repeating: 0, count: batch * 4)
                          lin.forward(p, x, &y, batch: batch); return y
                      },
                      backward: { x, dy in
                          var dx = [Float](repeating: 0, count: batch * 5)
                          lin.backward(p, x: x, dy: dy, dx: &dx, batch: batch); return dx
                      })
    }

    func testSiLU() {
        let n = 20
        checker.check(name: "SiLU", p: nil, input: randomArray(n, seed: 2, scale: 2), outputCount: n,
                      forward: { x in var y = [Float](repeating: 0, count: n); SiLU.forward(x, &y, count: n); return y },
                      backward: { x, dy in
                          var dx = [Float](repeating: 0, count: n)
                          var s = [Float](repeating: 0, count: n), y = s
                          SiLU.forward(x, &y, count: n, sigmoid: &s)
                          SiLU.backward(x: x, sigmoid: s, dy: dy, dx: &dx, count: n)
                          var dx2 = [Float](repeating: 0, count: n)
                          SiLU.backward(x: x, dy: dy, dx: &dx2, count: n)
                          XCTAssertEqual(dx, dx2)
                          return dx
                      })
    }

    func testLayerNorm() {
        var l = ParameterLayout()
        let ln = LayerNorm(&l, "ln", features: 6)
        let p = randomParameters(l)
        let batch = 3
        let cache = ln.makeCache(batch: batch)
        checker.check(name: "LayerNorm", p: p, input: randomArray(batch * 6, seed: 3), outputCount: batch * 6,
                      forward: { x in var y = [Float](repeating: 0, count: batch * 6)
                          ln.forward(p, x, &y, batch: batch, cache: cache); return y },
                      backward: { x, dy in var dx = [Float](repeating: 0, count: batch * 6)
                          ln.backward(p, x: x, dy: dy, dx: &dx, batch: batch, cache: cache); return dx })
    }

    /// GroupNorm over 7 x 7 maps: the statistics' partial sums run over full 16-wide blocks and
    /// a tail (the 5-element maps above are all tail).
    func testGroupNormOnFeatureMaps() {
        var l = ParameterLayout()
        let gn = GroupNorm(&l, "gn", channels: 4, groups: 2, spatial: 49)
        let p = randomParameters(l)
        let batch = 2, n = batch * 4 * 49
        let cache = gn.makeCache(batch: batch)
        checker.check(name: "GroupNorm 7x7", p: p, input: randomArray(n, seed: 14, scale: 2), outputCount: n,
                      forward: { x in var y = [Float](repeating: 0, count: n)
                          gn.forward(p, x, &y, batch: batch, cache: cache); return y },
                      backward: { x, dy in var dx = [Float](repeating: 0, count: n)
                          gn.backward(p, x: x, dy: dy, dx: &dx, batch: batch, cache: cache); return dx })
        // The statistics themselves: with unit gain and zero bias every group comes out with
        // mean 0 and variance 1, and the stored mean is the group's (checked in Double).
        let plain = Parameters(layout: l)
        plain.initialize(seed: 1)
        let x = randomArray(n, seed: 15, scale: 3).map { $0 + 5 }
        var y = [Float](repeating: 0, count: n)
        gn.forward(plain, x, &y, batch: batch, cache: cache)
        for g in 0..<(batch * 2) {
            let xs = x[(g * 98)..<((g + 1) * 98)].map(Double.init), ys = y[(g * 98)..<((g + 1) * 98)].map(Double.init)
            XCTAssertEqual(Double(cache.mean.data[g]), xs.reduce(0, +) / 98, accuracy: 1e-5)
            let m = ys.reduce(0, +) / 98, v = ys.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 98
            XCTAssertEqual(m, 0, accuracy: 1e-5)
            XCTAssertEqual(v, 1, accuracy: 1e-3)
        }
    }

    func testGroupNorm() {
        var l = ParameterLayout()
        let gn = GroupNorm(&l, "gn", channels: 4, groups: 2, spatial: 5)
        let p = randomParameters(l)
        let batch = 2, n = batch * 4 * 5
        let cache = gn.makeCache(batch: batch)
        checker.check(name: "GroupNorm", p: p, input: randomArray(n, seed: 4), outputCount: n,
                      forward: { x in var y = [Float](repeating: 0, count: n)
                          gn.forward(p, x, &y, batch: batch, cache: cache); return y },
                      backward: { x, dy in var dx = [Float](repeating: 0, count: n)
                          gn.backward(p, x: x, dy: dy, dx: &dx, batch: batch, cache: cache); return dx })
    }

    /// `chunk`: samples per GEMM of the im2col backend (1: the per-sample convolution).
    func checkConv(kernel: Int, stride: Int, batch: Int = 2, chunk: Int = 1, backend: ConvBackend = .im2col,
                   file: StaticString = #filePath, line: UInt = #line) {
        var l = ParameterLayout()
        var conv = Conv2D(&l, "conv", in: 2, out: 3, kernel: kernel, stride: stride, height: 6, width: 5)
        conv.backend = backend
        let p = randomParameters(l)
        let col = conv.makeCache(batch: chunk, budget: chunk * conv.scratchPerSample)
        checker.check(name: "Conv2D \(backend) k\(kernel) s\(stride) chunk \(chunk)", p: p, input: randomArray(batch * conv.inSize, seed: 5),
                      outputCount: batch * conv.outSize,
                      forward: { x in var y = [Float](repeating: 0, count: batch * conv.outSize)
                          conv.forward(p, x, &y, batch: batch, col: col); return y },
                      backward: { x, dy in var dx = [Float](repeating: 0, count: batch * conv.inSize)
                          conv.backward(p, x: x, dy: dy, dx: &dx, batch: batch, col: col); return dx },
                      file: file, line: line)
    }

    func testConv3x3Stride1() { checkConv(kernel: 3, stride: 1) }
    func testConv3x3Stride2() { checkConv(kernel: 3, stride: 2) }
    func testConv1x1() { checkConv(kernel: 1, stride: 1) }
    /// Batched: three samples in chunks of two (one full chunk, one partial).
    func testBatchedConvGradients() {
        for (k, s) in [(3, 1), (3, 2), (1, 1)] { checkConv(kernel: k, stride: s, batch: 3, chunk: 2) }
    }
    /// `auto` picks oneDNN for 3x3 kernels with 16 or more channels in and out, im2col elsewhere.
    func testAutomaticBackendFollowsTheShapeRule() {
        var l = ParameterLayout()
        var wide = Conv2D(&l, "a", in: 16, out: 32, kernel: 3, height: 8, width: 8)
        let stem = Conv2D(&l, "b", in: 1, out: 16, kernel: 3, height: 8, width: 8)
        let skip = Conv2D(&l, "c", in: 32, out: 32, kernel: 1, height: 8, width: 8)
        let head = Conv2D(&l, "d", in: 16, out: 1, kernel: 3, height: 8, width: 8)
        XCTAssertEqual(ConvBackend.current, .auto)
        XCTAssertEqual([wide, stem, skip, head].map(\.resolvedBackend), [.onednn, .im2col, .im2col, .im2col])
        wide.backend = .im2col
        XCTAssertEqual(wide.resolvedBackend, .im2col)
    }

    /// The oneDNN backend's backward pass against finite differences.
    func testOneDNNConvGradients() {
        for (k, s) in [(3, 1), (3, 2), (1, 1)] { checkConv(kernel: k, stride: s, batch: 3, backend: .onednn) }
    }

    /// oneDNN's convolution against im2col + GEMM: outputs, parameter gradients (added to
    /// gradients already there) and input gradients (written, and added) agree to rounding over
    /// one-channel inputs, odd and even sides, non-square maps, strides 1 and 2, 1x1 kernels, a
    /// batch of one and a batch that oneDNN runs in two chunks. A wrong padding, layout or accumulation rule moves whole entries.
    func testOneDNNMatchesIm2col() {
        let shapes = [(cin: 1, cout: 16, h: 28, w: 28, k: 3, s: 1), (cin: 16, cout: 8, h: 8, w: 8, k: 3, s: 2),
                      (cin: 5, cout: 7, h: 7, w: 7, k: 3, s: 2), (cin: 3, cout: 4, h: 6, w: 5, k: 3, s: 1),
                      (cin: 6, cout: 3, h: 7, w: 7, k: 1, s: 1), (cin: 32, cout: 32, h: 7, w: 7, k: 3, s: 1)]
        for (n, shape) in shapes.enumerated() {
            // 1 and 3 samples, and (on the small maps) more than a oneDNN chunk: 32 + 5.
            for batch in shape.h <= 8 ? [1, 3, Conv2D.oneDNNChunk + 5] : [1, 3] {
                var l = ParameterLayout()
                var conv = Conv2D(&l, "conv", in: shape.cin, out: shape.cout, kernel: shape.k, stride: shape.s,
                                  height: shape.h, width: shape.w)
                let p = randomParameters(l)
                let x = randomArray(batch * conv.inSize, seed: 20 + n), dy = randomArray(batch * conv.outSize, seed: 40 + n)
                let initialGrads = randomArray(p.count, seed: 60 + n)
                func run(_ backend: ConvBackend, accumulate: Bool) -> [[Float]] {
                    conv.backend = backend
                    let col = conv.makeCache(batch: batch)
                    var y = [Float](repeating: 0, count: batch * conv.outSize)
                    var dx = [Float](repeating: accumulate ? 0.5 : 9, count: batch * conv.inSize)
                    _ = p.gradBuffer.update(fromContentsOf: initialGrads)
                    conv.forward(p, x, &y, batch: batch, col: col)
                    conv.backward(p, x: x, dy: dy, dx: &dx, batch: batch, col: col, accumulateInput: accumulate)
                    return [y, dx, Array(p.gradBuffer)]
                }
                for accumulate in [false, true] {
                    let a = run(.im2col, accumulate: accumulate), b = run(.onednn, accumulate: accumulate)
                    for (what, i) in [("y", 0), ("dx", 1), ("grads", 2)] {
                        XCTAssertEqual(a[i].count, b[i].count)
                        let scale = a[i].map { abs($0) }.max() ?? 1
                        let worst = zip(a[i], b[i]).map { abs($0 - $1) }.max() ?? 0
                        XCTAssertLessThan(worst, 1e-5 * max(1, scale),
                                          "\(shape) batch \(batch) accumulate \(accumulate): \(what) differs by \(worst)")
                    }
                }
            }
        }
    }

    /// The batched convolution (chunks of 1, 2, 3 and 5 samples) against the per-sample one:
    /// outputs, input gradients and parameter gradients agree to rounding, with and without
    /// accumulation into dx.
    func testBatchedConvMatchesPerSample() {
        for (k, s) in [(3, 1), (3, 2), (1, 1)] {
            var l = ParameterLayout()
            var conv = Conv2D(&l, "conv", in: 3, out: 4, kernel: k, stride: s, height: 7, width: 7)
            conv.backend = .im2col
            let p = randomParameters(l)
            let batch = 5
            let x = randomArray(batch * conv.inSize, seed: 11), dy = randomArray(batch * conv.outSize, seed: 12)
            func run(chunk: Int) -> ([Float], [Float], [Float]) {
                let col = conv.makeCache(batch: chunk, budget: chunk * conv.scratchPerSample)
                var y = [Float](repeating: 0, count: batch * conv.outSize)
                var dx = [Float](repeating: 1, count: batch * conv.inSize)
                p.zeroGrads()
                conv.forward(p, x, &y, batch: batch, col: col)
                conv.backward(p, x: x, dy: dy, dx: &dx, batch: batch, col: col, accumulateInput: true)
                return (y, dx, Array(p.gradBuffer))
            }
            let reference = run(chunk: 1)
            for chunk in [2, 3, 5] {
                let r = run(chunk: chunk)
                for (a, b, what) in [(r.0, reference.0, "y"), (r.1, reference.1, "dx"), (r.2, reference.2, "grads")] {
                    XCTAssertEqual(a.count, b.count)
                    for i in 0..<a.count {
                        XCTAssertEqual(a[i], b[i], accuracy: 1e-5 * max(1, abs(b[i])), "k\(k) s\(s) chunk \(chunk) \(what)[\(i)]")
                    }
                }
            }
        }
    }

    /// A 3x3 convolution against a direct nested-loop convolution, with either backend.
    func testConvMatchesDirectConvolution() {
      for backend in [ConvBackend.im2col, .onednn] {
        var l = ParameterLayout()
        var conv = Conv2D(&l, "conv", in: 2, out: 3, kernel: 3, stride: 2, height: 5, width: 6)
        conv.backend = backend
        let p = randomParameters(l)
        let x = randomArray(conv.inSize, seed: 9)
        var y = [Float](repeating: 0, count: conv.outSize)
        conv.forward(p, x, &y, batch: 1, col: conv.makeCache())
        for o in 0..<3 {
            for oy in 0..<conv.outHeight {
                for ox in 0..<conv.outWidth {
                    var s = p.values[conv.bias + o]
                    for c in 0..<2 { for ky in 0..<3 { for kx in 0..<3 {
                        let iy = oy * 2 + ky - 1, ix = ox * 2 + kx - 1
                        guard iy >= 0, iy < 5, ix >= 0, ix < 6 else { continue }
                        s += p.values[conv.weight + ((o * 2 + c) * 3 + ky) * 3 + kx] * x[(c * 5 + iy) * 6 + ix]
                    } } }
                    XCTAssertEqual(y[(o * conv.outHeight + oy) * conv.outWidth + ox], s, accuracy: 1e-5, "\(backend)")
                }
            }
        }
      }
    }

    /// At stride 1 the im2col rows are shifted copies of the input plane and col2im adds them
    /// back as contiguous runs: both equal the row-by-row reference bit for bit (im2col exactly;
    /// col2im too, since each input pixel receives its taps in the same order), over maps
    /// whose side padding falls on the first and last columns, a chunk layout (ld wider than one
    /// sample), and maps one pixel high or wide (where some taps read no image row at all).
    func testShiftedIm2colMatchesRowByRow() {
        for (h, w, c) in [(6, 5, 2), (4, 4, 3), (28, 28, 2), (7, 7, 1), (1, 3, 2), (3, 1, 1)] {
            var l = ParameterLayout()
            let conv = Conv2D(&l, "conv", in: c, out: 2, kernel: 3, stride: 1, height: h, width: w)
            let hw = h * w, ld = 2 * hw + 3, rows = c * 9
            let x = randomArray(c * hw, seed: 21 + h)
            var fast = [Float](repeating: .nan, count: rows * ld), reference = fast
            x.withUnsafeBufferPointer { xp in
                fast.withUnsafeMutableBufferPointer { conv.im2colShifted(xp.baseAddress!, $0.baseAddress! + hw, ld: ld) }
                reference.withUnsafeMutableBufferPointer { conv.im2colByRows(xp.baseAddress!, $0.baseAddress! + hw, ld: ld) }
            }
            for r in 0..<rows {
                for i in 0..<hw {
                    XCTAssertEqual(fast[r * ld + hw + i].bitPattern, reference[r * ld + hw + i].bitPattern,
                                   "im2col \(h)x\(w) row \(r) pixel \(i)")
                }
            }
            // col2im of a random column matrix onto a random dx.
            let cols = randomArray(rows * ld, seed: 31 + w)
            var colFast = cols, colReference = cols
            var dxFast = randomArray(c * hw, seed: 41), dxReference = dxFast
            colFast.withUnsafeMutableBufferPointer { cp in
                dxFast.withUnsafeMutableBufferPointer { conv.col2imAddShifted(cp.baseAddress! + hw, $0.baseAddress!, ld: ld) }
            }
            colReference.withUnsafeMutableBufferPointer { cp in
                dxReference.withUnsafeMutableBufferPointer { conv.col2imAddByRows(UnsafePointer(cp.baseAddress! + hw), $0.baseAddress!, ld: ld) }
            }
            for i in 0..<(c * hw) {
                XCTAssertEqual(dxFast[i].bitPattern, dxReference[i].bitPattern, "col2im \(h)x\(w) pixel \(i)")
            }
        }
    }

    /// A 3 x 3 stride-1 convolution against direct nested loops in Double: output, input
    /// gradient and weight and bias gradients.
    func testStride1ConvMatchesDirectConvolution() {
        let (cin, cout, h, w) = (3, 2, 7, 6)
        var l = ParameterLayout()
        let conv = Conv2D(&l, "conv", in: cin, out: cout, kernel: 3, stride: 1, height: h, width: w)
        let p = randomParameters(l)
        let x = randomArray(conv.inSize, seed: 51), dy = randomArray(conv.outSize, seed: 52)
        var y = [Float](repeating: 0, count: conv.outSize), dx = [Float](repeating: 0, count: conv.inSize)
        p.zeroGrads()
        let col = conv.makeCache()
        conv.forward(p, x, &y, batch: 1, col: col)
        conv.backward(p, x: x, dy: dy, dx: &dx, batch: 1, col: col)
        var yRef = [Double](repeating: 0, count: conv.outSize), dxRef = [Double](repeating: 0, count: conv.inSize)
        var dwRef = [Double](repeating: 0, count: cout * cin * 9), dbRef = [Double](repeating: 0, count: cout)
        for o in 0..<cout {
            for oy in 0..<h {
                for ox in 0..<w {
                    let oi = (o * h + oy) * w + ox
                    var s = Double(p.values[conv.bias + o])
                    dbRef[o] += Double(dy[oi])
                    for c in 0..<cin { for ky in 0..<3 { for kx in 0..<3 {
                        let iy = oy + ky - 1, ix = ox + kx - 1
                        guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                        let wi = ((o * cin + c) * 3 + ky) * 3 + kx, xi = (c * h + iy) * w + ix
                        s += Double(p.values[conv.weight + wi]) * Double(x[xi])
                        dxRef[xi] += Double(p.values[conv.weight + wi]) * Double(dy[oi])
                        dwRef[wi] += Double(x[xi]) * Double(dy[oi])
                    } } }
                    yRef[oi] = s
                }
            }
        }
        for i in 0..<y.count { XCTAssertEqual(Double(y[i]), yRef[i], accuracy: 1e-5, "y[\(i)]") }
        for i in 0..<dx.count { XCTAssertEqual(Double(dx[i]), dxRef[i], accuracy: 1e-5, "dx[\(i)]") }
        for i in 0..<dwRef.count { XCTAssertEqual(Double(p.grads[conv.weight + i]), dwRef[i], accuracy: 1e-4, "dw[\(i)]") }
        for o in 0..<cout { XCTAssertEqual(Double(p.grads[conv.bias + o]), dbRef[o], accuracy: 1e-4, "db[\(o)]") }
    }

    func testUpsample() {
        let up = Upsample2x(channels: 2, height: 3, width: 2)
        let batch = 2
        checker.check(name: "Upsample2x", p: nil, input: randomArray(batch * up.inSize, seed: 6),
                      outputCount: batch * up.outSize,
                      forward: { x in var y = [Float](repeating: 0, count: batch * up.outSize)
                          up.forward(x, &y, batch: batch); return y },
                      backward: { _, dy in var dx = [Float](repeating: 0, count: batch * up.inSize)
                          up.backward(dy: dy, dx: &dx, batch: batch); return dx })
    }

    func testFourierEmbedding() {
        let emb = FourierEmbedding(dimension: 8)
        let batch = 4
        // Frequencies reach 2 pi * 8: a smaller step keeps the central difference's
        // third-order error (~ (f eps)^2) below the tolerance.
        var fine = checker
        fine.epsilon = 1e-3
        fine.check(name: "FourierEmbedding", p: nil, input: randomArray(batch, seed: 7, scale: 0.5),
                      outputCount: batch * 8,
                      forward: { c in var y = [Float](repeating: 0, count: batch * 8)
                          emb.forward(c, &y, batch: batch); return y },
                      backward: { c, dy in var dc = [Float](repeating: 0, count: batch)
                          emb.backward(c, dy: dy, dc: &dc, batch: batch); return dc })
    }

    func testResidualMLPBlock() {
        var l = ParameterLayout()
        let blk = ResidualMLPBlock(&l, "blk", width: 6, embedding: 4)
        let p = randomParameters(l)
        let batch = 3
        let emb = randomArray(batch * 4, seed: 8)
        let cache = blk.makeCache(batch: batch)
        checker.check(name: "ResidualMLPBlock", p: p, input: randomArray(batch * 6, seed: 9), outputCount: batch * 6,
                      forward: { x in var y = [Float](repeating: 0, count: batch * 6)
                          blk.forward(p, x, emb: emb, &y, batch: batch, cache: cache); return y },
                      backward: { x, dy in var dx = [Float](repeating: 0, count: batch * 6)
                          blk.backward(p, x: x, emb: emb, dy: dy, dx: &dx, dEmb: nil, batch: batch, cache: cache)
                          return dx })
    }

    func testResidualConvBlock() {
        for (cin, cout) in [(2, 4), (4, 4)] {
            var l = ParameterLayout()
            let blk = ResidualConvBlock(&l, "blk", in: cin, out: cout, height: 4, width: 3, embedding: 4, groups: 2)
            let p = randomParameters(l)
            let batch = 2
            let emb = randomArray(batch * 4, seed: 10)
            let cache = blk.makeCache(batch: batch)
            checker.check(name: "ResidualConvBlock \(cin)->\(cout)", p: p, input: randomArray(batch * blk.inSize, seed: 11),
                          outputCount: batch * blk.outSize,
                          forward: { x in var y = [Float](repeating: 0, count: batch * blk.outSize)
                              blk.forward(p, x, emb: emb, &y, batch: batch, cache: cache); return y },
                          backward: { x, dy in var dx = [Float](repeating: 0, count: batch * blk.inSize)
                              blk.backward(p, x: x, emb: emb, dy: dy, dx: &dx, dEmb: nil, batch: batch, cache: cache)
                              return dx })
        }
    }

    func checkNetwork(_ net: ConditionalNetwork, name: String, file: StaticString = #filePath, line: UInt = #line) {
        let p = randomParameters(net.layout)
        let batch = 3
        let c = randomArray(batch, seed: 12, scale: 0.5)
        let ws = net.makeWorkspace(batch: batch)
        checker.check(name: name, p: p, input: randomArray(batch * net.inputSize, seed: 13),
                      outputCount: batch * net.outputSize,
                      forward: { x in var y = [Float](repeating: 0, count: batch * net.outputSize)
                          net.forward(p, x: x, c: c, out: &y, batch: batch, workspace: ws); return y },
                      backward: { _, dy in var dx = [Float](repeating: 0, count: batch * net.inputSize)
                          net.backward(p, dOut: dy, dx: &dx, batch: batch, workspace: ws, paramGrads: true)
                          return dx },
                      file: file, line: line)
    }

    func testPlainMLPNetwork() { checkNetwork(MLPNetwork(inputSize: 4, hidden: 7, depth: 3, embeddingSize: 6), name: "MLP") }
    func testResidualMLPNetwork() {
        checkNetwork(MLPNetwork(inputSize: 4, hidden: 7, depth: 3, embeddingSize: 6, residual: true), name: "ResMLP")
    }

    /// Input gradients without parameter gradients (the generator's vector-Jacobian product)
    /// equal those of a full backward pass and leave `grads` untouched.
    func testInputOnlyBackward() {
        let net = MLPNetwork(inputSize: 4, hidden: 8, depth: 2, embeddingSize: 4)
        let p = randomParameters(net.layout)
        let ws = net.makeWorkspace(batch: 2)
        let x = randomArray(8, seed: 20), c: [Float] = [0.1, -0.3], dy = randomArray(8, seed: 21)
        var y = [Float](repeating: 0, count: 8), dx1 = y, dx2 = y
        net.forward(p, x: x, c: c, out: &y, batch: 2, workspace: ws)
        p.zeroGrads()
        net.backward(p, dOut: dy, dx: &dx1, batch: 2, workspace: ws, paramGrads: false)
        XCTAssertEqual(gradientNorm(p.grads, count: p.count), 0)
        net.backward(p, dOut: dy, dx: &dx2, batch: 2, workspace: ws, paramGrads: true)
        XCTAssertEqual(dx1, dx2)
        XCTAssertGreaterThan(gradientNorm(p.grads, count: p.count), 0)
    }

    /// The same definition with three parameter sets gives three different functions.
    func testOneDefinitionManyParameterSets() {
        let net = MLPNetwork(inputSize: 3, hidden: 5, depth: 2)
        let sets = (1...3).map { s -> Parameters in let p = Parameters(layout: net.layout); p.initialize(seed: UInt64(s)); return p }
        let ws = net.makeWorkspace(batch: 1)
        var outs: [[Float]] = []
        for p in sets {
            var y = [Float](repeating: 0, count: 3)
            net.forward(p, x: [0.5, -1, 2], c: [0.2], out: &y, batch: 1, workspace: ws)
            outs.append(y)
        }
        XCTAssertNotEqual(outs[0], outs[1]); XCTAssertNotEqual(outs[1], outs[2])
        sets[2].copyValues(from: sets[0])
        var y = [Float](repeating: 0, count: 3)
        net.forward(sets[2], x: [0.5, -1, 2], c: [0.2], out: &y, batch: 1, workspace: ws)
        XCTAssertEqual(y, outs[0])
    }
}

final class UNetGradientTests: XCTestCase {
    func testUNetNetwork() {
        let net = UNetNetwork(side: 8, channels: 8, embedding: 4)
        let p = randomParameters(net.layout)
        let batch = 2
        let c = randomArray(batch, seed: 30, scale: 0.5)
        let ws = net.makeWorkspace(batch: batch)
        GradientChecker(samplesPerTensor: 8).check(
            name: "UNet", p: p, input: randomArray(batch * 64, seed: 31), outputCount: batch * 64,
            forward: { x in var y = [Float](repeating: 0, count: batch * 64)
                net.forward(p, x: x, c: c, out: &y, batch: batch, workspace: ws); return y },
            backward: { _, dy in var dx = [Float](repeating: 0, count: batch * 64)
                net.backward(p, dOut: dy, dx: &dx, batch: batch, workspace: ws, paramGrads: true)
                return dx })
    }
}

extension UNetGradientTests {
    /// The class-conditional U-Net: gradients through the label table (a class, and "no class"
    /// passed as the label `classes`), and different labels give different outputs.
    func testConditionalUNetNetwork() {
        let net = UNetNetwork(side: 8, channels: 8, embedding: 4, classes: 3)
        let p = randomParameters(net.layout)
        let batch = 2
        let c = randomArray(batch, seed: 32, scale: 0.5)
        let labels: [Int32] = [1, 3]
        let ws = net.makeWorkspace(batch: batch)
        GradientChecker(samplesPerTensor: 8).check(
            name: "conditional UNet", p: p, input: randomArray(batch * 64, seed: 33), outputCount: batch * 64,
            forward: { x in var y = [Float](repeating: 0, count: batch * 64)
                net.forward(p, x: x, c: c, labels: labels, out: &y, batch: batch, workspace: ws); return y },
            backward: { _, dy in var dx = [Float](repeating: 0, count: batch * 64)
                net.backward(p, dOut: dy, dx: &dx, batch: batch, workspace: ws, paramGrads: true)
                return dx })
        let x = randomArray(batch * 64, seed: 34)
        var a = [Float](repeating: 0, count: batch * 64), b = a, none = a
        net.forward(p, x: x, c: c, labels: [0, 0], out: &a, batch: batch, workspace: ws)
        net.forward(p, x: x, c: c, labels: [2, 2], out: &b, batch: batch, workspace: ws)
        net.forward(p, x: x, c: c, labels: nil, out: &none, batch: batch, workspace: ws)
        var noClass = a
        net.forward(p, x: x, c: c, labels: [3, 3], out: &noClass, batch: batch, workspace: ws)
        XCTAssertNotEqual(a, b, "the label must change the output")
        XCTAssertEqual(none, noClass, "no labels is the \"no class\" label")
    }
}

final class EDMUNetGradientTests: XCTestCase {
    /// The whole EDM-style U-Net by finite differences: two resolutions, two blocks per level
    /// (with skips from every encoder stage), attention at the lower resolution and in the
    /// middle, three image channels, class-conditional.
    func testEDMUNetNetwork() {
        let net = EDMUNetNetwork(side: 4, imageChannels: 3, channels: 4, multipliers: [1, 2], blocks: 2, attentionLevels: [1],
                                 embedding: 4, classes: 2)
        let p = randomParameters(net.layout)
        let batch = 2, n = net.inputSize
        XCTAssertEqual(n, 48)
        let c = randomArray(batch, seed: 50, scale: 0.5)
        let labels: [Int32] = [0, 2]
        let ws = net.makeWorkspace(batch: batch)
        // Enough samples per tensor to reach past the key bias of each attention map, whose
        // gradient is exactly zero (a constant added to every key score leaves the softmax).
        GradientChecker(samplesPerTensor: 32).check(
            name: "EDM U-Net", p: p, input: randomArray(batch * n, seed: 51), outputCount: batch * n,
            forward: { x in var y = [Float](repeating: 0, count: batch * n)
                net.forward(p, x: x, c: c, labels: labels, out: &y, batch: batch, workspace: ws); return y },
            backward: { _, dy in var dx = [Float](repeating: 0, count: batch * n)
                net.backward(p, dOut: dy, dx: &dx, batch: batch, workspace: ws, paramGrads: true)
                return dx })
    }

    /// Dropout in every residual block: the whole network's gradient with the masks of one
    /// key (finite differences redraw the same masks); sample k's masks follow its global index,
    /// so a batch that starts at index 1 gives the second sample of a batch from index 0 the
    /// same output; without a key (sampling) nothing is dropped, and the output equals the
    /// dropout-free network's with the same parameters.
    func testEDMUNetDropout() {
        let net = EDMUNetNetwork(side: 4, imageChannels: 1, channels: 4, multipliers: [1, 2], blocks: 1, attentionLevels: [],
                                 embedding: 4, dropout: 0.3)
        let plain = EDMUNetNetwork(side: 4, imageChannels: 1, channels: 4, multipliers: [1, 2], blocks: 1, attentionLevels: [],
                                   embedding: 4)
        XCTAssertEqual(net.layout.count, plain.layout.count)
        let p = randomParameters(net.layout)
        let batch = 2, n = net.inputSize
        let x = randomArray(batch * n, seed: 54), c = randomArray(batch, seed: 55, scale: 0.5)
        let ws = net.makeWorkspace(batch: batch)
        let key = DropoutKey(seed: 9, step: 4, firstIndex: 0)
        net.setDropout(key, workspace: ws)
        GradientChecker(samplesPerTensor: 24).check(
            name: "EDM U-Net with dropout", p: p, input: x, outputCount: batch * n,
            forward: { x in var y = [Float](repeating: 0, count: batch * n)
                net.forward(p, x: x, c: c, out: &y, batch: batch, workspace: ws); return y },
            backward: { _, dy in var dx = [Float](repeating: 0, count: batch * n)
                net.backward(p, dOut: dy, dx: &dx, batch: batch, workspace: ws, paramGrads: true)
                return dx })
        var dropped = [Float](repeating: 0, count: batch * n), second = [Float](repeating: 0, count: n)
        net.forward(p, x: x, c: c, out: &dropped, batch: batch, workspace: ws)
        let ws1 = net.makeWorkspace(batch: 1)
        net.setDropout(DropoutKey(seed: 9, step: 4, firstIndex: 1), workspace: ws1)
        net.forward(p, x: Array(x[n...]), c: [c[1]], out: &second, batch: 1, workspace: ws1)
        for i in 0..<n { XCTAssertEqual(dropped[n + i], second[i], accuracy: 1e-5 * max(1, abs(second[i]))) }
        var kept = [Float](repeating: 0, count: batch * n), reference = kept
        net.setDropout(nil, workspace: ws)
        net.forward(p, x: x, c: c, out: &kept, batch: batch, workspace: ws)
        plain.forward(p, x: x, c: c, out: &reference, batch: batch, workspace: plain.makeWorkspace(batch: batch))
        XCTAssertEqual(kept, reference)
        XCTAssertNotEqual(kept, dropped)
    }

    /// With the conditioning fixed, the MLP computes its noise-level terms on the first pass and
    /// reuses them: later passes on new inputs equal ordinary passes bit for bit, backward
    /// included; switched off (or on again), it recomputes for new noise levels.
    func testFixedConditioningReusesTheEmbeddingTerms() {
        let net = MLPNetwork(inputSize: 3, hidden: 16, depth: 3, embeddingSize: 8)
        let p = randomParameters(net.layout)
        let batch = 5
        let c = randomArray(batch, seed: 60), c2 = randomArray(batch, seed: 61)
        let fixed = net.makeWorkspace(batch: batch), plain = net.makeWorkspace(batch: batch)
        func run(_ ws: AnyObject, _ x: [Float], _ c: [Float]) -> ([Float], [Float]) {
            var y = [Float](repeating: 0, count: batch * 3), dx = y
            net.forward(p, x: x, c: c, out: &y, batch: batch, workspace: ws)
            net.backward(p, dOut: y, dx: &dx, batch: batch, workspace: ws, paramGrads: false)
            return (y, dx)
        }
        net.setFixedConditioning(true, workspace: fixed)
        for seed in 62..<66 {
            let x = randomArray(batch * 3, seed: seed)
            let a = run(fixed, x, c), b = run(plain, x, c)
            XCTAssertEqual(a.0, b.0)
            XCTAssertEqual(a.1, b.1)
        }
        let x = randomArray(batch * 3, seed: 70)
        XCTAssertNotEqual(run(fixed, x, c2).0, run(plain, x, c2).0, "fixed: the first noise levels are kept")
        net.setFixedConditioning(false, workspace: fixed)
        XCTAssertEqual(run(fixed, x, c2).0, run(plain, x, c2).0)
        net.setFixedConditioning(true, workspace: fixed)
        XCTAssertEqual(run(fixed, x, c2).0, run(plain, x, c2).0)
    }

    /// The mask keeps each element with probability 1 - p and scales it by 1 / (1 - p).
    func testDropoutMaskStatistics() {
        let size = 10_000, rate: Float = 0.25
        var x = [Float](repeating: 1, count: 2 * size), mask = x
        Dropout.apply(&x, mask: &mask, rate: rate, key: DropoutKey(seed: 1, step: 2, firstIndex: 5), stream: 3, batch: 2, size: size)
        let kept = x.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { $0 == 1 / (1 - rate) })
        XCTAssertEqual(Double(kept.count) / Double(2 * size), 0.75, accuracy: 0.015)
        XCTAssertEqual(x, mask)
        XCTAssertNotEqual(Array(mask[..<size]), Array(mask[size...]), "samples draw their own masks")
        var g = [Float](repeating: 2, count: 2 * size)
        Dropout.backward(&g, mask: mask, count: 2 * size)
        for i in 0..<(2 * size) { XCTAssertEqual(g[i], 2 * mask[i]) }
    }

    /// One sample in a batch of three equals the same sample alone (no mixing across samples).
    func testSamplesAreIndependent() {
        let net = EDMUNetNetwork(side: 8, imageChannels: 1, channels: 4, multipliers: [1, 2, 2], blocks: 1, attentionLevels: [2])
        let p = randomParameters(net.layout)
        let n = net.inputSize
        let x = randomArray(3 * n, seed: 52), c = randomArray(3, seed: 53)
        var three = [Float](repeating: 0, count: 3 * n), one = [Float](repeating: 0, count: n)
        net.forward(p, x: x, c: c, out: &three, batch: 3, workspace: net.makeWorkspace(batch: 3))
        net.forward(p, x: Array(x[n..<(2 * n)]), c: [c[1]], out: &one, batch: 1, workspace: net.makeWorkspace(batch: 1))
        for i in 0..<n { XCTAssertEqual(three[n + i], one[i], accuracy: 1e-5 * max(1, abs(one[i]))) }
    }
}

final class GradientHookTests: XCTestCase {
    /// The MLP reports, during its backward pass, offsets below which nothing is final yet and
    /// above which every gradient is: after each report the gradients at and above the offset
    /// already equal their final values.
    func testMLPReportsFinishedGradientsTopDown() {
        let net = MLPNetwork(inputSize: 5, hidden: 6, depth: 3, embeddingSize: 4)
        let p = randomParameters(net.layout)
        let batch = 3
        let ws = net.makeWorkspace(batch: batch)
        let x = randomArray(batch * 5, seed: 60), c = randomArray(batch, seed: 61), dy = randomArray(batch * 5, seed: 62)
        var y = [Float](repeating: 0, count: batch * 5)
        net.forward(p, x: x, c: c, out: &y, batch: batch, workspace: ws)
        p.zeroGrads()
        net.backward(p, dOut: dy, dx: nil, batch: batch, workspace: ws, paramGrads: true)
        let final = Array(p.gradBuffer)
        var reports: [Int] = [], snapshots: [[Float]] = []
        net.setGradientHook({ from in reports.append(from); snapshots.append(Array(p.gradBuffer[from...])) }, workspace: ws)
        p.zeroGrads()
        net.backward(p, dOut: dy, dx: nil, batch: batch, workspace: ws, paramGrads: true)
        XCTAssertEqual(reports.count, 4, "head and three hidden layers")
        XCTAssertEqual(reports, reports.sorted(by: >), "reports go from the top of the buffer down")
        XCTAssertEqual(reports.last, 0)
        for (from, snapshot) in zip(reports, snapshots) { XCTAssertEqual(snapshot, Array(final[from...]), "final above \(from)") }
    }
}

final class AttentionGradientTests: XCTestCase {
    /// Multi-head spatial self-attention: finite differences through the softmax, both maps
    /// and the norm, for one and two heads.
    func testSpatialAttention() {
        for heads in [1, 2] {
            var l = ParameterLayout()
            let att = SpatialAttention(&l, "att", channels: 4, heads: heads, height: 3, width: 2, groups: 2)
            let p = randomParameters(l)
            let batch = 2, n = att.size
            let cache = att.makeCache(batch: batch)
            GradientChecker().check(name: "SpatialAttention heads \(heads)", p: p, input: randomArray(batch * n, seed: 40),
                                    outputCount: batch * n,
                                    forward: { x in var y = [Float](repeating: 0, count: batch * n)
                                        att.forward(p, x, &y, batch: batch, cache: cache); return y },
                                    backward: { x, dy in var dx = [Float](repeating: 0, count: batch * n)
                                        att.backward(p, x: x, dy: dy, dx: &dx, batch: batch, cache: cache); return dx })
        }
    }

    /// Against a direct softmax attention in Double on one sample and one head.
    func testAttentionMatchesDirectComputation() {
        var l = ParameterLayout()
        let att = SpatialAttention(&l, "att", channels: 2, heads: 1, height: 2, width: 2, groups: 1)
        let p = randomParameters(l)
        let x = randomArray(att.size, seed: 41)
        var y = [Float](repeating: 0, count: att.size)
        let cache = att.makeCache(batch: 1)
        att.forward(p, x, &y, batch: 1, cache: cache)
        // Reference: GroupNorm (one group), 1x1 maps, softmax attention, 1x1 map, residual.
        let t = 4, c = 2
        let mean = x.reduce(0, +) / Float(x.count)
        let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(x.count)
        let v = p.values
        var h = [Double](repeating: 0, count: c * t)
        for ch in 0..<c { for s in 0..<t {
            h[ch * t + s] = Double((x[ch * t + s] - mean) / (variance + 1e-5).squareRoot() * v[att.norm.gamma + ch] + v[att.norm.beta + ch])
        } }
        func map(_ conv: Conv2D, _ input: [Double], out: Int) -> [Double] {
            var r = [Double](repeating: 0, count: out * t)
            for o in 0..<out { for s in 0..<t {
                var acc = Double(v[conv.bias + o])
                for i in 0..<c { acc += Double(v[conv.weight + o * c + i]) * input[i * t + s] }
                r[o * t + s] = acc
            } }
            return r
        }
        let qkv = map(att.qkv, h, out: 3 * c)
        var o = [Double](repeating: 0, count: c * t)
        for query in 0..<t {
            var w = (0..<t).map { key in (0..<c).reduce(0.0) { $0 + qkv[$1 * t + query] * qkv[(c + $1) * t + key] } / Double(c).squareRoot() }
            let m = w.max()!
            w = w.map { exp($0 - m) }
            let z = w.reduce(0, +)
            for i in 0..<c { o[i * t + query] = (0..<t).reduce(0.0) { $0 + qkv[(2 * c + i) * t + $1] * w[$1] / z } }
        }
        let out = map(att.proj, o, out: c)
        for i in 0..<(c * t) { XCTAssertEqual(Double(y[i]), Double(x[i]) + out[i], accuracy: 1e-4) }
    }
}

final class ActivationAccuracyTests: XCTestCase {
    /// The vectorised SiLU agrees with x / (1 + exp(-x)) in Double over a wide range, in both
    /// the 8-lane body and the scalar tail.
    func testVectorisedSiLUMatchesReference() {
        let n = 20_003
        let x = (0..<n).map { Float($0 - n / 2) * 0.01 }   // [-100, 100]
        var y = [Float](repeating: 0, count: n), s = y, dx = y
        SiLU.forward(x, &y, count: n, sigmoid: &s)
        let ones = [Float](repeating: 1, count: n)
        SiLU.backward(x: x, dy: ones, dx: &dx, count: n)
        for i in 0..<n {
            let xd = Double(x[i]), sd = 1 / (1 + exp(-xd))
            XCTAssertEqual(Double(y[i]), xd * sd, accuracy: 1e-6 * max(1, abs(xd)), "silu(\(x[i]))")
            XCTAssertEqual(Double(s[i]), sd, accuracy: 1e-6, "sigmoid(\(x[i]))")
            XCTAssertEqual(Double(dx[i]), sd + xd * sd * (1 - sd), accuracy: 1e-5, "silu'(\(x[i]))")
        }
    }
}
