#!/usr/bin/env bash
# ctest cluster.hosts2x2.collectives: an emulated cluster of 2 hosts x 2 ranks on 2 Gbit/s links
# (tests/cluster/run.sh). On it, kolorun -H "$CLUSTER_HOSTS" must place ranks 0-1 on h1 and 2-3
# on h2, each host with its own hostname and /dev/shm; then PROGRAM (the multi-process
# collectives sweep) must pass every collective on every rank, across the hosts over TCP.
# Usage: collectives_test.sh KOLORUN PROGRAM. Exit 77 (skipped, reason on stdout) where this
# machine cannot build the cluster.
set -euo pipefail

readonly LIMIT_S=100  # below the ctest TIMEOUT, so an overrun still removes the cluster

fail() {
  echo "FAILED cluster.hosts2x2.collectives: $*" >&2
  exit 1
}

# Each rank prints its hostname, KOLO_HOSTNAME and /dev/shm's device: ranks 0-1 on h1, 2-3 on h2,
# one /dev/shm per host, neither of them this machine's.
check_placement() {  # KOLORUN
  local out rank want host name dev h1dev="" h2dev=""
  # shellcheck disable=SC2016  # expanded by the ranks' shell
  out=$("$1" -H "$CLUSTER_HOSTS" --timeout 30 \
    sh -c 'echo "placed $(hostname) $KOLO_HOSTNAME $(stat -c %d /dev/shm)"') ||
    fail "kolorun -H $CLUSTER_HOSTS failed: $out"
  for rank in 0 1 2 3; do
    want=h$((rank / 2 + 1))
    host="" name="" dev=""
    read -r _ host name dev < <(grep "^\[$rank\]<stdout>:placed " <<<"$out") || true
    [[ $host == "$want" && $name == "$want" ]] ||
      fail "rank $rank: expected on $want, got '$host' '$name':"$'\n'"$out"
    [[ $dev != "$OUTSIDE_SHM_DEV" ]] || fail "rank $rank sees this machine's /dev/shm"
    if [[ $want == h1 ]]; then h1dev=${h1dev:-$dev}; else h2dev=${h2dev:-$dev}; fi
    [[ $dev == "${h1dev}" || $dev == "${h2dev}" ]] || fail "ranks of $want see different /dev/shm"
  done
  [[ $h1dev != "$h2dev" ]] || fail "h1 and h2 share a /dev/shm"
}

check_collectives() {  # KOLORUN PROGRAM
  local out rc=0 rank
  out=$("$1" -H "$CLUSTER_HOSTS" --timeout 80 -x KOLO_TIMEOUT_SECONDS=60 \
    -x KOLO_TEST_EXPECT_HOSTS=2 "$2" 2>&1) || rc=$?
  ((rc == 0)) || fail "kolorun exited $rc:"$'\n'"$out"
  for rank in 0 1 2 3; do
    grep -Eq "^\[$rank\]<stdout>:rank $rank of 4 over tcp: [1-9][0-9]* passed, 0 failed" <<<"$out" ||
      fail "rank $rank did not pass over tcp:"$'\n'"$out"
  done
  echo "$out" | grep "passed"
}

if [[ ${1:-} == --on-cluster ]]; then  # on h1 of the cluster
  check_placement "$2"
  check_collectives "$2" "$3"
  exit 0
fi

(($# == 2)) || { echo "usage: $0 KOLORUN PROGRAM" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
OUTSIDE_SHM_DEV=$(stat -c %d /dev/shm)
export OUTSIDE_SHM_DEV
rc=0
timeout -k 10 "$LIMIT_S" "$here/run.sh" --hosts 2 --slots 2 --link 2gbit -- \
  "$here/collectives_test.sh" --on-cluster "$1" "$2" || rc=$?
case $rc in
  0) echo "PASSED cluster.hosts2x2.collectives" ;;
  77) exit 77 ;;  # run.sh printed the reason
  124) fail "no result within ${LIMIT_S} s" ;;
  *) fail "exit status $rc" ;;
esac
