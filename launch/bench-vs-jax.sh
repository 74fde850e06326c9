#!/usr/bin/env bash
# emd against the JAX peer (../shared/peers) on one core, alternated A, B, A, B, ROUNDS times:
# the 2-D mixture step and the image MLP step at K = 1 and 8 (`emd bench-distill`), and the
# U-Net teacher training step (`emd bench`). Prints one line per measurement and writes every
# result under OUT. Both sides: one core (taskset -c CORE), one thread.
#
#   launch/bench-vs-jax.sh [ROUNDS]         (JAX from $JAX_PYTHON, default /tmp/jaxenv/bin/python;
#                                            set it up with: python3 -m venv /tmp/jaxenv &&
#                                            /tmp/jaxenv/bin/pip install jax optax scipy)
#
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the environment has them unless
# EMD_BENCH_OWN_KERNEL=1, which lifts both for emd's commands (OpenBLAS then picks its own kernel;
# the JSON's blas_core says which ran).
set -uo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
core="${CORE:-0}"
out="${OUT:-runs/bench-vs-jax}"
py="${JAX_PYTHON:-/tmp/jaxenv/bin/python}"
peers="${PEERS:-../shared/peers}"
emd="${EMD:-.build/release/emd}"
[ -x "$emd" ] || { echo "bench-vs-jax: build first (swift build -c release)" >&2; exit 2; }
[ -x "$py" ] || { echo "bench-vs-jax: no JAX python at $py (see the header of this script)" >&2; exit 2; }
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 EMD_BLAS_THREADS=1
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
kernel=()
[ "${EMD_BENCH_OWN_KERNEL:-0}" = 1 ] && kernel=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
run() { taskset -c "$core" "$@"; }
for r in $(seq 1 "$rounds"); do
  echo "== round $r"
  run "${kernel[@]}" "$emd" bench-distill --networks mixture,image --ks 1,8 --steps 9 --json "$out/emd-distill-$r.json" \
    > "$out/emd-distill-$r.log" 2>&1
  grep -E "K=[0-9]+ ranks=1" "$out/emd-distill-$r.log" | sed 's/^/emd  /'
  for k in 1 8; do
    run "$py" "$peers/jax_emd_gmm.py" --K "$k" --steps 300 --pretrain 200 2>/dev/null | tail -n 1 > "$out/jax-gmm-K$k-$r.json"
    echo "jax  mixture K=$k: $(grep -o '"sec_per_step": [0-9.e-]*' "$out/jax-gmm-K$k-$r.json")"
    run "$py" "$peers/jax_emd_step_bench.py" --K "$k" --n-student 5 --steps 5 2>/dev/null | tail -n 1 > "$out/jax-image-K$k-$r.json"
    echo "jax  image K=$k: $(grep -o '"sec_per_step": [0-9.e-]*' "$out/jax-image-K$k-$r.json")"
  done
  run "${kernel[@]}" "$emd" bench --unet 32,28,64 --conv-scratch 65536 --repeats 5 --json "$out/emd-bench-$r.json" \
    > "$out/emd-bench-$r.log" 2>&1
  echo "emd  unet: $(grep -o 'U-Net.*samples/s'  "$out/emd-bench-$r.log" | head -n 1)"
  run "$py" "$peers/jax_unet_step_bench.py" 64 32 8 2>/dev/null | tail -n 1 > "$out/jax-unet-$r.json"
  echo "jax  unet: $(cat "$out/jax-unet-$r.json")"
done
