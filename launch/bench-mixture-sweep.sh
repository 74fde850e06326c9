#!/usr/bin/env bash
# The mixture benchmark of docs/results.md: EMD with K in {1,2,4,8,16}, with and without noise
# cancellation, over seeds, same steps, on the exact mixture teacher; one shared initial network.
#   RANKS=2 STEPS=5000 SEEDS="0 1 2" KS="1 2 4 8 16" NC="on off" MIXTURE=ring launch/bench-mixture-sweep.sh
# Writes <OUT>/<run>/eval.json (OUT defaults to runs/sweep-<mixture>) and prints a Markdown table
# (mean over seeds). EXTRA adds flags to every distillation. Runs already evaluated are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
ranks="${RANKS:-1}"; steps="${STEPS:-5000}"; seeds="${SEEDS:-0 1 2}"; ks="${KS:-1 2 4 8 16}"
mixture="${MIXTURE:-ring}"; extra="${EXTRA:-}"; ncs="${NC:-on off}"
out="${OUT:-runs/sweep-${mixture//[:\/]/-}}"
mkdir -p "$out"
run() { bash launch/mpirun-local.sh "$ranks" distill --teacher mixture --mixture "$mixture" --steps "$steps" --overwrite \
          --log-every 1000 --checkpoint-every "$steps" "$@" $extra >/dev/null; }
# One initial network per seed, shared by every K.
for seed in $seeds; do
  [ -f "$out/init-$seed/teacher.safetensors" ] || \
    bash launch/mpirun-local.sh "$ranks" train-teacher --data mixture --mixture "$mixture" --steps 3000 --seed "$seed" \
      --log-every 1000 --overwrite --out "$out/init-$seed" >/dev/null
done
printf "| K | noise cancellation | on_mode | modes covered | weight_tv | s/step |\n|---|---|---|---|---|---|\n"
for nc in $ncs; do
  for k in $ks; do
    [ "$nc" = off ] && [ "$k" = 1 ] && continue
    for seed in $seeds; do
      dir="$out/k$k-nc$nc-s$seed"
      flags=(--langevin-steps "$k" --seed "$seed" --init "$out/init-$seed/teacher.safetensors" --out "$dir")
      [ "$k" = 1 ] && flags+=(--method baseline)
      [ "$nc" = off ] && flags+=(--no-noise-cancellation)
      if [ ! -f "$dir/eval.json" ]; then
        start=$(date +%s.%N)
        run "${flags[@]}"
        end=$(date +%s.%N)
        awk -v a="$start" -v b="$end" -v n="$steps" 'BEGIN { printf "%.6f\n", (b - a) / n }' > "$dir/seconds_per_step"
      fi
    done
    awk -v k="$k" -v nc="$nc" -F'[:,]' '
      FNR == 1 { files++ }
      /"on_mode"/ { om += $2 } /"modes_covered"/ { mc = mc (mc == "" ? "" : "/") $2 + 0 } /"weight_tv"/ { tv += $2 }
      END { printf "| %s | %s | %.3f | %s | %.3f |", k, nc, om / files, mc, tv / files }' "$out"/k$k-nc$nc-s*/eval.json
    cat "$out"/k$k-nc$nc-s*/seconds_per_step 2>/dev/null | awk '{ s += $1; n++ } END { printf " %.4f |\n", n ? s / n : 0 }'
  done
done
