import XCTest
import NN
import CounterRNG

/// Finite-difference check of a layer's backward pass. `forward(x) -> y` runs the layer on
/// `p` and input `x`; `backward(x, dy) -> dx` accumulates parameter gradients into `p.grads`.
/// The scalar tested is L = sum(w * y) for a fixed random w.
struct GradientChecker {
    var epsilon: Float = 1e-2
    /// Largest allowed ||fd - analytic|| / ||analytic|| per tensor.
    var tolerance: Double = 1e-2
    var samplesPerTensor = 24

    func check(name: String, p: Parameters?, input: [Float], outputCount: Int,
               forward: ([Float]) -> [Float], backward: ([Float], [Float]) -> [Float],
               file: StaticString = #filePath, line: UInt = #line) {
        let w = Draws.normals(DrawKey(seed: 7, step: 0, purpose: .test, index: outputCount), count: outputCount)
        func loss(_ x: [Float]) -> Double {
            let y = forward(x)
            XCTAssertEqual(y.count, outputCount, "\(name): output size", file: file, line: line)
            var s = 0.0
            for i in 0..<y.count { s += Double(w[i]) * Double(y[i]) }
            return s
        }
        p?.zeroGrads()
        _ = forward(input)
        let dx = backward(input, w)
        // Input gradient.
        var fd = [Double](), an = [Double]()
        var x = input
        for i in pickIndices(input.count) {
            let orig = x[i]
            x[i] = orig + epsilon; let lp = loss(x)
            x[i] = orig - epsilon; let lm = loss(x)
            x[i] = orig
            fd.append((lp - lm) / Double(2 * epsilon)); an.append(Double(dx[i]))
        }
        assertClose(fd, an, "\(name) d/dinput", file: file, line: line)
        guard let p else { return }
        let grads = Array(p.gradBuffer)
        for spec in p.layout.specs {
            fd = []; an = []
            for j in pickIndices(spec.count) {
                let k = spec.offset + j
                let orig = p.values[k]
                p.values[k] = orig + epsilon; let lp = loss(input)
                p.values[k] = orig - epsilon; let lm = loss(input)
                p.values[k] = orig
                fd.append((lp - lm) / Double(2 * epsilon)); an.append(Double(grads[k]))
            }
            assertClose(fd, an, "\(name) d/d\(spec.name)", file: file, line: line)
        }
    }

    func pickIndices(_ n: Int) -> [Int] {
        if n <= samplesPerTensor { return Array(0..<n) }
        return (0..<samplesPerTensor).map { ($0 * 7919 + 13) % n }
    }

    func assertClose(_ fd: [Double], _ an: [Double], _ what: String, file: StaticString, line: UInt) {
        var diff = 0.0, norm = 0.0
        for i in 0..<fd.count { diff += (fd[i] - an[i]) * (fd[i] - an[i]); norm += an[i] * an[i] }
        let rel = diff.squareRoot() / max(norm.squareRoot(), 1e-3)
        XCTAssertLessThan(rel, tolerance, "\(what): relative error \(rel) (analytic norm \(norm.squareRoot()))",
                          file: file, line: line)
        XCTAssertGreaterThan(norm, 1e-8, "\(what): gradient is identically zero, check is vacuous", file: file, line: line)
    }
}

func randomArray(_ n: Int, seed: Int, scale: Float = 1) -> [Float] {
    Draws.normals(DrawKey(seed: 42, step: seed, purpose: .test, index: n), count: n).map { $0 * scale }
}

/// Parameters for `layout`, initialised and then perturbed so that no tensor is trivially
/// zero or one (a zero bias would make its gradient check vacuous elsewhere).
func randomParameters(_ layout: ParameterLayout, seed: UInt64 = 3) -> Parameters {
    let p = Parameters(layout: layout)
    p.initialize(seed: seed)
    let noise = randomArray(p.count, seed: Int(seed), scale: 0.1)
    for i in 0..<p.count { p.values[i] += noise[i] }
    return p
}
