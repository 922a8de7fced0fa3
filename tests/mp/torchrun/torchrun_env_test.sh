#!/usr/bin/env bash
# Ranks started with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
# MASTER_PORT) and no kolorun bootstrap Kolo themselves: rank 0 hosts the store at MASTER_PORT+1.
#   exact     4 ranks on loopback with KOLO_SECRET: rank, size and local rank are torchrun's,
#             allreduce/allgather/broadcast exact
#   nosecret  the same without KOLO_SECRET: it still runs, and rank 0 warns that the rendezvous
#             is not authenticated
#   badrank   RANK=4 in a world of 4: that rank is refused as out of range, the others fail
#             instead of hanging
#   torchrun  the real torchrun (python -m torch.distributed.run --nproc_per_node 4, its
#             rendezvous on MASTER_PORT) starts the 4 ranks, KOLO_SECRET exported. Its output goes
#             through --redirects/--tee 1: torch 1.13's parser of the default "0" fails on
#             Python 3.11 (only the single-bit members 1 and 2 are iterated)
# usage: torchrun_env_test.sh CASE PYTHON PYTHON_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case_name=${1:?usage: torchrun_env_test.sh CASE PYTHON PYTHON_DIR}
python=${2:?}
python_dir=${3:?}
work=$(mktemp -d "/tmp/kolo-torchrun.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}
# A free port pair: MASTER_PORT (unused here, as torchrun's agent would hold it) and Kolo's +1.
port=$("$python" -c 'import socket
for p in range(29500, 29900, 2):
    try:
        s = [socket.socket(), socket.socket()]
        s[0].bind(("127.0.0.1", p)); s[1].bind(("127.0.0.1", p + 1))
        print(p); break
    except OSError:
        pass')
start_timeout=20  # KOLO_START_TIMEOUT of the ranks
start_ranks() {  # FIRST_RANK_OVERRIDE: starts 4 ranks, their output in $work/rank.N
  local r rank
  for r in 0 1 2 3; do
    rank=$r
    [[ $r == 3 && -n $1 ]] && rank=$1
    RANK=$rank WORLD_SIZE=4 LOCAL_RANK=$r LOCAL_WORLD_SIZE=4 MASTER_ADDR=127.0.0.1 \
      MASTER_PORT=$port PYTHONPATH=$python_dir KOLO_START_TIMEOUT=$start_timeout \
      KOLO_TIMEOUT_SECONDS=20 timeout -k 5 60 "$python" "$here/torchrun_worker.py" \
      >"$work/rank.$r" 2>&1 &
    pids+=($!)
  done
}
wait_ranks() {  # the number of ranks that exited non-zero
  local pid failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
  pids=()
  cat "$work"/rank.*
  echo "$failed" >"$work/failed"
}

case $case_name in
  exact | nosecret)
    if [[ $case_name == exact ]]; then
      KOLO_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
      export KOLO_SECRET
    else
      unset KOLO_SECRET
    fi
    start_ranks ""
    wait_ranks
    (($(cat "$work/failed") == 0)) || fail "a rank failed"
    for r in 0 1 2 3; do
      grep -qx "OK rank $r of 4 local $r" "$work/rank.$r" || fail "rank $r has no OK line"
    done
    if [[ $case_name == nosecret ]]; then
      grep -q "KOLO_SECRET is not set: the rendezvous on 127.0.0.1:$((port + 1)) is not authenticated" \
        "$work/rank.0" || fail "rank 0 did not warn that the rendezvous is unauthenticated"
    fi
    ;;
  badrank)
    start_timeout=8  # the others wait this long for the refused rank, then fail
    start_ranks 4
    wait_ranks
    grep -q "rank 4 is out of range for world size 4" "$work/rank.3" || fail "RANK=4 was not refused"
    (($(cat "$work/failed") == 4)) || fail "not every rank failed"
    ! grep -q "^OK" "$work"/rank.* || fail "a rank reported success"
    ;;
  torchrun)
    KOLO_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    export KOLO_SECRET
    PYTHONPATH=$python_dir KOLO_START_TIMEOUT=20 KOLO_TIMEOUT_SECONDS=20 timeout -k 5 90 \
      "$python" -m torch.distributed.run --nnodes 1 --nproc_per_node 4 --master_addr 127.0.0.1 \
      --master_port "$port" --redirects 1 --tee 1 --log_dir "$work/logs" \
      "$here/torchrun_worker.py" >"$work/torchrun.out" 2>&1 ||
      { cat "$work/torchrun.out"; fail "torchrun exited $?"; }
    cat "$work/torchrun.out"
    for r in 0 1 2 3; do
      grep -qE "(^|\]:)OK rank $r of 4 local $r$" "$work/torchrun.out" || fail "rank $r has no OK line"
    done
    ;;
  *) echo "unknown case '$case_name'" >&2; exit 2 ;;
esac
echo "PASS: $case_name"
