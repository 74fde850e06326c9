#ifndef EMD_CKERNELS_H
#define EMD_CKERNELS_H

// Elementwise kernels of the training step, compiled for several vector widths (AVX-512,
// AVX2, baseline x86-64) with the widest the CPU has chosen at load time. Each computes exactly
// what the Swift code it replaced did (same operations in the same order, no contraction into
// FMAs), so results do not depend on the width chosen.

// y = x * sigmoid(x); stores sigmoid(x) in sig when sig is not NULL. Elements below
// n - n % 8 use the polynomial e^x, the last n % 8 libm's expf.
void emd_silu_forward(const float *x, float *y, float *sig, long n);

// dx = dy * silu'(x), recomputing the sigmoid as emd_silu_forward does. dx may alias dy.
void emd_silu_backward(const float *x, const float *dy, float *dx, long n);

// dx = dy * silu'(x) from the stored sigmoid. dx may alias dy.
void emd_silu_backward_stored(const float *x, const float *sig, const float *dy, float *dx, long n);

// Adam without weight decay over n elements: m, v updated in place, then
// w -= lr * (m / c1) / (sqrt(v / c2) + eps). Elements below n - n % 8 only: the caller finishes
// the tail (which may need weight decay).
void emd_adam_update(float *w, const float *g, float *m, float *v, long n, float beta1, float beta2,
                     float lr, float eps, float c1, float c2);

// e = d * e + (1 - d) * w over n elements.
void emd_ema_update(float *e, const float *w, long n, float d);

// Reductions in 16 partial sums folded in a fixed order (the same result at every width; not
// the serial order of a plain loop).
// The sum of x[0..n).
float emd_sum(const float *x, long n);
// The sum of (x[i] - m)^2.
float emd_sum_squared_deviations(const float *x, long n, float m);
// *sum = the sum of d[i]; *dot = the sum of d[i] * (x[i] - m).
void emd_sum_and_dot_deviations(const float *d, const float *x, long n, float m, float *sum, float *dot);

#endif
