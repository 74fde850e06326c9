import XCTest
import NN

final class OptimizerTests: XCTestCase {
    func makeParams(_ values: [Float], grads: [Float]) -> Parameters {
        var l = ParameterLayout()
        _ = l.add("w", shape: [values.count], init: .zeros)
        let p = Parameters(layout: l)
        for i in values.indices { p.values[i] = values[i]; p.grads[i] = grads[i] }
        return p
    }

    /// Two Adam steps against the formulas evaluated by hand in Double.
    func testAdamMatchesHandComputedSteps() {
        let p = makeParams([1.0, -2.0], grads: [0.5, -0.1])
        let opt = Adam(count: 2, learningRate: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 1e-8)
        opt.update(p)
        // Step 1: m = 0.1 g, v = 0.01 g^2, mhat = g, vhat = g^2, w -= lr * g/|g| = lr * sign(g).
        XCTAssertEqual(p.values[0], 0.9, accuracy: 1e-6)
        XCTAssertEqual(p.values[1], -1.9, accuracy: 1e-6)
        p.grads[0] = 1.0; p.grads[1] = 0.2
        opt.update(p)
        var w = [0.9, -1.9]
        let g1 = [0.5, -0.1], g2 = [1.0, 0.2]
        for i in 0..<2 {
            let m = 0.9 * (0.1 * g1[i]) + 0.1 * g2[i]
            let v = 0.99 * (0.01 * g1[i] * g1[i]) + 0.01 * g2[i] * g2[i]
            let mh = m / (1 - 0.81), vh = v / (1 - 0.9801)
            w[i] -= 0.1 * mh / (vh.squareRoot() + 1e-8)
            XCTAssertEqual(Double(p.values[i]), w[i], accuracy: 1e-5)
        }
    }

    /// The 8-lane body and the scalar tail agree with the formula (19 elements: two vectors and
    /// a tail of 3), over three steps.
    func testAdamVectorBodyMatchesFormula() {
        let n = 19
        let w0 = (0..<n).map { Float($0) * 0.1 - 0.9 }
        let p = makeParams(w0, grads: [Float](repeating: 0, count: n))
        let opt = Adam(count: n, learningRate: 0.05, beta1: 0.8, beta2: 0.95, epsilon: 1e-6)
        var w = w0.map(Double.init), m = [Double](repeating: 0, count: n), v = m
        for t in 1...3 {
            for i in 0..<n { p.grads[i] = Float(sin(Double(i * t))) }
            opt.update(p)
            for i in 0..<n {
                let g = Double(p.grads[i])
                m[i] = 0.8 * m[i] + 0.2 * g; v[i] = 0.95 * v[i] + 0.05 * g * g
                w[i] -= 0.05 * (m[i] / (1 - pow(0.8, Double(t)))) / ((v[i] / (1 - pow(0.95, Double(t)))).squareRoot() + 1e-6)
            }
        }
        for i in 0..<n { XCTAssertEqual(Double(p.values[i]), w[i], accuracy: 1e-5, "element \(i)") }
    }

    func testAdamWDecouplesWeightDecay() {
        let p = makeParams([2.0], grads: [0.0])
        let opt = Adam(count: 1, learningRate: 0.1, weightDecay: 0.5, decoupledWeightDecay: true)
        opt.update(p)
        // Zero gradient: only the decoupled decay acts, w *= (1 - lr * wd).
        XCTAssertEqual(p.values[0], 2.0 * (1 - 0.05), accuracy: 1e-6)
        let q = makeParams([2.0], grads: [0.0])
        let l2 = Adam(count: 1, learningRate: 0.1, weightDecay: 0.5, decoupledWeightDecay: false)
        l2.update(q)
        // Coupled (L2): gradient becomes wd * w = 1, first Adam step moves by lr.
        XCTAssertEqual(q.values[0], 1.9, accuracy: 1e-5)
    }

    func testGradientClipping() {
        var g: [Float] = [3, 4]
        let n = clipGradientNorm(&g, count: 2, maxNorm: 1)
        XCTAssertEqual(n, 5, accuracy: 1e-6)
        XCTAssertEqual(gradientNorm(g, count: 2), 1, accuracy: 1e-4)
        XCTAssertEqual(g[0] / g[1], 0.75, accuracy: 1e-6)
        var small: [Float] = [0.3, 0.4]
        clipGradientNorm(&small, count: 2, maxNorm: 1)
        XCTAssertEqual(small, [0.3, 0.4])
    }

    /// The vectorised norm against a double-precision sum, on lengths that exercise the
    /// 32-wide loop, the chunk boundary and the scalar tail.
    func testGradientNormMatchesDoubleSum() {
        var state: UInt32 = 12345
        for n in [1, 7, 31, 32, 33, 1023, 1024, 1025, 100_003] {
            var g = [Float](repeating: 0, count: n)
            for i in 0..<n { state = state &* 1_664_525 &+ 1_013_904_223; g[i] = Float(Int32(bitPattern: state)) / 2e9 }
            let reference = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            XCTAssertEqual(Double(gradientNorm(g, count: n)), reference, accuracy: 1e-6 * max(reference, 1e-30), "n = \(n)")
        }
    }

    func testEMA() {
        let p = makeParams([1.0, 0.0], grads: [0, 0])
        let ema = EMA(p, decay: 0.9)
        p.values[0] = 2; p.values[1] = 10
        ema.update(p)
        XCTAssertEqual(ema.values[0], 0.9 * 1 + 0.1 * 2, accuracy: 1e-6)
        XCTAssertEqual(ema.values[1], 1.0, accuracy: 1e-6)
        ema.update(p)
        XCTAssertEqual(ema.values[1], 0.9 * 1 + 0.1 * 10, accuracy: 1e-5)
        let q = makeParams([0, 0], grads: [0, 0])
        ema.copy(into: q)
        XCTAssertEqual(q.values[1], ema.values[1])
    }

    func testChecksumSeesOneBit() {
        let p = makeParams([1.0, 2.0, 3.0], grads: [0, 0, 0])
        let a = p.checksum()
        p.values[1] = Float(bitPattern: p.values[1].bitPattern ^ 1)
        XCTAssertNotEqual(a, p.checksum())
    }

    func testLayoutNamesAndOffsets() {
        let net = MLPNetwork(inputSize: 2, hidden: 4, depth: 2, embeddingSize: 4)
        let names = net.layout.specs.map(\.name)
        XCTAssertEqual(names, ["fc0.weight", "fc0.bias", "emb0.weight", "fc1.weight", "fc1.bias", "emb1.weight",
                               "head.weight", "head.bias"])
        var offset = 0
        for s in net.layout.specs { XCTAssertEqual(s.offset, offset); offset += s.count }
        XCTAssertEqual(offset, net.layout.count)
    }
}
