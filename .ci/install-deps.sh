#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of Kolo from Debian's apt.
# Idempotent: when every package is present it returns in well under a second.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libboost-system-dev
  libopenmpi-dev openmpi-bin
  libhwloc-dev hwloc
  libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev
  # tests/python/metrics: a real Prometheus server scrapes a job's KOLO_METRICS_PORT endpoint
  prometheus
  pybind11-dev python3-dev python3-numpy python3-pytest python3-torch python3-matplotlib
  # examples/cpp/libtorch_train.cc: the C++ frontend of the same torch (optional for the build)
  libtorch-dev
  procps psmisc iproute2 openssh-server openssh-client
  # tests/slurm: a step that nears its timeout prints its tasks' stacks
  gdb
  # tests/slurm: a private Slurm cluster (controller, emulated nodes, munge) and PMIx
  slurmctld slurmd slurm-client munge libpmix-dev
  # tests/fuzz/run_fuzzers.sh: clang with libFuzzer and the sanitizer runtimes, and the symbolizer
  # for readable reports
  clang libclang-rt-14-dev llvm
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "kolo: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
