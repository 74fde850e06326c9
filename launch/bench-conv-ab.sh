#!/usr/bin/env bash
# Convolution A/B: emd's two convolution backends, im2col with one OpenBLAS GEMM per chunk of
# samples and oneDNN's direct convolution (tensors reordered from and to NCHW at each call),
# one layer at a time, forward + weight and input gradients (`emd bench --conv`, which times
# both backends back to back in one process), on the shapes of the class-conditional EDM U-Net
# of launch/fashion-unet.sh (c = 16, 28 x 28, batch 32 per rank), pinned to one core with one
# thread. Then the whole U-Net (`emd bench --unet`) under each backend (EMD_CONV), alternated.
#   launch/bench-conv-ab.sh [ROUNDS] [CORE]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2}"; core="${2:-0}"; batch="${BATCH:-32}"; repeats="${REPEATS:-7}"
emd=.build/release/emd
# IN,OUT,SIDE[,KERNEL[,STRIDE]]: stem, level-0 block, downsampler, level-1 and level-2 blocks,
# decoder blocks (their inputs concatenate a skip), a 1x1 skip projection.
shapes="1,16,28 16,16,28 16,16,28,3,2 32,32,14 32,32,7 64,32,7 48,32,14 48,16,28 32,16,28 64,32,7,1"
export EMD_BLAS_THREADS=1
for r in $(seq 1 "$rounds"); do
  flags=()
  for s in $shapes; do
    IFS=, read -r cin cout side kernel stride <<< "$s"
    flags+=(--conv "$cin,$cout,$side,$batch,${kernel:-3},${stride:-1}")
  done
  taskset -c "$core" "$emd" bench "${flags[@]}" --repeats "$repeats" 2>&1 | grep -E '^conv|BLAS kernel' | sed "s/^/round $r: /"
done
for r in $(seq 1 "$rounds"); do
  for backend in im2col onednn; do
    EMD_CONV=$backend taskset -c "$core" "$emd" bench --unet "${UNET:-32,28,64}" --repeats 5 --conv-scratch 65536 2>&1 \
      | grep -E '^U-Net' | sed "s/^/round $r: EMD_CONV=$backend /"
  done
done
