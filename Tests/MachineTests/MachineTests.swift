import XCTest
import Machine

final class MachineTests: XCTestCase {
    /// The FMA loop does the work it counts: every lane equals the same recurrence computed
    /// one fused multiply-add at a time, at every width this CPU runs; unsupported widths
    /// report zero work.
    func testFMALoopComputesTheRecurrence() {
        let m: Float = 0.999, c: Float = 0.01, n = 1000
        var expected = (0..<16).map { Float($0) }
        for _ in 0..<n { for i in 0..<16 { expected[i] = c.addingProduct(expected[i], m) } }
        var ran = 0
        for bits in [128, 256, 512] {
            let r = CPU.fmaLoop(bits: bits, iterations: n, m: m, c: c)
            if bits > CPU.widestFMABits { XCTAssertEqual(r.flops, 0, "\(bits)-bit loop on a CPU without it"); continue }
            ran += 1
            XCTAssertEqual(r.flops, Double(16 * 2 * bits / 32 * n))
            XCTAssertEqual(r.values, expected, "\(bits)-bit")
        }
        XCTAssertEqual(CPU.fmaLoop(bits: 64, iterations: n, m: m, c: c).flops, 0)
        if CPU.widestFMABits > 0 { XCTAssertGreaterThan(ran, 0) }
    }

    /// Wider vectors do more work per instruction: where the CPU runs two widths, the wider
    /// one's measured rate is not below the narrower one's (it is about twice on cores with
    /// full-width pipes, equal on cores that split 512-bit operations in two).
    func testPeakIsPositiveAndGrowsWithWidth() throws {
        let widest = CPU.widestFMABits
        try XCTSkipIf(widest == 0, "no FMA on this CPU")
        let top = try XCTUnwrap(CPU.measurePeakGFLOPs(bits: widest, seconds: 0.02, repeats: 5))
        XCTAssertGreaterThan(top, 1)
        if widest > 128 {
            let narrow = try XCTUnwrap(CPU.measurePeakGFLOPs(bits: 128, seconds: 0.02, repeats: 5))
            XCTAssertGreaterThan(top, 0.9 * narrow)
        }
        XCTAssertNil(CPU.measurePeakGFLOPs(bits: 64))
    }

    func testKernelWidthTableAndWarning() {
        XCTAssertEqual(KernelCheck.vectorBits(openBLASCore: "Cooperlake"), 512)
        XCTAssertEqual(KernelCheck.vectorBits(openBLASCore: "HASWELL"), 256)
        XCTAssertEqual(KernelCheck.vectorBits(openBLASCore: "Nehalem"), 128)
        XCTAssertNil(KernelCheck.vectorBits(openBLASCore: "NoSuchCore"))
        XCTAssertNotNil(KernelCheck.warning(openBLASCore: "Haswell", cpuBits: 512))
        XCTAssertNil(KernelCheck.warning(openBLASCore: "Cooperlake", cpuBits: 512))
        XCTAssertNil(KernelCheck.warning(openBLASCore: "Haswell", cpuBits: 256))
        XCTAssertNotNil(KernelCheck.warning(openBLASCore: "NoSuchCore", cpuBits: 256))
    }

    func testCPUInfoIsRead() {
        XCTAssertNotEqual(CPU.modelName, "")
        if CPU.widestFMABits >= 256 { XCTAssertTrue(CPU.vectorExtensions.contains("avx2")) }
        if CPU.widestFMABits == 512 { XCTAssertTrue(CPU.vectorExtensions.contains("avx512f")) }
    }
}
