#!/usr/bin/env bash
# Simulated multi-host cluster on one Linux machine: N "hosts" made as network namespaces
# (emdh1..emdhN, each with its own hostname via a UTS namespace) joined by veth links to a
# bridge, and OpenMPI started across them over TCP through a launch agent that enters the
# right namespace instead of ssh. Needs root (ip netns).
#
#   launch/netns-hosts.sh up N          create hosts 10.77.0.11 .. 10.77.0.(10+N)
#   launch/netns-hosts.sh run N ARGS    mpirun 1 rank per host of `emd ARGS` (TCP only)
#   launch/netns-hosts.sh down N        remove them
#
# The run prints the hostfile it used; mpirun's own node (the root namespace, 10.77.0.1 on
# the bridge) hosts no rank, so every rank is "remote" and every byte between ranks goes
# through the TCP stack of the veth links.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:?usage: netns-hosts.sh up|run|down N [emd args]}"; n="${2:?number of hosts}"; shift 2
bridge=emdbr0
net=10.77.0
[ "$(id -u)" -eq 0 ] || { echo "netns-hosts: needs root (ip netns)" >&2; exit 1; }
command -v ip >/dev/null || { echo "netns-hosts: 'ip' missing (apt-get install iproute2)" >&2; exit 1; }

up() {
  ip link show "$bridge" >/dev/null 2>&1 || {
    ip link add "$bridge" type bridge
    ip addr add "$net.1/24" dev "$bridge"
    ip link set "$bridge" up
  }
  for i in $(seq 1 "$n"); do
    local ns="emdh$i"
    ip netns list | grep -qw "$ns" && continue
    ip netns add "$ns"
    ip link add "emdv$i" type veth peer name eth0 netns "$ns"
    ip link set "emdv$i" master "$bridge" up
    ip -n "$ns" addr add "$net.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
}

down() {
  for i in $(seq 1 "$n"); do
    ip netns del "emdh$i" 2>/dev/null || true
    ip link del "emdv$i" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
}

run() {
  local bin="${EMD_BIN:-$here/../.build/release/emd}"
  [ -x "$bin" ] || { echo "netns-hosts: $bin not built" >&2; exit 1; }
  local hostfile
  hostfile="$(mktemp /tmp/emd-netns-hostfile.XXXXXX)"
  for i in $(seq 1 "$n"); do echo "$net.$((10 + i)) slots=1" >> "$hostfile"; done
  echo "netns-hosts: hostfile $hostfile:"; sed 's/^/  /' "$hostfile"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  local status=0
  mpirun -np "$n" --hostfile "$hostfile" --map-by node \
    --mca plm_rsh_agent "$here/netns-agent.sh" \
    --mca btl tcp,self --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24" \
    -x EMD_BLAS_THREADS="${EMD_BLAS_THREADS:-1}" -x OPENBLAS_NUM_THREADS="${EMD_BLAS_THREADS:-1}" \
    "$bin" "$@" || status=$?
  rm -f "$hostfile"
  return "$status"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  run) run "$@" ;;
  *) echo "netns-hosts: unknown command $cmd" >&2; exit 2 ;;
esac
