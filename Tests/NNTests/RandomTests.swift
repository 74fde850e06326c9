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
