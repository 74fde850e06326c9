#!/usr/bin/env bash
# Equal-wall-time comparison on a mixture: every configuration gets the same --time-limit
# (training seconds), the same initial network and seeds; prints a Markdown table.
#   LIMIT=150 SEEDS="0" MIXTURE=random:8 RANKS=1 launch/bench-equal-time.sh \
#     "K=1|--method baseline" "K=8|--langevin-steps 8" "K=4 gz=0.03|--langevin-steps 4 --gamma-z 0.03"
# Initial networks come from launch/bench-mixture-sweep.sh's folder (runs/sweep-<mixture>/init-SEED),
# trained here when missing. Results: runs/equal-<mixture>/<name>-s<seed>/eval.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ranks="${RANKS:-1}"; limit="${LIMIT:-150}"; seeds="${SEEDS:-0}"; mixture="${MIXTURE:-random:8}"
tag="${mixture//[:\/]/-}"
init="runs/sweep-$tag"; out="runs/equal-$tag"
mkdir -p "$out"
for seed in $seeds; do
  [ -f "$init/init-$seed/teacher.safetensors" ] || \
    bash launch/mpirun-local.sh "$ranks" train-teacher --data mixture --mixture "$mixture" --steps 3000 --seed "$seed" \
      --log-every 1000 --out "$init/init-$seed" >/dev/null
done
printf "| run | steps in %s s | on_mode (seeds) | modes covered | weight_tv (seeds) | heaviest mode share |\n|---|---|---|---|---|---|\n" "$limit"
for spec in "$@"; do
  name="${spec%%|*}"; flags="${spec#*|}"
  safe="$(echo "$name" | tr -c 'A-Za-z0-9=.\n' '_')"
  oms=""; mcs=""; tvs=""; hs=""; steps=""
  for seed in $seeds; do
    dir="$out/$safe-s$seed"
    if [ ! -f "$dir/eval.json" ]; then
      # shellcheck disable=SC2086
      bash launch/mpirun-local.sh "$ranks" distill --teacher mixture --mixture "$mixture" --steps 1000000 \
        --time-limit "$limit" --log-every 1000 --checkpoint-every 1000000 --seed "$seed" \
        --init "$init/init-$seed/teacher.safetensors" --overwrite --out "$dir" $flags > "$dir.log" 2>&1
    fi
    read -r om mc tv h < <(python3 -c "
import json,sys; d=json.load(open('$dir/eval.json')); s=d.get('mode_shares') or [0]
print(d['on_mode'], d['modes_covered'], d['weight_tv'], max(s))")
    st=$(grep -o "time limit of [0-9.]* s reached after [0-9]* steps" "$dir.log" | grep -o "[0-9]* steps" | cut -d' ' -f1 || true)
    oms="$oms${oms:+, }$(printf %.3f "$om")"; mcs="$mcs${mcs:+, }$mc"; tvs="$tvs${tvs:+, }$(printf %.3f "$tv")"
    hs="$hs${hs:+, }$(printf %.3f "$h")"; steps="$steps${steps:+, }${st:-?}"
  done
  echo "| $name | $steps | $oms | $mcs | $tvs | $hs |"
done
