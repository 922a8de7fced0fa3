#!/usr/bin/env bash
# ctest cluster.host_lost and cluster.link_down: one emulated host fails in the middle of a job.
# On 2 hosts x 2 ranks (tests/cluster/run.sh), kolorun runs kolo_fault_job across both, and
# 3 s in host h2 fails:
#   lost       every process of h2 (its sshd and both ranks) is killed at once with SIGKILL;
#              kolorun sees the ssh clients end (bound 5 s);
#   link_down  h2's eth0 is set down: nothing dies and no connection is reset, packets just
#              stop; kolorun's heartbeat check (KOLO_HEARTBEAT_TIMEOUT_SECONDS, 10 s by default)
#              names it (bound 20 s).
# kolorun's first failure and both survivors on h1 must name host h2 and its ranks 2 and 3,
# kolorun must exit non-zero, and the survivors must report within the bound of the fault.
# Usage: host_fault_test.sh lost|link_down KOLORUN JOB. Exit 77 (skipped, reason on stdout)
# where the cluster cannot be built.
set -euo pipefail

readonly LIMIT_S=100  # below the ctest TIMEOUT, so an overrun still removes the cluster

fail() {
  echo "FAILED cluster host fault ($MODE): $*" >&2
  exit 1
}

# What each mode does to h2, and what kolorun's verdict on one of its ranks must say.
configure() {
  case $MODE in
    lost)
      BOUND_S=5
      VERDICT="lost its host: the ssh connection to h2 ended .*rank\(s\) 2, 3 ran there"
      ;;
    link_down)
      BOUND_S=20
      VERDICT="host h2 runs rank\(s\) 2, 3"
      ;;
    *) echo "usage: $0 lost|link_down KOLORUN JOB" >&2; exit 2 ;;
  esac
}

break_h2() {
  if [[ $MODE == lost ]]; then
    # shellcheck disable=SC2046  # one pid per word
    kill -9 $(ip netns pids "kc${CLUSTER_TAG}-h2") 2>/dev/null || true
  else
    ip -n "kc${CLUSTER_TAG}-h2" link set eth0 down
  fi
}

# Survivor RANK's error line names h2's ranks and came within BOUND_S of the fault.
check_survivor() {  # RANK OUTPUT FAULT_TIME
  local line stamp at
  line=$(grep -E "^\[[^]]*\]\[$1\]<stderr>:fault_job: .*rank [23] \(host h2.*$VERDICT" <<<"$2" |
    head -1) || true
  [[ -n $line ]] || fail "survivor $1 does not name host h2 and ranks 2, 3:"$'\n'"$2"
  stamp=${line:1:23}
  at=$(date -u -d "${stamp/T/ }" +%s.%N)
  awk -v a="$at" -v k="$3" -v b="$BOUND_S" 'BEGIN { exit !(a - k <= b) }' ||
    fail "survivor $1 reported $(awk -v a="$at" -v k="$3" 'BEGIN{print a-k}') s after the fault (bound $BOUND_S s)"
}

inside() {  # KOLORUN JOB
  local rc=0 out fault
  ( sleep 3; date +%s.%N >"$STATE_FAULT"; break_h2 ) &
  out=$(timeout 60 "$1" --prefix-timestamp -H "$CLUSTER_HOSTS" -x KOLO_TIMEOUT_SECONDS=30 \
    "$2" 100000 2>&1) || rc=$?
  wait
  [[ $rc -ne 0 ]] || fail "kolorun exited 0 after h2 failed:"$'\n'"$out"
  [[ $rc -ne 124 ]] || fail "kolorun was still running 60 s later (a hang):"$'\n'"$out"
  grep -Eq "^kolorun: first failure: rank [23] on host h2 .*$VERDICT" <<<"$out" ||
    fail "kolorun's first failure does not name host h2 and ranks 2, 3:"$'\n'"$out"
  fault=$(cat "$STATE_FAULT")
  check_survivor 0 "$out" "$fault"
  check_survivor 1 "$out" "$fault"
  echo "h2 $MODE: kolorun exit $rc; both survivors named host h2 within $BOUND_S s"
}

if [[ ${1:-} == --inside ]]; then
  MODE=$2
  configure
  inside "$3" "$4"
  exit 0
fi

MODE=${1:-}
configure
here=$(cd "$(dirname "$0")" && pwd)
STATE_FAULT=$(mktemp /tmp/kolo-host-fault.XXXXXX)
export STATE_FAULT
trap 'rm -f "$STATE_FAULT"' EXIT
rc=0
timeout -k 10 "$LIMIT_S" "$here/run.sh" --hosts 2 --slots 2 --link 2gbit -- \
  "$here/host_fault_test.sh" --inside "$MODE" "$2" "$3" || rc=$?
exit "$rc"
