#!/usr/bin/env bash
# OpenBLAS's sgemm against oneDNN's (dnnl_sgemm) on the distillation steps' matrix shapes, one
# thread on one core, alternated per shape (21 rounds, median): the image MLP (784-1024x3-784,
# batch 256, forward and both backward products) and the 2-D mixture MLP (3 x 128, batch 256).
# A measurement only: emd runs every matrix product outside the convolutions on OpenBLAS.
#
#   launch/bench-gemm-engines.sh [CORE]
#
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are lifted for this command (OpenBLAS picks its own
# kernel; the first line names it) unless EMD_BENCH_KEEP_KERNEL=1.
set -euo pipefail
core="${1:-0}"
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
cat > "$dir/gemm.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int by_value(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(void) {
    openblas_set_num_threads(1);
    // m, n, k, A transposed, B transposed, group (0: image MLP, 1: mixture MLP)
    const int shapes[][6] = {{256, 1024, 784, 0, 0, 0}, {256, 1024, 1024, 0, 0, 0}, {256, 784, 1024, 0, 0, 0},
                             {256, 1024, 1024, 0, 1, 0}, {256, 784, 1024, 0, 1, 0}, {1024, 1024, 256, 1, 0, 0},
                             {784, 1024, 256, 1, 0, 0}, {256, 128, 128, 0, 0, 1}, {256, 128, 128, 0, 1, 1},
                             {128, 128, 256, 1, 0, 1}, {256, 128, 2, 0, 0, 1}, {256, 2, 128, 0, 0, 1}};
    const int count = sizeof shapes / sizeof shapes[0], rounds = 21;
    size_t size = 1024 * 1024;
    float *a = malloc(size * 4), *b = malloc(size * 4), *c = malloc(size * 4);
    for (size_t i = 0; i < size; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; c[i] = 0; }
    printf("OpenBLAS kernel: %s\n", openblas_get_corename());
    double total[2][2] = {{0}};
    for (int s = 0; s < count; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3], tb = shapes[s][4];
        int lda = ta ? m : k, ldb = tb ? k : n, reps = (double)m * n * k < 1e7 ? 200 : 5;
        double blas[21], dnnl[21];
        for (int r = 0; r < rounds; r++) {
            double t = now();
            for (int i = 0; i < reps; i++)
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
                            1.f, a, lda, b, ldb, 0.f, c, n);
            blas[r] = (now() - t) / reps;
            t = now();
            for (int i = 0; i < reps; i++) dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.f, a, lda, b, ldb, 0.f, c, n);
            dnnl[r] = (now() - t) / reps;
        }
        qsort(blas, rounds, sizeof(double), by_value);
        qsort(dnnl, rounds, sizeof(double), by_value);
        double flops = 2.0 * m * n * k, tb_ = blas[rounds / 2], td = dnnl[rounds / 2];
        printf("%-6s %4d x %4d x %4d %c%c  OpenBLAS %6.1f GFLOP/s  oneDNN %6.1f GFLOP/s  OpenBLAS time / oneDNN time %.2f\n",
               shapes[s][5] ? "mix" : "image", m, n, k, ta ? 'T' : 'N', tb ? 'T' : 'N', flops / tb_ / 1e9,
               flops / td / 1e9, tb_ / td);
        total[shapes[s][5]][0] += tb_;
        total[shapes[s][5]][1] += td;
    }
    printf("image shapes, one of each: OpenBLAS %.2f ms, oneDNN %.2f ms, ratio %.2f\n", total[0][0] * 1e3,
           total[0][1] * 1e3, total[0][0] / total[0][1]);
    printf("mixture shapes, one of each: OpenBLAS %.1f us, oneDNN %.1f us, ratio %.2f\n", total[1][0] * 1e6,
           total[1][1] * 1e6, total[1][0] / total[1][1]);
    return 0;
}
C
cc -O2 "$dir/gemm.c" -o "$dir/gemm" -lopenblas -ldnnl
kernel=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
[ "${EMD_BENCH_KEEP_KERNEL:-0}" = 1 ] && kernel=()
OMP_NUM_THREADS=1 "${kernel[@]}" taskset -c "$core" "$dir/gemm"
