// 2-D convolutions through oneDNN (Debian libdnnl-dev): emd's tensors stay NCHW (weights
// OIHW); each call reorders them to and from the blocked layouts oneDNN's direct convolution
// kernels prefer. One handle per (shape, batch): primitives, blocked buffers and a scratchpad
// are made once, so a call allocates nothing here (oneDNN 2.6's dnnl_primitive_execute still
// allocates a few small blocks inside, for its argument map).
#ifndef EMD_DNNL_H
#define EMD_DNNL_H
#include <stddef.h>

typedef struct emd_conv emd_conv;

/// Primitives for a convolution of `batch` NCHW inputs [in, height, width] into `out`
/// channels, square kernel 1 or 3 with padding kernel/2, stride 1 or 2, running on `threads`
/// threads. NULL on failure, with a message in `error`.
emd_conv *emd_conv_create(int batch, int in, int height, int width, int out, int kernel, int stride, int threads,
                          char *error, size_t error_size);
void emd_conv_free(emd_conv *conv);

/// y = conv(x, w) + b. 0 on success, else oneDNN's status.
int emd_conv_forward(emd_conv *conv, const float *x, const float *w, const float *b, float *y);

/// Backward of the convolution at input x and output gradient dy: when `gw` is given,
/// gw += dL/dw and gb += dL/db; when `dx` is given, dx = dL/dx (or dx += dL/dx with
/// `accumulate_dx`). 0 on success, else oneDNN's status.
int emd_conv_backward(emd_conv *conv, const float *x, const float *w, const float *dy, float *gw, float *gb, float *dx,
                      int accumulate_dx);

/// oneDNN's name for the forward kernel it chose (e.g. "jit:avx512_core").
const char *emd_conv_implementation(const emd_conv *conv);

/// C = alpha op(A) op(B) + beta C, all row-major (oneDNN's dnnl_sgemm; trans 'N' or 'T', leading
/// dimensions as for row-major cblas_sgemm) on `threads` threads. 0 on success, else oneDNN's
/// status.
int emd_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda, const float *b,
              long ldb, float beta, float *c, long ldc, int threads);

#endif
