/// Whether the BLAS kernel in use is as wide as the CPU: OpenBLAS picks (or is told, by
/// `OPENBLAS_CORETYPE`) a kernel family by name, and a family built for narrower vectors than
/// the core has leaves part of the core unused, whatever its utilisation against its own sgemm.
public enum KernelCheck {
    /// Vector width in bits that an OpenBLAS kernel family ("Haswell", "Cooperlake", ...) is
    /// written for; nil for a name this table does not know.
    public static func vectorBits(openBLASCore name: String) -> Int? {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 512
        case "haswell", "zen", "excavator", "steamroller", "piledriver", "bulldozer", "sandybridge": return 256
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "athlon", "opteron", "opteron_sse3",
             "barcelona", "nano", "bobcat", "katmai", "coppermine", "northwood", "banias": return 128
        default: return nil
        }
    }

    /// A warning to print when the kernel is narrower than the CPU's widest FMA, else nil.
    public static func warning(openBLASCore name: String, cpuBits: Int) -> String? {
        guard let kernel = vectorBits(openBLASCore: name) else {
            return "OpenBLAS kernel \(name) is not in the table of kernel widths; cannot tell whether it uses the CPU's \(cpuBits)-bit vectors"
        }
        guard kernel < cpuBits else { return nil }
        return "OpenBLAS runs its \(name) kernel (\(kernel)-bit vectors) on a CPU with \(cpuBits)-bit FMA: "
            + "matrix products run below what this core can do (is OPENBLAS_CORETYPE set?)"
    }
}
