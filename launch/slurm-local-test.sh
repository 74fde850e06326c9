#!/usr/bin/env bash
# Integration test on a real Slurm: installs Debian's Slurm and munge on this machine (root),
# configures a one-node cluster, submits launch/slurm.sbatch for short distillations, and checks
# what they wrote. Three jobs:
#   1. mpirun inside the allocation (the batch script's default launcher);
#   2. srun --mpi=pmix (EMD_LAUNCHER=srun);
#   3. preemption: a longer run gets SIGUSR1 through `scancel --signal=USR1 --batch`, checkpoints,
#      exits 75 and requeues itself; the requeued job resumes and finishes.
#   launch/slurm-local-test.sh [OUTDIR]      (default runs/slurm-test; prints PASS or FAIL lines)
# Leaves slurmctld, slurmd and munged running; `launch/slurm-local-test.sh --stop` stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
if [ "${1:-}" = "--stop" ]; then
  for d in slurmd slurmctld munged; do pkill -x "$d" || true; done
  for _ in $(seq 1 50); do pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || pgrep -x munged >/dev/null || break; sleep 0.2; done
  exit 0
fi
out="$(realpath -m "${1:-runs/slurm-test}")"
[ "$(id -u)" -eq 0 ] || { echo "slurm-local-test: needs root (installs and starts daemons)" >&2; exit 1; }
bin="${EMD_BIN:-$root/.build/release/emd}"
[ -x "$bin" ] || { echo "slurm-local-test: $bin not built; run launch/setup.sh" >&2; exit 1; }
fail=0
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fail=1; fi; }

# --- install -----------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "== installing slurm-wlm and munge"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null
fi

# --- munge, as the munge user ----------------------------------------------------------------
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  echo "== starting munged"
  mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
  chmod 0700 /etc/munge /var/log/munge /var/lib/munge; chmod 0755 /run/munge; chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged
  sleep 1
fi
check "munge round trip" "munge -n | unmunge >/dev/null"

# --- a one-node cluster ------------------------------------------------------------------------
host="$(hostname -s)"
marker="# written by emd launch/slurm-local-test.sh"
if [ -f /etc/slurm/slurm.conf ] && ! grep -qF "$marker" /etc/slurm/slurm.conf; then
  echo "slurm-local-test: /etc/slurm/slurm.conf exists and is not ours; refusing to touch a real cluster's config" >&2
  exit 2
fi
if ! scontrol ping 2>/dev/null | grep -q UP; then
  echo "== configuring and starting slurmctld and slurmd on $host"
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  node="$(slurmd -C | head -n 1)"
  cat > /etc/slurm/slurm.conf <<CONF
$marker
ClusterName=emd-local
SlurmctldHost=$host
AuthType=auth/munge
# A requeued job waits cred_expire seconds before it may start again (default 120).
AuthInfo=cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=30
$node
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  slurmctld -c
  slurmd
fi
for _ in $(seq 1 30); do sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed|alloc" && break; sleep 1; done
check "node $host is up" "sinfo -h -o %T | grep -qE 'idle|mixed|alloc'"

# --- jobs ----------------------------------------------------------------------------------
rm -rf "$out"; mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 EMD_BIN="$bin"
"$bin" train-teacher --data mixture --hidden 32 --steps 200 --batch 64 --log-every 100 --out "$out/init" >/dev/null
common=(distill --teacher mixture --init "$out/init/teacher.safetensors" --batch 64 --langevin-steps 4 --eval-samples 2000)

job() {  # job NAME ENV... -- EMD ARGS: submit, wait, print the exit code
  local name="$1"; shift
  local envs=(); while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  env "${envs[@]}" sbatch --parsable --ntasks=2 --time=10 --job-name="emd-$name" \
      --output="$out/$name.log" launch/slurm.sbatch "$@" --out "$out/$name" > "$out/$name.jobid" 2>"$out/$name.sbatch-err" || true
  # Poll every 0.2 s (sbatch --wait backs off to several seconds between polls).
  local id; id=$(cat "$out/$name.jobid")
  for _ in $(seq 1 3000); do squeue -h -j "$id" 2>/dev/null | grep -q . || break; sleep 0.2; done
  sacct_free_state "$name"
}
# No accounting here: read the exit code from the slurmctld log via scontrol while it is kept.
sacct_free_state() { scontrol show job "$(cat "$out/$1.jobid")" 2>/dev/null | grep -o "ExitCode=[0-9:]*" | head -n 1 || true; }

echo "== job 1: mpirun inside the allocation"
state=$(job mpirun EMD_LAUNCHER=mpirun -- "${common[@]}" --steps 300)
check "mpirun job exit code 0 ($state)" "[ '$state' = 'ExitCode=0:0' ]"
check "mpirun job wrote a checkpoint" "[ -f '$out/mpirun/ckpt-00000300.safetensors' ] && [ -f '$out/mpirun/generator.safetensors' ]"
check "mpirun job log is complete" "grep -q 'step 300/300' '$out/mpirun.log' && grep -q 'identical' '$out/mpirun.log' && grep -q 'on_mode' '$out/mpirun.log'"
check "mpirun job ran 2 ranks" "grep -q '2 rank(s)' '$out/mpirun.log'"

echo "== job 2: srun --mpi=pmix"
state=$(job srun EMD_LAUNCHER=srun -- "${common[@]}" --steps 300)
check "srun job exit code 0 ($state)" "[ '$state' = 'ExitCode=0:0' ]"
check "srun job wrote a checkpoint" "[ -f '$out/srun/ckpt-00000300.safetensors' ] && [ -f '$out/srun/generator.safetensors' ]"
check "srun job log is complete, 2 ranks" "grep -q 'step 300/300' '$out/srun.log' && grep -q '2 rank(s)' '$out/srun.log'"

echo "== job 3: preemption (SIGUSR1 to the batch script), requeue, resume"
id=$(EMD_LAUNCHER=mpirun sbatch --parsable --ntasks=2 --time=10 --job-name=emd-preempt --output="$out/preempt.log" \
       launch/slurm.sbatch "${common[@]}" --steps 4000 --log-every 100 --checkpoint-every 100000 --out "$out/preempt")
for _ in $(seq 1 120); do [ -s "$out/preempt/metrics.jsonl" ] && break; sleep 0.5; done
scancel --signal=USR1 --batch "$id"
for _ in $(seq 1 600); do
  grep -q "generator written" "$out/preempt.log" 2>/dev/null && ! squeue -h -j "$id" 2>/dev/null | grep -q . && break
  sleep 1
done
check "preempted job checkpointed and requeued" "grep -q 'preempted at step' '$out/preempt.log' && grep -q 'requeueing job $id' '$out/preempt.log'"
check "requeued job resumed and finished" "grep -q 'resumed from' '$out/preempt.log' && grep -q 'step 4000/4000' '$out/preempt.log' && [ -f '$out/preempt/generator.safetensors' ]"
state=$(scontrol show job "$id" 2>/dev/null | grep -o "ExitCode=[0-9:]*" | head -n 1 || true)
check "requeued job exit code 0 ($state)" "[ '$state' = 'ExitCode=0:0' ]"

echo "== logs in $out"
[ "$fail" -eq 0 ] && echo "slurm-local-test: all checks passed" || echo "slurm-local-test: FAILED"
exit "$fail"
