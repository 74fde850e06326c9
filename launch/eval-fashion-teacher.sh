#!/usr/bin/env bash
# Evaluate a Fashion-MNIST teacher at several Heun NFE with the project's feature classifier
# (trained first if missing): FD, precision, recall, class TV on 10k samples vs the 10k test
# images, plus a PNG grid per NFE. Results: runs/fashion-eval/nfe-*.json and a table on stdout.
#   launch/eval-fashion-teacher.sh [TEACHER_CHECKPOINT] [SAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
teacher="${1:-runs/fashion-teacher/teacher.safetensors}"
count="${2:-10000}"
emd=.build/release/emd
out=runs/fashion-eval
mkdir -p "$out"
clf=runs/classifier.safetensors
if [ ! -f "$clf" ]; then
  "$emd" train-classifier --out "$clf" --steps 3750 --batch 64 --json runs/classifier.json
fi
printf "| NFE | FD | precision | recall | class_tv |\n|---|---|---|---|---|\n"
for n in 1 2 3 5 9 18; do
  nfe=$((2 * n - 1))
  "$emd" sample --checkpoint "$teacher" --steps "$n" --count "$count" --out "$out/nfe-$nfe.npy" --png "$out/nfe-$nfe.png" >/dev/null
  "$emd" eval --samples "$out/nfe-$nfe.npy" --classifier "$clf" --json "$out/nfe-$nfe.json" >/dev/null
  awk -v nfe="$nfe" -F'[:,]' '/"fd"/{fd=$2} /"precision"/{p=$2} /"recall"/{r=$2} /"class_tv"/{c=$2}
    END{printf "| %d | %.1f | %.3f | %.3f | %.3f |\n", nfe, fd, p, r, c}' "$out/nfe-$nfe.json"
done
