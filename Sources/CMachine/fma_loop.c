#include "cmachine.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// Sixteen independent chains keep both FMA pipes busy through their latency (4 cycles x 2
// pipes needs 8 in flight; 16 leaves room) without spilling (AVX-512 and AVX2 have 32 and 16
// vector registers; the multiplier and addend take two more, so AVX2 uses the memory form for
// them, which its load ports absorb).

// One loop per vector width, written once: NAME, the target attribute, the vector type and its
// broadcast, fused multiply-add and first-lane intrinsics.
#define EMD_FMA_LOOP(NAME, TARGET, VEC, SET1, FMADD, FIRST)                                     \
    __attribute__((target(TARGET)))                                                              \
    static void NAME(long n, float m, float c, float out[16]) {                                  \
        VEC a[16];                                                                               \
        const VEC vm = SET1(m), vc = SET1(c);                                                    \
        for (int i = 0; i < 16; i++) a[i] = SET1((float)i);                                      \
        for (long k = 0; k < n; k++) {                                                           \
            for (int i = 0; i < 16; i++) a[i] = FMADD(a[i], vm, vc);                             \
        }                                                                                        \
        for (int i = 0; i < 16; i++) out[i] = FIRST(a[i]);                                       \
    }

EMD_FMA_LOOP(loop512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32)
EMD_FMA_LOOP(loop256, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32)
EMD_FMA_LOOP(loop128, "fma", __m128, _mm_set1_ps, _mm_fmadd_ps, _mm_cvtss_f32)

int emd_cpu_supports(const char *feature) {
    __builtin_cpu_init();
    if (strcmp(feature, "avx512f") == 0) return __builtin_cpu_supports("avx512f") != 0;
    if (strcmp(feature, "avx2") == 0) return __builtin_cpu_supports("avx2") != 0;
    if (strcmp(feature, "fma") == 0) return __builtin_cpu_supports("fma") != 0;
    return 0;
}

double emd_fma_loop(int bits, long iterations, float m, float c, float out[16]) {
    if (iterations < 0) iterations = 0;
    const double perIteration = 16.0 * 2.0 * (double)bits / 32.0;
    switch (bits) {
    case 512:
        if (!emd_cpu_supports("avx512f")) return 0;
        loop512(iterations, m, c, out);
        break;
    case 256:
        if (!emd_cpu_supports("avx2") || !emd_cpu_supports("fma")) return 0;
        loop256(iterations, m, c, out);
        break;
    case 128:
        if (!emd_cpu_supports("fma")) return 0;
        loop128(iterations, m, c, out);
        break;
    default:
        return 0;
    }
    return perIteration * (double)iterations;
}

#else
// Other architectures: no x86 vector widths to report or measure; the peak is then "unknown"
// (emd bench says so) rather than a build error.
int emd_cpu_supports(const char *feature) {
    (void)feature;
    return 0;
}

double emd_fma_loop(int bits, long iterations, float m, float c, float out[16]) {
    (void)bits; (void)iterations; (void)m; (void)c;
    for (int i = 0; i < 16; i++) out[i] = 0;
    return 0;
}
#endif
