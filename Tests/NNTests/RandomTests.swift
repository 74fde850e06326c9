import Foundation
import XCTest
import CounterRNG

final class RandomTests: XCTestCase {
    /// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
    func testPhiloxKnownAnswers() {
        XCTAssertEqual(Philox.block(SIMD4(0, 0, 0, 0), key: SIMD2(0, 0)),
                       SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8))
        XCTAssertEqual(Philox.block(SIMD4(0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff),
                                    key: SIMD2(0xffff_ffff, 0xffff_ffff)),
                       SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd))
        XCTAssertEqual(Philox.block(SIMD4(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344),
                                    key: SIMD2(0xa409_3822, 0x299f_31d0)),
                       SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1))
    }

    /// Four blocks at once in SIMD lanes equal four single blocks.
    func testPhiloxFourBlocksEqualSingleBlocks() {
        let key = SIMD2<UInt32>(0xa409_3822, 0x299f_31d0)
        for base: UInt32 in [0, 7, 0xffff_fffc, 0x1234_5678] {
            let c0 = SIMD4(base, base &+ 1, base &+ 2, base &+ 3)
            let w = Philox.blocks4(c0, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344, key: key)
            for l in 0..<4 {
                XCTAssertEqual(Philox.block(SIMD4(c0[l], 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: key),
                               SIMD4(w.0[l], w.1[l], w.2[l], w.3[l]))
            }
        }
    }

    /// The vector log and sin/cos against double-precision libm over their whole input range.
    func testVectorMathMatchesLibm() {
        var worstLog = 0.0, worstTrig = 0.0
        var u: UInt32 = 0
        for _ in 0..<200_000 {
            var x = SIMD8<Float>()
            for l in 0..<8 {
                u = u &* 1_664_525 &+ 1_013_904_223
                x[l] = (Float(u >> 8) + 0.5) / 16_777_216
            }
            let lg = VectorMath.log(x), (s, c) = VectorMath.sinCos2Pi(x)
            for l in 0..<8 {
                let d = Double(x[l])
                worstLog = max(worstLog, abs(Double(lg[l]) - Foundation.log(d)) / max(1, abs(Foundation.log(d))))
                worstTrig = max(worstTrig, abs(Double(s[l]) - sin(2 * Double.pi * d)), abs(Double(c[l]) - cos(2 * Double.pi * d)))
            }
        }
        XCTAssertLessThan(worstLog, 3e-7, "log relative error")
        XCTAssertLessThan(worstTrig, 6e-7, "sin/cos absolute error")
        // Exact points of the reduction.
        let q = VectorMath.sinCos2Pi(SIMD8(0, 0.25, 0.5, 0.75, 1, 0.125, 0.375, 0.875))
        XCTAssertEqual(q.sin[1], 1); XCTAssertEqual(q.cos[2], -1); XCTAssertEqual(q.sin[3], -1); XCTAssertEqual(q.cos[4], 1)
    }

    /// Normals equal the Box-Muller formula evaluated in double precision on the same Philox
    /// words, whatever the count asked for (the SIMD path and the tail agree).
    func testNormalsMatchBoxMullerReference() {
        let key = DrawKey(seed: 3, step: 9, purpose: .langevinEps, index: 77)
        let all = Draws.normals(key, count: 1000)
        var worst = 0.0
        for j in 0..<250 {
            let b = key.block(j)
            func unit(_ w: UInt32) -> Double { (Double(w >> 8) + 0.5) / 16_777_216 }
            let r0 = (-2 * Foundation.log(unit(b[0]))).squareRoot(), t0 = 2 * Double.pi * unit(b[1])
            let r1 = (-2 * Foundation.log(unit(b[2]))).squareRoot(), t1 = 2 * Double.pi * unit(b[3])
            let ref = [r0 * cos(t0), r0 * sin(t0), r1 * cos(t1), r1 * sin(t1)]
            for l in 0..<4 { worst = max(worst, abs(Double(all[4 * j + l]) - ref[l])) }
        }
        XCTAssertLessThan(worst, 5e-6)
        for n in [1, 3, 4, 5, 15, 16, 17, 33] { XCTAssertEqual(Draws.normals(key, count: n), Array(all.prefix(n)), "count \(n)") }
        XCTAssertEqual(Draws.normal(key), all[0])
    }

    /// The draws of each global index are the same however the batch is split into shards.
    func testDrawsIndependentOfSharding() {
        let global = 12, d = 5
        func draws(shards: Int) -> [[Float]] {
            var out = [[Float]](repeating: [], count: global)
            for r in 0..<shards {
                let lo = r * global / shards, hi = (r + 1) * global / shards
                for i in lo..<hi {
                    out[i] = Draws.normals(DrawKey(seed: 11, step: 3, purpose: .latent, index: i), count: d)
                }
            }
            return out
        }
        let one = draws(shards: 1)
        XCTAssertEqual(one, draws(shards: 2))
        XCTAssertEqual(one, draws(shards: 3))
        // Different coordinates give different streams.
        XCTAssertNotEqual(one[0], one[1])
        XCTAssertNotEqual(Draws.normals(DrawKey(seed: 11, step: 4, purpose: .latent, index: 0), count: d), one[0])
        XCTAssertNotEqual(Draws.normals(DrawKey(seed: 11, step: 3, purpose: .langevinZ, index: 0), count: d), one[0])
        XCTAssertNotEqual(Draws.normals(DrawKey(seed: 12, step: 3, purpose: .latent, index: 0), count: d), one[0])
    }

    /// Moments of 200k normals and a Kolmogorov-Smirnov test against the normal CDF.
    func testNormalMomentsAndKolmogorovSmirnov() {
        let n = 200_000
        let x = Draws.normals(DrawKey(seed: 5, step: 0, purpose: .test, index: 0), count: n)
        var m1 = 0.0, m2 = 0.0, m3 = 0.0, m4 = 0.0
        for v in x { let d = Double(v); m1 += d; m2 += d * d; m3 += d * d * d; m4 += d * d * d * d }
        m1 /= Double(n); m2 /= Double(n); m3 /= Double(n); m4 /= Double(n)
        XCTAssertEqual(m1, 0, accuracy: 0.01)
        XCTAssertEqual(m2, 1, accuracy: 0.015)
        XCTAssertEqual(m3, 0, accuracy: 0.04)
        XCTAssertEqual(m4, 3, accuracy: 0.08)
        let sorted = x.map(Double.init).sorted()
        var dmax = 0.0
        for (i, v) in sorted.enumerated() {
            let cdf = 0.5 * erfc(-v / 2.0.squareRoot())
            dmax = max(dmax, abs(cdf - Double(i) / Double(n)), abs(cdf - Double(i + 1) / Double(n)))
        }
        // Critical value at alpha = 0.001 is 1.95 / sqrt(n).
        XCTAssertLessThan(dmax, 1.95 / Double(n).squareRoot(), "KS statistic \(dmax)")
    }

    func testUniformRangeAndMean() {
        var u = [Float](repeating: 0, count: 100_001)
        Draws.uniform(DrawKey(seed: 1, step: 0, purpose: .test, index: 9), into: &u, count: u.count)
        XCTAssertTrue(u.allSatisfy { $0 > 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / Float(u.count), 0.5, accuracy: 0.005)
    }

    func testPermutationIsAPermutationAndKeyed() {
        let p = permutation(1000, key: DrawKey(seed: 1, step: 0, purpose: .shuffle, index: 0))
        XCTAssertEqual(p.sorted(), Array(0..<1000))
        XCTAssertNotEqual(p, Array(0..<1000))
        XCTAssertEqual(p, permutation(1000, key: DrawKey(seed: 1, step: 0, purpose: .shuffle, index: 0)))
        XCTAssertNotEqual(p, permutation(1000, key: DrawKey(seed: 1, step: 1, purpose: .shuffle, index: 0)))
    }
}

/// Purposes of these tests (kinds chosen to mirror the trainers' own, which live in the modules
/// above NN).
private extension Purpose {
    static let latent = Purpose(kind: 10)
    static let langevinEps = Purpose(kind: 13)
    static let langevinZ = Purpose(kind: 14)
    static let shuffle = Purpose(kind: 4)
}
