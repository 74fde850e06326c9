#!/usr/bin/env bash
# Distill the class-conditional Fashion-MNIST U-Net teacher into two one-step generators,
# EMD (K = 8) and the K = 1 baseline, side by side (one rank each, one core each), then
# evaluate both with the feature classifier over all classes.
#   launch/distill-fashion-unet.sh TEACHER [EMD_STEPS] [BASELINE_STEPS]
# Equal wall time is set by step counts, so that load on a shared machine cannot shorten a
# run: the defaults 700 and 1700 keep the cost ratio of the two steps measured side by side
# (2.16 s and 0.88 s per step at batch 16 and guidance 2, one core each, the default
# convolution backend: about 25 minutes each; docs/results.md). GUIDANCE (w of the
# teacher's score, default 2), BATCH (16), LR (generator and student, 2e-4), STUDENT_LR (the
# student's alone, default LR), LR_DECAY (1: anneal the generator's lr to 0 along a cosine over
# each run's steps; default 0, constant), SIGMA_HI (top of the distillation noise range in
# units of sigma_data; default emd's, 1.5), STUDENT_NOISE (logNormal, emd's default, or
# distillationRange), SEED (0),
# COUNT (evaluation samples, 1000), OUT (runs/fashion-unet-distill). Rerunning it resumes
# interrupted runs from their newest checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
teacher="${1:?usage: launch/distill-fashion-unet.sh TEACHER [EMD_STEPS] [BASELINE_STEPS]}"
emd_steps="${2:-700}"; baseline_steps="${3:-1700}"
guidance="${GUIDANCE:-2}"; batch="${BATCH:-16}"; lr="${LR:-2e-4}"; student_lr="${STUDENT_LR:-$lr}"; seed="${SEED:-0}"
lr_decay="${LR_DECAY:-0}"; sigma_hi="${SIGMA_HI:-}"; student_noise="${STUDENT_NOISE:-}"
case "$lr_decay" in 0|1) ;; *) echo "LR_DECAY must be 0 or 1, got $lr_decay" >&2; exit 2 ;; esac
count="${COUNT:-1000}"; out="${OUT:-runs/fashion-unet-distill}"
emd=.build/release/emd
mkdir -p "$out"
common=(--teacher "$teacher" --guidance "$guidance" --batch "$batch" --generator-lr "$lr" --student-lr "$student_lr"
        --seed "$seed" --log-every 10 --checkpoint-every 50 --eval-samples 0)
[ -n "$sigma_hi" ] && common+=(--sigma-hi "$sigma_hi")
[ -n "$student_noise" ] && common+=(--student-noise "$student_noise")
run() {  # name flags...
  local name=$1; shift
  local resume=(--overwrite); compgen -G "$out/$name/ckpt-*.safetensors" >/dev/null && resume=(--resume)
  "$emd" distill "${common[@]}" "$@" "${resume[@]}" --out "$out/$name" >> "$out/$name.log" 2>&1
}
decay() { [ "$lr_decay" = 1 ] && echo --generator-lr-decay-steps "$1"; true; }  # steps
run emd --steps "$emd_steps" --langevin-steps 8 $(decay "$emd_steps") & a=$!
run baseline --steps "$baseline_steps" --method baseline $(decay "$baseline_steps") & b=$!
wait "$a"; wait "$b"
[ -f runs/classifier.safetensors ] || "$emd" train-classifier --out runs/classifier.safetensors --steps 3750 --batch 64
printf "| generator | steps | training s | FD | precision | recall | class_tv | conditional accuracy |\n"
printf "|---|---|---|---|---|---|---|---|\n"
for name in emd baseline; do
  "$emd" eval --checkpoint "$out/$name/generator.safetensors" --class all --count "$count" --seed "$seed" \
    --classifier runs/classifier.safetensors --json "$out/$name.json" >/dev/null
  "$emd" sample --checkpoint "$out/$name/generator.safetensors" --class all --count 100 \
    --out "$out/$name-grid.npy" --png "$out/$name-grid.png" >/dev/null
  python3 - "$name" "$out/$name.json" "$out/$name/metrics.jsonl" <<'EOF' || cat "$out/$name.json"
import json, sys
m = json.load(open(sys.argv[2]))
rows = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
# elapsed_s restarts with each resumed segment: the training time is the segments' sum.
seconds = sum(a["elapsed_s"] for a, b in zip(rows, rows[1:]) if b["elapsed_s"] < a["elapsed_s"]) + rows[-1]["elapsed_s"]
print("| %s | %d | %.0f | %.1f | %.3f | %.3f | %.3f | %.3f |" % (sys.argv[1], rows[-1]["step"], seconds, m["fd"],
      m["precision"], m["recall"], m["class_tv"], m.get("conditional_accuracy", float("nan"))))
EOF
done
