#!/usr/bin/env bash
# PBS / Torque batch script for emd:
#   qsub -v EMD_ARGS="distill --teacher mixture --out runs/distill" launch/pbs.sh
# EMD_ARGS is any emd subcommand and its flags (split on spaces). The training commands
# (train-teacher, distill, train-classifier) get --resume, so submitting the same job again
# continues the run from its newest checkpoint. At the walltime (or on qdel) PBS sends SIGTERM to
# the job, then SIGKILL after the server's kill_delay; `qsig -s USR1 JOBID` asks for a checkpoint
# at any time. Either signal reaches every rank (directly, and forwarded by this script to
# mpirun as SIGUSR1): the ranks finish the step, write a checkpoint and exit 75, and this script
# exits 75 too, whatever mpirun reports (1 here; it reads the run's preempted.json marker). A step plus a
# checkpoint must fit in kill_delay; where it does not, send USR1 ahead of the walltime.
#PBS -N emd
#PBS -l select=2:ncpus=2:mpiprocs=2
#PBS -l walltime=01:00:00
#PBS -j oe
set -uo pipefail
cd "${PBS_O_WORKDIR:-$(pwd)}"
EMD="${EMD_BIN:-$(pwd)/.build/release/emd}"
export EMD_BLAS_THREADS="${EMD_BLAS_THREADS:-1}"
export OPENBLAS_NUM_THREADS="$EMD_BLAS_THREADS"
# shellcheck source=launch/batch-lib.sh
source launch/batch-lib.sh
read -r -a args <<< "${EMD_ARGS:?set EMD_ARGS to an emd subcommand and flags}"
ranks=$(wc -l < "${PBS_NODEFILE:?not inside a PBS job (PBS_NODEFILE unset)}")
emd_resume_flags "${args[0]}"
out="$(emd_out_folder "${args[@]}")"
started=$(date +%s)
emd_run_forwarding mpirun -np "$ranks" --hostfile "$PBS_NODEFILE" -x EMD_BLAS_THREADS -x OPENBLAS_NUM_THREADS \
  "$EMD" "${args[@]}" "${resume[@]}"
if emd_was_preempted "$status" "${out:+$out/preempted.json}" "$started"; then
  echo "emd: preempted (status $status), checkpoint written; qsub the same job again to resume"
  exit 75
fi
exit "$status"
