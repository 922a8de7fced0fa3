#!/usr/bin/env bash
# One Slurm direct-launch case on a private cluster (cluster.sh: 2 nodes x 2 tasks, or 1 node
# where namespaces are unavailable), started by srun with no Kolo launcher:
#   collectives  srun --mpi=none kolo_mp_collectives: every collective exact, Kolo's node and
#                local rank equal Slurm's
#   torch        srun --mpi=none /usr/bin/python3 torch_step.py: kolo.torch's rank, size, local
#                rank and node equal Slurm's, results exact
#   collectives_pmix, torch_pmix  the same under srun --mpi=pmix: the ranks meet through PMIx
#                (rank 0's store address and a fresh secret), not the derived port
#   bench_pmix   srun --mpi=pmix kolo-bench allreduce: no KOLO_STORE needed; 4 ranks on 2 hosts,
#                every size checked (no wrong values)
#   scancel      sbatch runs srun torch_step.py --hold; once every rank holds, scancel: the job
#                ends, and no rank process or /dev/shm segment of Kolo's is left behind
#   rank_fails   rank 3 exits 3 after the first allreduce: srun fails, the survivors report it
#   singleton    KOLO_SIZE=1 exported into a 4-task step: every task refuses to run alone
#   kolorun_salloc  salloc -N 2 --ntasks-per-node=2 kolorun kolo_mp_collectives: kolorun starts
#                one srun step per rank on the allocation's nodes; every collective exact, output
#                rank-tagged, Kolo sees 2 hosts; --dry-run prints each rank's srun command
#   kolorun_elastic  salloc -N 2 --ntasks-per-node=2 kolorun --min-np 3: the rank with launch
#                rank 1 kills itself at step 5 of an elastic training job; the job shrinks to 3
#                ranks within the allocation, resumes at step 5 and finishes
#   kolorun_sbatch  an sbatch script runs kolorun, rank 3 exits 3 before joining: the job fails,
#                kolorun's first-failure summary names rank 3, no other rank passes
# usage: slurm_test.sh CASE KOLO_MP_COLLECTIVES PYTHON_DIR [KOLORUN|KOLO_BENCH]
# Exit status: 0 pass, 1 fail, 77 skipped (reason on stdout).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case_name=${1:?usage: slurm_test.sh CASE KOLO_MP_COLLECTIVES PYTHON_DIR}
collectives=${2:?}
python_dir=${3:?}
kolorun=${4:-}
bench=${4:-}

if [[ ${SLURM_TEST_STATE:-} == "" ]]; then
  exec "$here/cluster.sh" --nodes 2 -- "$0" "$@"
fi

nodes=$SLURM_TEST_NODES
per_node=$((4 / nodes))
export KOLO_SECRET_FILE=$SLURM_TEST_STATE/secret KOLO_TIMEOUT_SECONDS=30
out=$SLURM_TEST_STATE/out.txt
mpi=none
if [[ $case_name == *_pmix ]]; then
  mpi=pmix
  case_name=${case_name%_pmix}
  export KOLO_LOG_LEVEL=debug  # the rendezvous says how the ranks met
fi
dump_step() {  # what still runs of the cluster's steps, with every thread's stack where gdb is
  echo "=== the step still runs; its processes:"
  ps -eo pid,ppid,stat,wchan:24,etime,args | grep -E '[s]run|[s]lurmstepd' || true
  local stepds task
  stepds=$(pgrep -d, -x slurmstepd || true)
  [[ -n $stepds ]] || return 0
  for task in $(pgrep -P "$stepds" || true); do
    echo "--- task pid $task: $(tr '\0' ' ' <"/proc/$task/cmdline" 2>/dev/null)"
    if command -v gdb >/dev/null; then
      timeout 20 gdb -p "$task" -batch -ex 'thread apply all bt' 2>/dev/null |
        grep -E '^(Thread|#)' | head -200 || true
    else
      for t in /proc/"$task"/task/*; do echo "thread ${t##*/} $(cat "$t/comm") $(cat "$t/wchan")"; done
    fi
  done
}
srun_step() {  # ARG...: a 4-task step; its output in $out, its status returned
  local status=0 watcher
  # A step that has not ended 5 s before its timeout says where it is (a hang explains itself).
  (sleep 85 >/dev/null 2>&1 && dump_step) &
  watcher=$!
  timeout -k 5 90 srun -N "$nodes" --ntasks-per-node="$per_node" --overcommit --mpi="$mpi" "$@" \
    >"$out" 2>&1 || status=$?
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  cat "$out"
  return "$status"
}
fail() {
  echo "FAIL: $*"
  exit 1
}
count() { grep -cE "$1" "$out" || true; }
met_through_pmix() {
  [[ $mpi == pmix ]] || return 0
  (($(count 'rendezvous: rank [0-9] of 4: PMIx namespace') == 4)) || fail "not every rank met through PMIx"
}
wait_for() {  # SECONDS COMMAND...: polls COMMAND every 0.2 s; fails when it never succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
kolo_segments() { find /dev/shm -maxdepth 1 -name 'kolo-*' -printf '%f\n' | sort; }

case $case_name in
  collectives)
    srun_step "$collectives" || fail "srun exited $?"
    (($(count ' over [a-z]+: [0-9]+ passed, 0 failed$') == 4)) || fail "not every rank passed"
    for r in 0 1 2 3; do
      node=$((r / per_node))
      grep -qE "^slurm rank $r of 4: node $node \(kn$((node + 1))\) local $((r % per_node)) of $per_node via ${mpi/none/slurm}$" \
        "$out" || fail "rank $r is not on node $node as local rank $((r % per_node))"
    done
    met_through_pmix
    ;;
  torch)
    PYTHONPATH=$python_dir srun_step /usr/bin/python3 "$here/torch_step.py" ||
      fail "srun exited $?"
    for r in 0 1 2 3; do
      node=$((r / per_node))
      grep -qE "^OK rank $r of 4 local $((r % per_node)) of $per_node node $node kn$((node + 1))$" \
        "$out" || fail "rank $r: no OK line with local rank $((r % per_node)) on node $node"
    done
    met_through_pmix
    ;;
  bench)
    srun_step "$bench" allreduce -b 8 -e 64K -n 3 -w 1 || fail "srun exited $?"
    (($(count '^# world size +: 4$') == 1)) || fail "rank 0 did not report a world of 4"
    (($(count '^# hosts +: kn1 \(2 ranks\), kn2 \(2 ranks\)$') == 1)) ||
      fail "rank 0 did not report 2 ranks on each of kn1 and kn2"
    (($(count '^# Out of bounds values : 0 OK$') == 1)) || fail "wrong values in the sweep"
    met_through_pmix
    ;;
  scancel)
    before=$(kolo_segments)
    script=$SLURM_TEST_STATE/hold.sh
    printf '#!/bin/bash\nexport PYTHONPATH=%q\nexec srun --mpi=none /usr/bin/python3 %q --hold\n' \
      "$python_dir" "$here/torch_step.py" >"$script"
    chmod +x "$script"
    job=$(sbatch --parsable -N "$nodes" --ntasks-per-node="$per_node" --overcommit -o "$out" \
      "$script") || fail "sbatch failed"
    holding() { (($(count '^HOLD rank') == 4)); }
    wait_for 60 holding || { cat "$out"; fail "the ranks of job $job never all held"; }
    scancel "$job"
    gone() { [[ -z $(squeue -h -j "$job" 2>/dev/null) ]]; }
    wait_for 60 gone || fail "job $job is still queued 60 s after scancel"
    no_ranks() { ! pgrep -f "torch_step.py --hold" >/dev/null; }
    wait_for 10 no_ranks || fail "rank processes outlived scancel: $(pgrep -af 'torch_step.py --hold')"
    [[ $(kolo_segments) == "$before" ]] ||
      fail "scancel left /dev/shm segments: $(comm -13 <(echo "$before") <(kolo_segments))"
    cat "$out"
    ;;
  rank_fails)
    status=0
    PYTHONPATH=$python_dir srun_step /usr/bin/python3 "$here/torch_step.py" --fail-rank 3 ||
      status=$?
    ((status != 0)) || fail "srun succeeded although rank 3 exited 3"
    ((status != 124 && status != 137)) || fail "the step hung after rank 3 exited"
    grep -q "rank 3 exits 3 on purpose" "$out" || fail "rank 3 did not run"
    (($(count '^OK rank') == 0)) || fail "a survivor reported success"
    grep -qE "rank 3|exit code 3" "$out" || fail "nothing names rank 3 or its exit code"
    ;;
  singleton)
    status=0
    KOLO_SIZE=1 KOLO_RANK=0 PYTHONPATH=$python_dir srun_step /usr/bin/python3 \
      "$here/torch_step.py" || status=$?
    ((status != 0)) || fail "a 4-task step ran as 4 worlds of one"
    (($(count 'this process joined a world of 1 rank') == 4)) || fail "not every task refused"
    grep -q -- '--mpi=pmix' "$out" || fail "the error does not name srun --mpi=pmix"
    ;;
  kolorun_salloc)
    alloc=(timeout -k 5 90 salloc -N "$nodes" --ntasks-per-node="$per_node" --overcommit)
    "${alloc[@]}" "$kolorun" --dry-run "$collectives" >"$out" 2>&1 || fail "dry run exited $?"
    cat "$out"
    for r in 0 1 2 3; do
      node=kn$((r / per_node + 1))
      grep -qE "^rank $r: host $node local rank $((r % per_node)): srun .*--nodelist=$node .*-- $collectives$" \
        "$out" || fail "the dry run shows no srun command for rank $r on $node"
    done
    "${alloc[@]}" "$kolorun" -x KOLO_TEST_EXPECT_HOSTS="$nodes" "$collectives" >"$out" 2>&1 ||
      { cat "$out"; fail "kolorun under salloc exited $?"; }
    cat "$out"
    for r in 0 1 2 3; do
      grep -qE "^\[$r\]<stdout>:.* over [a-z]+: [0-9]+ passed, 0 failed$" "$out" ||
        fail "no rank-tagged pass line from rank $r"
    done
    (($(count 'FAIL') == 0)) || fail "a rank reported FAIL"
    ;;
  kolorun_elastic)
    train_dir=$SLURM_TEST_STATE/elastic
    mkdir -p "$train_dir"
    timeout -k 5 120 salloc -N "$nodes" --ntasks-per-node="$per_node" --overcommit "$kolorun" \
      --min-np 3 -x PYTHONPATH="$python_dir" -x KOLO_TIMEOUT_SECONDS=3 \
      -x KOLO_SHUTDOWN_TIMEOUT_SECONDS=3 /usr/bin/python3 "$here/../mp/elastic/elastic_train.py" \
      "$train_dir" 12 --kill-launch-rank 1 --kill-at-step 5 >"$out" 2>&1 ||
      { cat "$out"; fail "the elastic job under salloc exited $?"; }
    cat "$out"
    grep -q "the elastic job goes on without it" "$out" || fail "kolorun reported no survived failure"
    resets=$(cat "$train_dir/resets.txt" 2>/dev/null || true)
    [[ $resets == "resumed at step 5 with 3 ranks" ]] || fail "resets: '$resets'"
    [[ -s $train_dir/final.pt ]] || fail "no final model"
    ;;
  kolorun_sbatch)
    script=$SLURM_TEST_STATE/job.sh
    printf '#!/bin/bash\nexec %q -- /bin/sh -c %q\n' "$kolorun" \
      "if [ \"\$KOLO_RANK\" = 3 ]; then echo 'rank 3 exits 3 on purpose' >&2; exit 3; fi; exec $collectives" \
      >"$script"
    chmod +x "$script"
    status=0
    timeout -k 5 90 sbatch --wait -N "$nodes" --ntasks-per-node="$per_node" --overcommit \
      -o "$out" "$script" || status=$?
    cat "$out"
    ((status != 0)) || fail "the job succeeded although rank 3 exited 3"
    ((status != 124 && status != 137)) || fail "the job hung after rank 3 exited"
    grep -qE '^kolorun: first failure: rank 3 ' "$out" || fail "the first failure is not rank 3"
    grep -q '^\[3\]<stderr>:rank 3 exits 3 on purpose' "$out" || fail "rank 3's stderr is not tagged"
    (($(count 'passed, 0 failed') == 0)) || fail "a rank passed although rank 3 never joined"
    ;;
  *) echo "unknown case '$case_name'" >&2; exit 2 ;;
esac
echo "PASS: $case_name"
