#!/usr/bin/env bash
# OpenMPI launch agent for launch/netns-hosts.sh, used in place of ssh (plm_rsh_agent):
# called as `netns-agent.sh HOST COMMAND...`, it runs COMMAND inside the network namespace
# that owns HOST's address, with the host's own hostname (a fresh UTS namespace).
set -euo pipefail
host="$1"; shift
# OpenMPI may pass ssh-style options before the host; skip them.
while [[ "$host" == -* ]]; do host="$1"; shift; done
i="${host##*.}"; i=$((i - 10))
ns="emdh$i"
ip netns list | grep -qw "$ns" || { echo "netns-agent: no namespace for host $host" >&2; exit 255; }
exec ip netns exec "$ns" unshare --uts /bin/sh -c "hostname emd-host$i && exec $*"
