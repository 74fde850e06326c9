#!/usr/bin/env bash
# Reproduce the Fashion-MNIST teacher of docs/results.md: an MLP 784 -> 1024 x 3 -> 784 with
# Fourier noise features, EDM-trained on the 60k training images. Resumable: rerun to continue.
#   launch/train-fashion-teacher.sh [RANKS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
ranks="${1:-1}"; steps="${2:-40000}"
bash launch/mpirun-local.sh "$ranks" train-teacher --data fashion-mnist --network mlp --hidden 1024 --depth 3 \
  --batch 128 --lr 2e-4 --ema-decay 0.999 --steps "$steps" --log-every 500 --checkpoint-every 2000 \
  --out runs/fashion-teacher --resume
