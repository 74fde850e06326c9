#!/usr/bin/env bash
# Distill the Fashion-MNIST teacher with EMD (K = 8) and with the K = 1 baseline for the same
# wall time, then evaluate both one-step generators with the feature classifier.
#   launch/distill-fashion.sh [TEACHER] [SECONDS] [RANKS]
set -euo pipefail
cd "$(dirname "$0")/.."
teacher="${1:-runs/fashion-teacher/teacher.safetensors}"; seconds="${2:-480}"; ranks="${3:-1}"
emd=.build/release/emd
common=(--teacher "$teacher" --batch 64 --steps 100000 --time-limit "$seconds" --generator-lr 1e-4 --student-lr 2e-4
        --log-every 50 --checkpoint-every 250 --eval-samples 0)
bash launch/mpirun-local.sh "$ranks" distill "${common[@]}" --langevin-steps 8 --gamma-z 0.001 --out runs/fashion-emd
bash launch/mpirun-local.sh "$ranks" distill "${common[@]}" --method baseline --out runs/fashion-baseline
[ -f runs/classifier.safetensors ] || "$emd" train-classifier --out runs/classifier.safetensors --steps 3750 --batch 64
printf "| generator | FD | precision | recall | class_tv |\n|---|---|---|---|---|\n"
for name in emd baseline; do
  "$emd" sample --checkpoint "runs/fashion-$name/generator.safetensors" --count 10000 --out "runs/fashion-$name/samples.npy" \
    --png "runs/fashion-$name/grid.png" >/dev/null
  "$emd" eval --samples "runs/fashion-$name/samples.npy" --classifier runs/classifier.safetensors \
    --json "runs/fashion-$name/eval.json" >/dev/null
  awk -v n="$name" -F'[:,]' '/"fd"/{fd=$2} /"precision"/{p=$2} /"recall"/{r=$2} /"class_tv"/{c=$2}
    END{printf "| %s | %.1f | %.3f | %.3f | %.3f |\n", n, fd, p, r, c}' "runs/fashion-$name/eval.json"
done
