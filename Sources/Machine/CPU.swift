import CMachine
import Foundation

/// This CPU: its model, its vector extensions, the widest vector FMA it runs, and its peak
/// single-precision FLOP rate measured with a fused multiply-add loop at that width. The
/// reference that utilisation figures are stated against, beside the BLAS's own sgemm.
public enum CPU {
    /// The "model name" line of /proc/cpuinfo ("unknown" where there is none).
    public static var modelName: String {
        cpuinfoField("model name") ?? "unknown"
    }

    /// The SIMD extensions among /proc/cpuinfo's flags that matter for float throughput, in
    /// order of width (sse4_2, avx, avx2, fma, avx512f, avx512_bf16, ...).
    public static var vectorExtensions: [String] {
        let flags = Set((cpuinfoField("flags") ?? "").split(separator: " ").map(String.init))
        let known = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni",
                     "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16"]
        return known.filter(flags.contains)
    }

    /// Widest vector fused multiply-add this CPU runs: 512, 256, 128, or 0 (no FMA).
    public static var widestFMABits: Int {
        if emd_cpu_supports("avx512f") != 0 { return 512 }
        if emd_cpu_supports("avx2") != 0 && emd_cpu_supports("fma") != 0 { return 256 }
        if emd_cpu_supports("fma") != 0 { return 128 }
        return 0
    }

    /// One run of the FMA loop: 16 accumulators per lane, `iterations` rounds of a = a m + c.
    /// Returns the FLOPs done (0 if the width is not supported) and the 16 accumulators' values.
    public static func fmaLoop(bits: Int, iterations: Int, m: Float, c: Float) -> (flops: Double, values: [Float]) {
        var out = [Float](repeating: 0, count: 16)
        let flops = out.withUnsafeMutableBufferPointer { emd_fma_loop(Int32(bits), iterations, m, c, $0.baseAddress) }
        return (flops, out)
    }

    /// The core's peak single-precision rate at `bits` (default: the widest it has), in GFLOP/s:
    /// the median of `repeats` timed runs of about `seconds` each, after one warm-up run (which
    /// also brings the core to its sustained clock). nil when the CPU has no FMA at that width.
    public static func measurePeakGFLOPs(bits: Int? = nil, seconds: Double = 0.05, repeats: Int = 7) -> Double? {
        let width = bits ?? widestFMABits
        guard width > 0 else { return nil }
        // Calibrate: time a short run, then size the runs to `seconds`.
        let probe = 200_000
        let t0 = monotonicSeconds()
        guard fmaLoop(bits: width, iterations: probe, m: 0.999_999, c: 1e-7).flops > 0 else { return nil }
        let probeTime = max(monotonicSeconds() - t0, 1e-6)
        let iterations = max(probe, Int(Double(probe) * seconds / probeTime))
        _ = fmaLoop(bits: width, iterations: iterations, m: 0.999_999, c: 1e-7)
        var rates: [Double] = []
        for _ in 0..<max(1, repeats) {
            let start = monotonicSeconds()
            let flops = fmaLoop(bits: width, iterations: iterations, m: 0.999_999, c: 1e-7).flops
            rates.append(flops / (monotonicSeconds() - start) / 1e9)
        }
        return rates.sorted()[rates.count / 2]
    }

    static func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    static func cpuinfoField(_ name: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters(in: .whitespaces) == name {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
