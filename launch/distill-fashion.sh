#!/usr/bin/env bash
# Distill the Fashion-MNIST teacher with EMD (K = 8) and with the K = 1 baseline on the same
# budget, then evaluate both one-step generators with the feature classifier.
#   launch/distill-fashion.sh [TEACHER] [SECONDS] [RANKS]
# Budget: SECONDS of training each (a time limit), or fixed step counts with
# EMD_STEPS=1000 BASELINE_STEPS=1700 (set both). SIDE_BY_SIDE=1 runs the two at once.
# LR (generator and student learning rate, default 2e-4), SEED (default 0) and OUT (default
# runs/fashion).
set -euo pipefail
cd "$(dirname "$0")/.."
teacher="${1:-runs/fashion-teacher/teacher.safetensors}"; seconds="${2:-480}"; ranks="${3:-1}"
lr="${LR:-2e-4}"; seed="${SEED:-0}"; out="${OUT:-runs/fashion}"
emd=.build/release/emd
# The noise levels of the measured runs (docs/results.md), in data units; --overwrite: a rerun
# replaces the previous one.
common=(--teacher "$teacher" --batch 64 --generator-lr "$lr" --student-lr "$lr"
        --noise-units absolute --sigma-lo 0.05 --sigma-hi 2 --sigma-init 2.5
        --seed "$seed" --log-every 50 --checkpoint-every 250 --eval-samples 0 --overwrite)
if [ -n "${EMD_STEPS:-}" ] && [ -n "${BASELINE_STEPS:-}" ]; then
  emd_budget=(--steps "$EMD_STEPS"); baseline_budget=(--steps "$BASELINE_STEPS")
else
  emd_budget=(--steps 1000000 --time-limit "$seconds"); baseline_budget=("${emd_budget[@]}")
fi
run_emd() { bash launch/mpirun-local.sh "$ranks" distill "${common[@]}" "${emd_budget[@]}" --langevin-steps 8 \
              --gamma-z 0.001 --out "$out-emd" > "$out-emd.log" 2>&1; }
run_baseline() { bash launch/mpirun-local.sh "$ranks" distill "${common[@]}" "${baseline_budget[@]}" --method baseline \
                   --out "$out-baseline" > "$out-baseline.log" 2>&1; }
if [ "${SIDE_BY_SIDE:-0}" = 1 ]; then
  run_emd & a=$!; run_baseline & b=$!
  wait "$a"; wait "$b"
else
  run_emd; run_baseline
fi
[ -f runs/classifier.safetensors ] || "$emd" train-classifier --out runs/classifier.safetensors --steps 3750 --batch 64
printf "| generator | steps | training s | FD | precision | recall | class_tv |\n|---|---|---|---|---|---|---|\n"
for name in emd baseline; do
  "$emd" sample --checkpoint "$out-$name/generator.safetensors" --count 10000 --out "$out-$name/samples.npy" \
    --png "$out-$name/grid.png" >/dev/null
  "$emd" eval --samples "$out-$name/samples.npy" --classifier runs/classifier.safetensors \
    --json "$out-$name/eval.json" >/dev/null
  last=$(tail -n 1 "$out-$name/metrics.jsonl")
  # A time-limited run stops between logged steps: its log names the final step.
  final=$(grep -o "reached after [0-9]* steps" "$out-$name.log" | grep -o "[0-9]*" || true)
  awk -v n="$name" -v last="$last" -v final="$final" -F'[:,]' '/"fd"/{fd=$2} /"precision"/{p=$2} /"recall"/{r=$2} /"class_tv"/{c=$2}
    END{ match(last, /"step":[0-9]+/); st=substr(last, RSTART+7, RLENGTH-7); if (final != "") st=final
         match(last, /"elapsed_s":[0-9.]+/); el=substr(last, RSTART+12, RLENGTH-12)
         printf "| %s | %s | %.0f | %.1f | %.3f | %.3f | %.3f |\n", n, st, el, fd, p, r, c}' "$out-$name/eval.json"
done
