#!/usr/bin/env bash
# Install what a fresh Debian machine lacks for emd (OpenMPI, OpenBLAS, oneDNN, zlib, Fashion-MNIST,
# Python's safetensors for the interop tests), then build in release mode.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null 2>&1; then
  if [ -x /opt/swift/usr/bin/swift ]; then export PATH="/opt/swift/usr/bin:$PATH"; else
    echo "setup: no Swift toolchain on PATH (Swift 6 is required: https://swift.org/install)" >&2; exit 1
  fi
fi

APT_PACKAGES=(libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev pkg-config zlib1g-dev dataset-fashion-mnist python3 valgrind)
# The test suite (--build-tests) also runs a one-node Slurm and network-namespace "hosts".
case " $* " in *" --build-tests "*) APT_PACKAGES+=(slurm-wlm munge iproute2 util-linux) ;; esac
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python is used only by tests (the safetensors and numpy interop checks), never by emd itself.
if ! python3 -c "import safetensors, numpy" >/dev/null 2>&1; then
  echo "setup: installing Python packages safetensors, numpy (for the interop tests)"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
  fi
  python3 -m pip install -q safetensors numpy 2>/dev/null \
    || python3 -m pip install -q --break-system-packages safetensors numpy
fi

echo "setup: building (release)"
log="$(mktemp)"
if ! swift build -c release "$@" >"$log" 2>&1; then
  grep -Ev "^\[[0-9]+/[0-9]+\]" "$log" >&2; rm -f "$log"; echo "setup: build failed" >&2; exit 1
fi
rm -f "$log"
