#!/usr/bin/env bash
# Point-to-point figures for docs/PERFORMANCE.md ("Point-to-point"), in one run on one machine:
# kolo-bench sendrecv (ring of send/recv pairs) and --pingpong over shared memory and TCP
# under kolorun, then Open MPI's MPI_Sendrecv ring and ping-pong (bench/p2p/mpi_sendrecv.c)
# with the same sizes, iterations and columns. Time columns are medians of the slowest rank.
#   bench/p2p/run_sendrecv.sh [BUILD_DIR] [NP] [MAX_BYTES]
set -euo pipefail
build=${1:-build}
np=${2:-2}
max=${3:-67108864}
iters=20
warmup=5
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for transport in shm tcp; do
  for mode in "" --pingpong; do
    "$build/bin/kolorun" -np "$np" --timeout 600 -x KOLO_TRANSPORT="$transport" -- \
      "$build/bin/kolo-bench" sendrecv $mode -b 8 -e "$max" -f 2 -n "$iters" -w "$warmup"
  done
done
if [[ -x "$build/bin/mpi_sendrecv" ]]; then
  for mode in "" --pingpong; do
    mpirun --allow-run-as-root --oversubscribe -np "$np" "$build/bin/mpi_sendrecv" $mode 8 "$max" \
      "$iters" "$warmup"
  done
else
  echo "# $build/bin/mpi_sendrecv missing (build with KOLO_WITH_MPI=ON)"
fi
