#!/usr/bin/env bash
# ctest cluster.host_lost: a whole emulated host dies in the middle of a job. On 2 hosts x 2
# ranks (tests/cluster/run.sh), kolorun runs kolo_fault_job across both; every process of h2
# (its sshd and both ranks) is killed at once with SIGKILL. Then kolorun's first failure and
# both survivors on h1 must name host h2 and its ranks 2 and 3, kolorun must exit non-zero, and
# the survivors must report within BOUND_S of the kill. Usage: host_lost_test.sh KOLORUN JOB.
# Exit 77 (skipped, reason on stdout) where the cluster cannot be built.
set -euo pipefail

readonly LIMIT_S=100  # below the ctest TIMEOUT, so an overrun still removes the cluster
readonly BOUND_S=5

fail() {
  echo "FAILED cluster.host_lost: $*" >&2
  exit 1
}

if [[ ${1:-} == --inside ]]; then
  kolorun=$2 job=$3
  (
    sleep 3
    date +%s.%N >"$STATE_KILLED"
    # shellcheck disable=SC2046  # one pid per word
    kill -9 $(ip netns pids "kc${CLUSTER_TAG}-h2") 2>/dev/null || true
  ) &
  rc=0
  out=$(timeout 60 "$kolorun" --prefix-timestamp -H "$CLUSTER_HOSTS" -x KOLO_TIMEOUT_SECONDS=10 \
    "$job" 100000 2>&1) || rc=$?
  wait
  [[ $rc -ne 0 ]] || fail "kolorun exited 0 after host h2 died:"$'\n'"$out"
  [[ $rc -ne 124 ]] || fail "kolorun was still running 60 s later (a hang):"$'\n'"$out"
  lost="lost its host: the ssh connection to h2 ended .*rank\(s\) 2, 3 ran there"
  grep -Eq "^kolorun: first failure: rank [23] on host h2 .*$lost" <<<"$out" ||
    fail "kolorun's first failure does not name host h2 and ranks 2, 3:"$'\n'"$out"
  killed=$(cat "$STATE_KILLED")
  for rank in 0 1; do
    line=$(grep -E "^\[[^]]*\]\[$rank\]<stderr>:fault_job: .*rank [23] \(host h2.*$lost" <<<"$out" |
      head -1) || true
    [[ -n $line ]] || fail "survivor $rank does not name host h2 and ranks 2, 3:"$'\n'"$out"
    stamp=${line:1:23}
    at=$(date -u -d "${stamp/T/ }" +%s.%N)
    awk -v a="$at" -v k="$killed" -v b="$BOUND_S" 'BEGIN { exit !(a - k <= b) }' ||
      fail "survivor $rank reported $(awk -v a="$at" -v k="$killed" 'BEGIN{print a-k}') s after the kill (bound $BOUND_S s)"
  done
  echo "host h2 lost: kolorun exit $rc; both survivors named it within $BOUND_S s"
  exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
STATE_KILLED=$(mktemp /tmp/kolo-host-lost.XXXXXX)
export STATE_KILLED
trap 'rm -f "$STATE_KILLED"' EXIT
rc=0
timeout -k 10 "$LIMIT_S" "$here/run.sh" --hosts 2 --slots 2 --link 2gbit -- \
  "$here/host_lost_test.sh" --inside "$1" "$2" || rc=$?
exit "$rc"
