# Shared by the batch scripts (slurm.sbatch, pbs.sh); source it after cd'ing to the repository.
# What a scheduler job needs to know about an emd command: whether it takes --resume, where its
# run folder is, how to pass a stop signal on to the ranks, and whether it ended preempted.

# Run-as-root permission for OpenMPI, only when root (containers, CI).
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

# emd_resume_flags SUBCOMMAND: sets the array `resume` to (--resume) for the commands that
# checkpoint (train-teacher, distill, train-classifier), else to (). The others (sample, eval,
# ...) reject the flag; a rerun of one simply writes the same file again (samples are keyed by
# seed and index).
emd_resume_flags() {
  case "${1:-}" in
    train-teacher|distill|train-classifier) resume=(--resume) ;;
    *) resume=() ;;
  esac
}

# emd_out_folder ARGS...: prints the run folder given by --out (the last one wins, as in emd).
emd_out_folder() {
  local out="" prev="" a
  for a in "$@"; do
    [ "$prev" = "--out" ] && out="$a"
    case "$a" in --out=*) out="${a#--out=}" ;; esac
    prev="$a"
  done
  printf '%s' "$out"
}

# emd_run_forwarding LAUNCH...: runs the launcher (mpirun or srun and the emd command) in the
# background and waits for it. SIGUSR1 or SIGTERM to this script is passed on as SIGUSR1, which
# mpirun and srun forward to every rank: the ranks finish the step, checkpoint and exit 75.
# Sets `status` to the launcher's exit status.
emd_run_forwarding() {
  "$@" &
  local child=$!
  # shellcheck disable=SC2064
  trap "kill -USR1 $child 2>/dev/null" USR1 TERM
  wait "$child"; status=$?
  # `wait` returns early when a trapped signal arrives: wait for the launcher to finish.
  while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
  trap - USR1 TERM
}

# emd_was_preempted STATUS MARKER STARTED: true when the run checkpointed on a stop signal:
# status 75, or any failing status with a preemption marker (OUT/preempted.json) written since
# STARTED (seconds since the epoch). mpirun's own status can differ from its ranks' 75 (1 when
# mpirun itself got SIGTERM, 138 after several signals), so the marker decides.
emd_was_preempted() {
  local status="$1" marker="$2" started="$3"
  [ "$status" -eq 75 ] && return 0
  [ "$status" -ne 0 ] && [ -n "$marker" ] && [ -f "$marker" ] && [ "$(stat -c %Y "$marker")" -ge "$started" ]
}
