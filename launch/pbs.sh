#!/usr/bin/env bash
# PBS / Torque batch script for emd:
#   qsub -v EMD_ARGS="distill --teacher mixture --out runs/distill" launch/pbs.sh
#PBS -N emd
#PBS -l select=2:ncpus=2:mpiprocs=2
#PBS -l walltime=01:00:00
#PBS -j oe
set -uo pipefail
cd "${PBS_O_WORKDIR:-$(pwd)}"
EMD="${EMD_BIN:-$(pwd)/.build/release/emd}"
ranks=$(wc -l < "$PBS_NODEFILE")
export EMD_BLAS_THREADS=1 OPENBLAS_NUM_THREADS=1
# shellcheck disable=SC2086
mpirun -np "$ranks" --hostfile "$PBS_NODEFILE" -x EMD_BLAS_THREADS -x OPENBLAS_NUM_THREADS \
  "$EMD" ${EMD_ARGS:?set EMD_ARGS to an emd subcommand and flags} --resume
status=$?
# 75: preempted after a checkpoint; resubmit to continue.
[ "$status" -eq 75 ] && echo "emd: preempted, checkpoint written; qsub again to resume"
exit "$status"
