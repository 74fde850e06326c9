import BLAS
import Machine

/// What a benchmark ran on: the CPU, its vector extensions, the BLAS kernel in use and the
/// core's measured peak FLOP rate, with a warning when the kernel is narrower than the core.
struct MachineSummary {
    let cpu: String
    let extensions: [String]
    let cpuFMABits: Int
    let blasCore: String
    let blasKernelBits: Int?
    /// Single-precision peak of one core at `cpuFMABits`, GFLOP/s (nil without FMA); the FMA
    /// loop runs on the calling thread, so this is one core's whatever the BLAS thread count.
    let peakGFLOPs: Double?
    let warning: String?

    /// Reads the CPU and times the FMA loop (about half a second).
    static func measure() -> MachineSummary {
        let bits = CPU.widestFMABits
        return MachineSummary(cpu: CPU.modelName, extensions: CPU.vectorExtensions, cpuFMABits: bits,
                              blasCore: BLAS.coreName, blasKernelBits: KernelCheck.vectorBits(openBLASCore: BLAS.coreName),
                              peakGFLOPs: CPU.measurePeakGFLOPs(),
                              warning: bits > 0 ? KernelCheck.warning(openBLASCore: BLAS.coreName, cpuBits: bits) : nil)
    }

    var json: [String: Any] {
        var j: [String: Any] = ["cpu": cpu, "vector_extensions": extensions, "cpu_fma_bits": cpuFMABits, "blas_core": blasCore,
                                "gemm_engine": BLAS.engine.rawValue]
        if let blasKernelBits { j["blas_kernel_bits"] = blasKernelBits }
        if let peakGFLOPs { j["peak_gflops"] = peakGFLOPs }
        if let warning { j["warning"] = warning }
        return j
    }

    /// Human-readable lines for the log.
    var lines: [String] {
        var out = ["cpu: \(cpu); vector extensions: \(extensions.joined(separator: " "))",
                   "BLAS kernel: OpenBLAS \(blasCore) (\(blasKernelBits.map { "\($0)-bit" } ?? "width unknown"))"
                   + (BLAS.engine == .onednn ? ", products with every dimension >= \(BLAS.oneDNNSmallestDimension) on oneDNN's sgemm (EMD_GEMM=onednn); "
                                             : "; ")
                   + (peakGFLOPs.map { String(format: "core peak (%d-bit FMA loop): %.1f GFLOP/s", cpuFMABits, $0) } ?? "no FMA: peak not measured")]
        if let warning { out.append("warning: " + warning) }
        return out
    }

    /// `gflops` (one rank's rate) as a fraction of the peak of the cores it runs on: one core
    /// per BLAS thread (nil without a peak).
    func ofPeak(_ gflops: Double) -> Double? { peakGFLOPs.map { gflops / ($0 * Double(max(1, BLAS.threads))) } }
}
