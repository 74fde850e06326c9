#!/usr/bin/env bash
# The Fashion-MNIST pipeline on the class-conditional EDM U-Net:
#   1. teacher across RANKS ranks (resumable: rerun the script to continue an interrupted run),
#   2. the feature classifier (once),
#   3. the teacher evaluated at 35 NFE for guidance scales W (FD, precision, recall, class_tv,
#      conditional accuracy) with a grid of one row per class,
#   4. unless DISTILL=0: EMD (K = 8) and the K = 1 baseline distilled from it at equal wall time
#      (launch/distill-fashion-unet.sh: EMD_STEPS and BASELINE_STEPS, side by side on one core
#      each, the teacher's score guided with GUIDANCE), sampled in one step and evaluated.
#   launch/fashion-unet.sh [RANKS] [TEACHER_STEPS] [EMD_STEPS] [BASELINE_STEPS]
# Defaults: 2 ranks, 6000 teacher steps, 700 EMD and 1700 baseline steps at batch 16 (about 25
# minutes side by side); the whole pipeline's time on this project's 2-core machine is in
# docs/results.md. OUT (default runs/fashion-unet),
# CHANNELS (16), GUIDANCE (2), W ("0 1 2" for the teacher), SEED (0), COUNT (evaluation
# samples, 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
ranks="${1:-2}"; steps="${2:-6000}"; emd_steps="${3:-700}"; baseline_steps="${4:-1700}"
out="${OUT:-runs/fashion-unet}"; channels="${CHANNELS:-16}"; guidance="${GUIDANCE:-2}"; seed="${SEED:-0}"; count="${COUNT:-1000}"
emd=.build/release/emd
start=$(date +%s)
mkdir -p "$out"
resume=(); [ -d "$out/teacher" ] && resume=(--resume)
bash launch/mpirun-local.sh "$ranks" train-teacher --data fashion-mnist --network edm-unet --channels "$channels" \
  --conditional --batch 64 --lr 5e-4 --steps "$steps" --seed "$seed" --checkpoint-every 250 --log-every 100 \
  --out "$out/teacher" "${resume[@]}"
teacher="$out/teacher/teacher.safetensors"
[ -f runs/classifier.safetensors ] || "$emd" train-classifier --out runs/classifier.safetensors --steps 3750 --batch 64
row() {  # name json
  python3 - "$1" "$2" <<'EOF' 2>/dev/null || cat "$2"
import json, sys
m = json.load(open(sys.argv[2]))
print("| %s | %.1f | %.3f | %.3f | %.3f | %.3f |" % (sys.argv[1], m["fd"], m["precision"], m["recall"], m["class_tv"],
                                                      m.get("conditional_accuracy", float("nan"))))
EOF
}
printf "| model | FD | precision | recall | class_tv | conditional accuracy |\n|---|---|---|---|---|---|\n"
for w in ${W:-0 1 2}; do
  "$emd" eval --checkpoint "$teacher" --class all --guidance "$w" --count "$count" --steps 18 --seed "$seed" \
    --classifier runs/classifier.safetensors --json "$out/teacher-w$w.json" >/dev/null
  row "teacher, Heun 35 NFE, w = $w" "$out/teacher-w$w.json"
done
"$emd" sample --checkpoint "$teacher" --class all --guidance "$guidance" --count 100 --steps 18 \
  --out "$out/teacher-grid.npy" --png "$out/teacher-grid.png" >/dev/null
if [ "${DISTILL:-1}" != 0 ]; then
  GUIDANCE="$guidance" SEED="$seed" COUNT="$count" OUT="$out/distill" \
    bash launch/distill-fashion-unet.sh "$teacher" "$emd_steps" "$baseline_steps"
fi
echo "total $(( $(date +%s) - start )) s; grids in $out/*-grid.png and $out/distill/*-grid.png"
