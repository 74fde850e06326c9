#!/usr/bin/env bash
# The README's first command: install, build, and run the main job on the built-in default
# with one rank per core.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
mkdir -p runs
bash launch/mpirun-local.sh "$(nproc)" demo --out runs/demo --json runs/demo.json
