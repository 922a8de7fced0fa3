#!/usr/bin/env bash
# ctest cluster.link_down: one emulated host's link goes down in the middle of a job (no
# process dies, no connection is reset: packets just stop). On 2 hosts x 2 ranks, kolorun runs
# kolo_fault_job across both and h2's eth0 is set down. kolorun's heartbeat check must name a
# rank of h2 with its host and both its ranks, kolorun must exit non-zero, and both survivors on
# h1 must report that verdict within BOUND_S of the link going down (the heartbeat limit,
# KOLO_HEARTBEAT_TIMEOUT_SECONDS, 10 s by default, plus slack). Usage: link_down_test.sh KOLORUN JOB.
# Exit 77 (skipped, reason on stdout) where the cluster cannot be built.
set -euo pipefail

readonly LIMIT_S=100  # below the ctest TIMEOUT, so an overrun still removes the cluster
readonly BOUND_S=20

fail() {
  echo "FAILED cluster.link_down: $*" >&2
  exit 1
}

if [[ ${1:-} == --inside ]]; then
  kolorun=$2 job=$3
  (
    sleep 3
    date +%s.%N >"$STATE_DOWN"
    ip -n "kc${CLUSTER_TAG}-h2" link set eth0 down
  ) &
  rc=0
  out=$(timeout 60 "$kolorun" --prefix-timestamp -H "$CLUSTER_HOSTS" -x KOLO_TIMEOUT_SECONDS=30 \
    "$job" 100000 2>&1) || rc=$?
  wait
  [[ $rc -ne 0 ]] || fail "kolorun exited 0 after h2's link went down:"$'\n'"$out"
  [[ $rc -ne 124 ]] || fail "kolorun was still running 60 s later (a hang):"$'\n'"$out"
  named="rank [23] \(host h2.*host h2 runs rank\(s\) 2, 3"
  grep -Eq "^kolorun: first failure: rank [23] on host h2 .*host h2 runs rank\(s\) 2, 3" <<<"$out" ||
    fail "kolorun's first failure does not name host h2 and ranks 2, 3:"$'\n'"$out"
  down=$(cat "$STATE_DOWN")
  for rank in 0 1; do
    line=$(grep -E "^\[[^]]*\]\[$rank\]<stderr>:fault_job: .*$named" <<<"$out" | head -1) || true
    [[ -n $line ]] || fail "survivor $rank does not name host h2 and ranks 2, 3:"$'\n'"$out"
    stamp=${line:1:23}
    at=$(date -u -d "${stamp/T/ }" +%s.%N)
    awk -v a="$at" -v k="$down" -v b="$BOUND_S" 'BEGIN { exit !(a - k <= b) }' ||
      fail "survivor $rank reported $(awk -v a="$at" -v k="$down" 'BEGIN{print a-k}') s after the link went down (bound $BOUND_S s)"
  done
  echo "h2's link down: kolorun exit $rc; both survivors named host h2 within $BOUND_S s"
  exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
STATE_DOWN=$(mktemp /tmp/kolo-link-down.XXXXXX)
export STATE_DOWN
trap 'rm -f "$STATE_DOWN"' EXIT
rc=0
timeout -k 10 "$LIMIT_S" "$here/run.sh" --hosts 2 --slots 2 --link 2gbit -- \
  "$here/link_down_test.sh" --inside "$1" "$2" || rc=$?
exit "$rc"
