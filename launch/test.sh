#!/usr/bin/env bash
# The README's second command: install what is missing, build everything, and run the whole
# test suite (unit tests in-process; multi-rank tests launch mpirun on the built executables).
set -uo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh --build-tests || exit 1
export EMD_BIN_DIR="$(swift build -c release --show-bin-path)"
# One OpenBLAS thread in the test process, as every emd rank has by default: a second thread
# spinning for a busy core only slows the in-process training tests down.
export OPENBLAS_NUM_THREADS=1
swift test -c release --skip-build --disable-swift-testing "$@" 2>&1 | grep -Ev "^Test Case '.*' (started|passed)"
exit "${PIPESTATUS[0]}"
