// The core's own peak: a fused multiply-add loop at a given vector width, and which widths
// this CPU runs (the compiler's CPUID-backed builtins). No libraries.
#ifndef EMD_CMACHINE_H
#define EMD_CMACHINE_H

/// Runs `iterations` rounds of 16 independent fused multiply-adds a = a * m + c on vectors of
/// `bits` (512, 256 or 128) single-precision lanes, every lane of accumulator i starting at i.
/// Writes the 16 accumulators' first lanes to `out` (so the work cannot be optimised away and
/// a test can check it) and returns the floating-point operations done (2 per lane per FMA),
/// or 0 when this CPU cannot run that width (always 0 off x86, where no width is measured).
double emd_fma_loop(int bits, long iterations, float m, float c, float out[16]);

/// 1 when the CPU (and the OS) support the instruction set: "avx512f", "avx2", "fma".
int emd_cpu_supports(const char *feature);

#endif
