#!/usr/bin/env bash
# The GEMM engine A/B on the distillation steps, beside the JAX peer: per round, emd with every
# product on OpenBLAS (EMD_GEMM=openblas, the default), emd with the large products on oneDNN's
# sgemm (EMD_GEMM=onednn), then the peer; the 2-D mixture step and the image MLP step at K = 8.
# One core (taskset -c CORE), one thread everywhere; OpenBLAS picks its own kernel (both
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE lifted for emd; the JSON's blas_core names it).
#
#   launch/bench-gemm-engine-ab.sh [ROUNDS]    (JAX from $JAX_PYTHON, as launch/bench-vs-jax.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"; core="${CORE:-0}"; out="${OUT:-runs/bench-gemm-engine-ab}"
py="${JAX_PYTHON:-/tmp/jaxenv/bin/python}"; peers="${PEERS:-../shared/peers}"; emd="${EMD:-.build/release/emd}"
[ -x "$emd" ] || { echo "bench-gemm-engine-ab: build first (swift build -c release)" >&2; exit 2; }
[ -x "$py" ] || { echo "bench-gemm-engine-ab: no JAX python at $py (see launch/bench-vs-jax.sh)" >&2; exit 2; }
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 EMD_BLAS_THREADS=1
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
for r in $(seq 1 "$rounds"); do
  echo "== round $r"
  for engine in openblas onednn; do
    taskset -c "$core" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE EMD_GEMM=$engine "$emd" bench-distill \
      --networks mixture,image --ks 8 --steps 9 --json "$out/emd-$engine-$r.json" > "$out/emd-$engine-$r.log" 2>&1
    grep -E "K=8 ranks=1" "$out/emd-$engine-$r.log" | sed "s/^/emd $engine  /"
  done
  taskset -c "$core" "$py" "$peers/jax_emd_gmm.py" --K 8 --steps 300 --pretrain 200 2>/dev/null | tail -n 1 > "$out/jax-gmm-$r.json"
  echo "jax  mixture K=8: $(grep -o '"sec_per_step": [0-9.e-]*' "$out/jax-gmm-$r.json")"
  taskset -c "$core" "$py" "$peers/jax_emd_step_bench.py" --K 8 --n-student 5 --steps 5 2>/dev/null | tail -n 1 > "$out/jax-image-$r.json"
  echo "jax  image K=8: $(grep -o '"sec_per_step": [0-9.e-]*' "$out/jax-image-$r.json")"
done
