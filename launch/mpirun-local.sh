#!/usr/bin/env bash
# Local launcher: run an emd command on N ranks of this machine.
#   launch/mpirun-local.sh N emd-subcommand [flags...]
# One OpenBLAS thread per rank (override with EMD_BLAS_THREADS); the run-as-root variables
# only when run as root; --oversubscribe only when ranks exceed cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ranks="${1:?usage: mpirun-local.sh RANKS SUBCOMMAND [FLAGS...]}"; shift
bin="${EMD_BIN:-$here/../.build/release/emd}"
[ -x "$bin" ] || { echo "mpirun-local: $bin not built; run launch/setup.sh" >&2; exit 1; }
args=(-np "$ranks" -x EMD_BLAS_THREADS="${EMD_BLAS_THREADS:-1}" -x OPENBLAS_NUM_THREADS="${EMD_BLAS_THREADS:-1}")
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [ "$ranks" -gt "$(nproc)" ]; then args+=(--oversubscribe); fi
exec mpirun "${args[@]}" "$bin" "$@"
