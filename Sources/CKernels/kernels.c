#include "ckernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

// The widest vector unit the CPU has, chosen once when the library is loaded (an ifunc). Other
// architectures get one build at the compiler's default width.
#if defined(__x86_64__)
#define EMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EMD_CLONES
#endif
// Each element of these loops reads and writes only its own index, so an output that is also an
// input (dx == dy, in place) carries no dependence between elements: vectorise regardless (the
// compiler's runtime overlap check would otherwise send in-place calls down the scalar loop).
#define EMD_ELEMENTWISE _Pragma("clang loop vectorize(assume_safety)")

static inline float bits_to_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

// e^x as the Swift SIMD code it replaced computed it, one lane: clamp to [-87.3, 88.3], n = round(x log2 e) by the
// 1.5 * 2^23 trick, r = x - n ln 2 in two parts, a degree-6 polynomial, scaled by 2^n.
static inline float poly_exp(float x) {
    float xc = x < -87.3f ? -87.3f : x;
    xc = x > 88.3f ? 88.3f : xc;
    const float magic = 12582912.0f;
    float t = xc * 1.44269504f + magic;
    float n = t - magic;
    float r = xc - n * 0.693359375f - n * -2.1219444e-4f;
    float p = 1.98756915e-4f;
    p = p * r + 1.39819995e-3f;
    p = p * r + 8.3334519e-3f;
    p = p * r + 4.16657959e-2f;
    p = p * r + 0.166666655f;
    p = p * r + 0.50000001f;
    float y = p * r * r + r + 1.0f;
    uint32_t bits = (float_to_bits(t) - 0x4B400000u + 127u) << 23;
    return y * bits_to_float(bits);
}

EMD_CLONES
void emd_silu_forward(const float *x, float *y, float *sig, long n) {
    long bulk = n - n % 8;
    if (sig) {
        for (long i = 0; i < bulk; i++) {
            float s = 1.0f / (1.0f + poly_exp(-x[i]));
            sig[i] = s;
            y[i] = x[i] * s;
        }
    } else {
        for (long i = 0; i < bulk; i++) {
            float s = 1.0f / (1.0f + poly_exp(-x[i]));
            y[i] = x[i] * s;
        }
    }
    for (long i = bulk; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-x[i]));
        if (sig) sig[i] = s;
        y[i] = x[i] * s;
    }
}

EMD_CLONES
void emd_silu_backward(const float *x, const float *dy, float *dx, long n) {
    long bulk = n - n % 8;
    EMD_ELEMENTWISE
    for (long i = 0; i < bulk; i++) {
        float v = x[i], s = 1.0f / (1.0f + poly_exp(-v));
        dx[i] = dy[i] * (s + v * s * (1.0f - s));
    }
    for (long i = bulk; i < n; i++) {
        float v = x[i], s = 1.0f / (1.0f + expf(-v));
        dx[i] = dy[i] * (s + v * s * (1.0f - s));
    }
}

EMD_CLONES
void emd_silu_backward_stored(const float *x, const float *sig, const float *dy, float *dx, long n) {
    EMD_ELEMENTWISE
    for (long i = 0; i < n; i++) {
        float s = sig[i];
        dx[i] = dy[i] * (s + x[i] * s * (1.0f - s));
    }
}

EMD_CLONES
void emd_adam_update(float *restrict w, const float *restrict g, float *restrict m, float *restrict v, long n,
                     float beta1, float beta2, float lr, float eps, float c1, float c2) {
    const float ob1 = 1.0f - beta1, ob2 = 1.0f - beta2;
    long bulk = n - n % 8;
    for (long i = 0; i < bulk; i++) {
        float gi = g[i];
        float mi = beta1 * m[i] + ob1 * gi;
        float vi = beta2 * v[i] + ob2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] - lr * (mi / c1) / (sqrtf(vi / c2) + eps);
    }
}

EMD_CLONES
void emd_ema_update(float *restrict e, const float *restrict w, long n, float d) {
    const float od = 1.0f - d;
    for (long i = 0; i < n; i++) e[i] = d * e[i] + od * w[i];
}

// Reductions in 16 partial sums: partial j adds elements j, j + 16, j + 32, ... of the bulk (n
// rounded down to 16), the partials are folded in a fixed pairwise order, then the last n % 16
// elements are added in order. The same arithmetic at every vector width (one 16-lane vector,
// two or four registers wide), so the result does not depend on the clone chosen; unlike a
// serial sum, the 16 chains run in parallel.
typedef float emd_v16 __attribute__((vector_size(64)));

// Helpers as macros: a function taking or returning a 64-byte vector would change its calling
// convention between the clones.
#define EMD_LOAD16(v, p) memcpy(&(v), (p), sizeof(v))

static inline float fold16(const float s0[16]) {
    float s[16];
    memcpy(s, s0, sizeof s);
    for (int w = 8; w > 0; w /= 2)
        for (int j = 0; j < w; j++) s[j] += s[j + w];
    return s[0];
}

EMD_CLONES
float emd_sum(const float *x, long n) {
    emd_v16 s = {0}, v;
    long bulk = n - n % 16;
    for (long i = 0; i < bulk; i += 16) {
        EMD_LOAD16(v, x + i);
        s += v;
    }
    float t = fold16((const float *)&s);
    for (long i = bulk; i < n; i++) t += x[i];
    return t;
}

EMD_CLONES
float emd_sum_squared_deviations(const float *x, long n, float m) {
    emd_v16 s = {0}, v;
    long bulk = n - n % 16;
    for (long i = 0; i < bulk; i += 16) {
        EMD_LOAD16(v, x + i);
        v -= m;
        s += v * v;
    }
    float t = fold16((const float *)&s);
    for (long i = bulk; i < n; i++) {
        float d = x[i] - m;
        t += d * d;
    }
    return t;
}

EMD_CLONES
void emd_sum_and_dot_deviations(const float *d, const float *x, long n, float m, float *sum, float *dot) {
    emd_v16 s = {0}, p = {0}, dv, xv;
    long bulk = n - n % 16;
    for (long i = 0; i < bulk; i += 16) {
        EMD_LOAD16(dv, d + i);
        EMD_LOAD16(xv, x + i);
        s += dv;
        p += dv * (xv - m);
    }
    float ts = fold16((const float *)&s), tp = fold16((const float *)&p);
    for (long i = bulk; i < n; i++) {
        ts += d[i];
        tp += d[i] * (x[i] - m);
    }
    *sum = ts;
    *dot = tp;
}
