import XCTest
import Diffusion
import Evaluation

/// The exact denoiser of a sample set, its guided form, and the denoiser-error figures built on it.
final class EmpiricalDenoiserTests: XCTestCase {
    override func setUp() { useOneBLASThread() }

    func denoise(_ den: Denoiser, _ x: [Float], sigmas: [Float], labels: [Int32]? = nil) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        if let labels {
            den.denoise(x, sigma: sigmas, labels: labels, out: &out, batch: sigmas.count)
        } else {
            den.denoise(x, sigma: sigmas, out: &out, batch: sigmas.count)
        }
        return out
    }

    /// Two equally likely points -a and +a in one dimension: D(x) = a tanh(a x / sigma^2), and
    /// the effective count 1 / (w+^2 + w-^2), over more rows than one chunk holds.
    func testTwoPointsMatchTheClosedForm() {
        let a: Float = 1.5
        let exact = EmpiricalDenoiser(samples: [-a, a], count: 2, dimension: 1, chunk: 3)
        let x: [Float] = [-3, -1, -0.2, 0, 0.4, 1.1, 2.5], s: [Float] = [0.5, 1, 2, 0.7, 1.3, 3, 0.9]
        let out = denoise(exact, x, sigmas: s)
        for b in x.indices {
            let t = tanh(Double(a * x[b] / (s[b] * s[b])))
            XCTAssertEqual(Double(out[b]), Double(a) * t, accuracy: 1e-5, "row \(b)")
            let wp = (1 + t) / 2, wm = (1 - t) / 2
            XCTAssertEqual(Double(exact.effectiveCount[b]), 1 / (wp * wp + wm * wm), accuracy: 1e-4, "row \(b)")
        }
    }

    /// The posterior mean straight from its definition, in Double, unconditional and restricted
    /// to each query's class.
    func testMatchesTheDefinitionWithAndWithoutClasses() {
        let n = 40, d = 5, q = 9
        let xs = normals(n * d, seed: 11), labels = (0..<n).map { $0 % 3 }
        let x = normals(q * d, seed: 12), s = uniforms(q, seed: 13, lo: 0.6, hi: 3)
        let ql: [Int32] = (0..<q).map { Int32($0 % 3) }
        let exact = EmpiricalDenoiser(samples: xs, count: n, dimension: d, labels: labels, chunk: 4)
        for conditional in [false, true] {
            let got = denoise(exact, x, sigmas: s, labels: conditional ? ql : nil)
            for b in 0..<q {
                var logw = [Double](repeating: -.infinity, count: n)
                for i in 0..<n where !conditional || labels[i] == Int(ql[b]) {
                    var dist = 0.0
                    for j in 0..<d { let v = Double(x[b * d + j]) - Double(xs[i * d + j]); dist += v * v }
                    logw[i] = -dist / (2 * Double(s[b]) * Double(s[b]))
                }
                let top = logw.max()!, w = logw.map { exp($0 - top) }, total = w.reduce(0, +)
                for j in 0..<d {
                    let want = (0..<n).reduce(0.0) { $0 + w[$1] * Double(xs[$1 * d + j]) } / total
                    XCTAssertEqual(Double(got[b * d + j]), want, accuracy: 1e-4, "conditional \(conditional), row \(b), coordinate \(j)")
                }
            }
        }
    }

    /// Guidance: w = 1 is the conditional denoiser, w = 0 the unconditional one, and other w
    /// extrapolate between them.
    func testGuidedDenoiser() {
        let n = 30, d = 3, q = 6
        let exact = EmpiricalDenoiser(samples: normals(n * d, seed: 21), count: n, dimension: d, labels: (0..<n).map { $0 % 2 })
        let x = normals(q * d, seed: 22), s = [Float](repeating: 0.8, count: q), ql: [Int32] = [0, 1, 0, 1, 1, 0]
        let cond = denoise(exact, x, sigmas: s, labels: ql), uncond = denoise(exact, x, sigmas: s)
        XCTAssertNotEqual(cond, uncond)
        XCTAssertEqual(denoise(GuidedDenoiser(exact, guidance: 1), x, sigmas: s, labels: ql), cond)
        XCTAssertEqual(denoise(GuidedDenoiser(exact, guidance: 0), x, sigmas: s, labels: ql), uncond)
        let w: Float = 2.5, guided = denoise(GuidedDenoiser(exact, guidance: w), x, sigmas: s, labels: ql)
        for i in guided.indices { XCTAssertEqual(guided[i], (1 - w) * uncond[i] + w * cond[i], accuracy: 1e-5) }
    }

    /// A denoiser that answers zero everywhere.
    final class Zero: Denoiser {
        let dimension: Int
        init(_ d: Int) { dimension = d }
        func denoise(_ x: UnsafePointer<Float>, sigma: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, batch: Int) {
            for i in 0..<(batch * dimension) { out[i] = 0 }
        }
    }

    /// The reference measured against itself has no error; the zero denoiser's error is the
    /// reference's mean square, which the signal and the squared mean add up to; the within-class
    /// signal is the signal with one class and at most the signal with several.
    func testErrorFigures() {
        let n = 50, d = 4, q = 12
        let xs = normals(n * d, seed: 31)
        let exact = EmpiricalDenoiser(samples: xs, count: n, dimension: d, labels: (0..<n).map { $0 % 2 }, chunk: 5)
        let queries = normals(q * d, seed: 32), sigmas: [Float] = [0.5, 2]
        let oneClass = [Int32](repeating: 0, count: q), twoClasses: [Int32] = (0..<q).map { Int32($0 % 2) }
        let selfRows = DenoiserError.measure(exact, reference: exact, queries: queries, count: q, labels: oneClass,
                                             conditional: false, sigmas: sigmas, seed: 1, chunk: 5)
        for r in selfRows {
            XCTAssertEqual(r.error, 0)
            XCTAssertEqual(r.denoiserToClean, r.referenceToClean)
            XCTAssertEqual(r.withinClassSignal, r.signal, accuracy: 1e-12)
            XCTAssertGreaterThan(r.signal, 0)
            XCTAssertGreaterThanOrEqual(r.medianEffectiveCount, 1)
        }
        let zeroRows = DenoiserError.measure(Zero(d), reference: exact, queries: queries, count: q, labels: twoClasses,
                                             conditional: false, sigmas: sigmas, seed: 1, chunk: 5)
        for (z, r) in zip(zeroRows, selfRows) {
            // The same noise and the same reference answers: the zero denoiser's error is
            // mean |D_ref|^2 = signal + |mean D_ref|^2 >= signal, and its distance to the clean
            // queries is their mean square.
            XCTAssertEqual(z.signal, r.signal, accuracy: 1e-9)
            XCTAssertGreaterThanOrEqual(z.error, z.signal)
            XCTAssertEqual(z.denoiserToClean, queries.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(q * d), accuracy: 1e-6)
            XCTAssertLessThanOrEqual(z.withinClassSignal, z.signal + 1e-12)
            XCTAssertLessThan(z.withinClassSignal, z.signal)
        }
        XCTAssertGreaterThan(selfRows[1].medianEffectiveCount, selfRows[0].medianEffectiveCount)
    }
}
