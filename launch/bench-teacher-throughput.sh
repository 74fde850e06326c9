#!/usr/bin/env bash
# Teacher training throughput (samples/s) on Fashion-MNIST for the MLP and the U-Net, on 1 and
# 2 ranks, from the metrics.jsonl of short runs (the last logged interval, after warm-up).
#   STEPS=60 NETWORKS="mlp unet edm-unet" launch/bench-teacher-throughput.sh
# edm-unet is the class-conditional EDM U-Net of launch/fashion-unet.sh (c = 16).
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${STEPS:-60}"
printf "| network | ranks | global batch | samples/s |\n|---|---|---|---|\n"
for net in ${NETWORKS:-mlp unet}; do
  for ranks in 1 2; do
    out="runs/throughput-$net-$ranks"
    rm -rf "$out"
    flags=(--data fashion-mnist --network "$net" --steps "$steps" --log-every $((steps / 3)) --checkpoint-every 100000)
    [ "$net" = mlp ] && flags+=(--hidden 1024 --depth 3 --batch 128)
    [ "$net" = unet ] && flags+=(--channels 32 --batch 64)
    [ "$net" = edm-unet ] && flags+=(--channels 16 --conditional --batch 64)
    bash launch/mpirun-local.sh "$ranks" train-teacher "${flags[@]}" --out "$out" >/dev/null
    rate=$(tail -n 1 "$out/metrics.jsonl" | sed -E 's/.*"samples_per_s":([0-9.]+).*/\1/')
    batch=$([ "$net" = mlp ] && echo 128 || echo 64)
    printf "| %s | %d | %d | %.0f |\n" "$net" "$ranks" "$batch" "$rate"
  done
done
