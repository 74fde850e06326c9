#!/usr/bin/env bash
# Runs launch/pbs.sh as PBS would, without PBS (no PBS server is packaged for Debian): a node
# file naming this host twice (two mpiprocs slots), PBS_O_WORKDIR, EMD_ARGS, and the job in a
# session of its own, so that a walltime kill can be imitated by sending SIGTERM to the whole
# session as the PBS MoM does. Checks:
#   1. a training job (train-teacher; --resume added on its first start) runs 2 ranks and ends 0
#      (as root too: the run-as-root variables are unset here);
#   2. a sampling job (no --resume: `sample` rejects it) ends 0 and writes its file;
#   3. a distillation killed with SIGTERM mid-run checkpoints and exits 75;
#   4. the same job submitted again resumes and finishes.
#   launch/pbs-local-test.sh [OUTDIR]
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/emd-pbs-test}"
export EMD_BIN="${EMD_BIN:-$(pwd)/.build/release/emd}"
[ -x "$EMD_BIN" ] || { echo "pbs-local-test: $EMD_BIN not built; run launch/setup.sh" >&2; exit 1; }
rm -rf "$out"; mkdir -p "$out"
# A PBS job starts without OpenMPI's run-as-root permission: the script must give it itself.
unset OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
printf "%s\n%s\n" "$(uname -n)" "$(uname -n)" > "$out/nodefile"

submit() {  # submit NAME EMD_ARGS: start launch/pbs.sh in a new session, in the background
  PBS_NODEFILE="$out/nodefile" PBS_O_WORKDIR="$(pwd)" EMD_ARGS="$2" \
    setsid bash launch/pbs.sh >> "$out/$1.log" 2>&1 &
  echo $! > "$out/$1.pid"
}
finish() {  # finish NAME: wait for the job; sets `status` to its exit status
  wait "$(cat "$out/$1.pid")"; status=$?
}

echo "== job 1: train-teacher on 2 ranks"
submit teacher "train-teacher --data mixture --hidden 32 --steps 200 --batch 64 --log-every 100 --out $out/init"
finish teacher
check "training job exit status 0 ($status)" "[ '$status' = 0 ]"
check "training job ran 2 ranks and wrote its teacher" "grep -q '2 rank(s)' '$out/teacher.log' && [ -f '$out/init/teacher.safetensors' ]"

echo "== job 2: sample (takes no --resume)"
submit sample "sample --checkpoint $out/init/teacher.safetensors --count 500 --out $out/samples.npy"
finish sample
check "sampling job exit status 0 ($status)" "[ '$status' = 0 ]"
check "sampling job wrote its samples" "[ -s '$out/samples.npy' ]"

echo "== job 3: distillation killed with SIGTERM to its whole session (the walltime)"
args="distill --teacher mixture --init $out/init/teacher.safetensors --batch 64 --langevin-steps 4 --eval-samples 2000 --steps 4000 --log-every 100 --checkpoint-every 100000 --out $out/distill"
submit distill "$args"
pid=$(cat "$out/distill.pid")
for _ in $(seq 1 240); do [ -s "$out/distill/metrics.jsonl" ] && break; sleep 0.5; done
kill -TERM -- "-$pid"
finish distill
check "preempted job exit status 75 ($status)" "[ '$status' = 75 ]"
check "preempted job checkpointed and said so" "[ -f '$out/distill/preempted.json' ] && grep -q 'preempted at step' '$out/distill.log' && grep -q 'qsub the same job again' '$out/distill.log'"

echo "== job 3 again: resumes and finishes"
submit distill "$args"
finish distill
check "resubmitted job exit status 0 ($status)" "[ '$status' = 0 ]"
check "resubmitted job resumed and finished" "grep -q 'resumed from' '$out/distill.log' && grep -q 'step 4000/4000' '$out/distill.log' && [ -f '$out/distill/generator.safetensors' ]"

echo "== logs in $out"
[ "$fail" -eq 0 ] && echo "pbs-local-test: all checks passed" || echo "pbs-local-test: FAILED"
exit "$fail"
