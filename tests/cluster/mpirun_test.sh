#!/usr/bin/env bash
# ctest cluster.hosts2x2.mpirun: Open MPI's mpirun starts the ranks on an emulated cluster of
# 2 hosts x 2 ranks (ssh into each host, as on a real cluster), without kolorun and so without
# KOLO_BIND_ADDRESS: Kolo bootstraps through MPI, picks each host's own address for its TCP
# transport and must give exact results for every collective (kolo-bench --check; exit 1 on a
# wrong element, 2 on an error). Usage: mpirun_test.sh KOLO_BENCH. Exit 77 (skipped, reason on
# stdout) where the cluster cannot be built or mpirun is missing.
set -euo pipefail

readonly LIMIT_S=100  # below the ctest TIMEOUT, so an overrun still removes the cluster

if [[ ${1:-} == --inside ]]; then
  bench=$2
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  for collective in allreduce allgather broadcast reducescatter alltoall; do
    echo "== $collective"
    mpirun --host "$CLUSTER_HOSTS" -np "$CLUSTER_NP" --mca plm_rsh_agent ssh \
      --mca btl tcp,self --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 \
      -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM -x KOLO_TIMEOUT_SECONDS=30 \
      "$bench" "$collective" -b 8 -e 1M -f 16 -n 3 -w 1 --check
  done
  exit 0
fi

command -v mpirun >/dev/null || { echo "SKIPPED: mpirun is not installed"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
rc=0
timeout -k 10 "$LIMIT_S" "$here/run.sh" --hosts 2 --slots 2 --link 2gbit -- \
  "$here/mpirun_test.sh" --inside "$1" || rc=$?
if [[ $rc -ne 0 && $rc -ne 77 ]]; then
  echo "FAILED cluster.hosts2x2.mpirun: exit $rc" >&2
fi
exit "$rc"
