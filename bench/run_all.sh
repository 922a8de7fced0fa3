#!/usr/bin/env bash
# Every figure docs/PERFORMANCE.md quotes, each with its peer measured in the same run, then the
# page itself.
#
#   bench/run_all.sh OUTDIR        (from the repository root, after building into build/)
#
# 1. Records the machine and the versions (OUTDIR/machine.json).
# 2. Runs every kolo-bench measurement REPS times, Open MPI in the same job, size by size
#    (OUTDIR/raw/NAME_REP.txt and .json).
# 3. Runs the blocks below the "blocks" line: other benchmarks (the Python adapter, the
#    hierarchical allreduce, ...), each self-contained. A block puts its figures on the page by
#    writing a markdown section to OUTDIR/sections/NN-name.md (add_section below wraps a text
#    summary); sections appear in name order, after Kolo's own.
# 4. When every step succeeded, bench/render_performance.py writes OUTDIR/PERFORMANCE.md, the
#    charts (OUTDIR/perf/*.png, bench/plot.py) and OUTDIR/summary.txt. Results recorded by hand
#    on other machines (GPU runs) live in docs/perf/manual/*.md and are included as they are.
#
# Environment: KOLO_BUILD_DIR (default build), REPS (default 3; each figure is the median),
# QUICK=1 (one repetition of short sweeps with few iterations: checks the script in a minute,
# its figures mean nothing), PUBLISH=1 (also copy the page and charts to docs/PERFORMANCE.md and
# docs/perf/; refused with QUICK). The full run takes about 10 minutes on a 2-core machine: run
# it on a quiet one.
#
# np=2 runs use mpirun without --oversubscribe (two ranks, two cores: MPI may then spin, as it
# does in production); np=3 and np=4 are oversubscribed and recorded for completeness only.
set -euo pipefail

out=${1:?usage: bench/run_all.sh OUTDIR}
build=${KOLO_BUILD_DIR:-build}
quick=${QUICK:-0}
reps=${REPS:-3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bench=$build/bin/kolo-bench
kolorun=$build/bin/kolorun
for tool in "$bench" "$kolorun"; do
  [[ -x $tool ]] || { echo "run_all.sh: $tool not built (cmake --build $build)" >&2; exit 2; }
done
command -v mpirun >/dev/null || { echo "run_all.sh: mpirun not found" >&2; exit 2; }
if [[ $quick == 1 && ${PUBLISH:-0} == 1 ]]; then
  echo "run_all.sh: QUICK figures are not for publishing (drop QUICK or PUBLISH)" >&2
  exit 2
fi
mkdir -p "$out/raw" "$out/sections"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --allow-run-as-root)

# Sweep settings: the full ones, or QUICK's (shorter sweeps, few iterations, one repetition).
sweep=(-b 8 -e 256M -f 4)
targets=(-b 1M -e 256M -f 4)
lat8=(-b 8 -e 8 -n 5000 -w 500)
colls=(-b 8 -e 64M -f 8)
resnet_iters=(-n 20 -w 5)
bert_iters=(-n 10 -w 2)
fusion_iters=(-n 10 -w 2)
launches=21
if [[ $quick == 1 ]]; then
  reps=1
  sweep=(-b 8 -e 1M -f 32 -n 3 -w 1)
  targets=(-b 1M -e 4M -f 4 -n 3 -w 1)
  lat8=(-b 8 -e 8 -n 50 -w 5)
  colls=(-b 8 -e 1M -f 32 -n 3 -w 1)
  resnet_iters=(-n 2 -w 1)
  bert_iters=(-n 1 -w 1)
  fusion_iters=(-n 2 -w 1 --sweep-thresholds 0,64M --sweep-cycles 1)
  launches=3
  # The Python block's own knobs (bench/python/run.sh).
  export STEPS=${STEPS:-3} ITERS=${ITERS:-100}
fi

# run NAME COMMAND...: stdout+stderr to raw/NAME.txt; a failed run stops the script.
run() {
  local name=$1
  shift
  echo "== $name: $*" >&2
  if ! "$@" >"$out/raw/$name.txt" 2>&1; then
    echo "run_all.sh: $name failed (see $out/raw/$name.txt)" >&2
    tail -5 "$out/raw/$name.txt" >&2
    exit 1
  fi
}

# add_section NN-name TITLE FILE [COMMAND]: FILE (a text summary) as a page section, verbatim.
add_section() {
  local name=$1 title=$2 file=$3 command=${4:-}
  {
    echo "## $title"
    echo
    [[ -n $command ]] && printf 'Measured by `%s` in this run.\n\n' "$command"
    echo '```'
    cat "$file"
    echo '```'
  } >"$out/sections/$name.md"
}

# The page is rendered once everything below, the other blocks included, has succeeded.
finish() {
  local status=$1
  if [[ $status != 0 ]]; then
    echo "run_all.sh: stopped (exit $status); no page rendered" >&2
    return
  fi
  local publish=()
  [[ ${PUBLISH:-0} == 1 ]] && publish=(--publish "$root/docs")
  /usr/bin/python3 "$here/render_performance.py" "$out" --reps "$reps" "${publish[@]}" || exit 1
  echo "run_all.sh: done in $(( $(date +%s) - start )) s; page in $out/PERFORMANCE.md," \
       "summary in $out/summary.txt" >&2
}

start=$(date +%s)
# The machine and every version a figure depends on.
/usr/bin/python3 - "$out/machine.json" "$build" "$quick" "$reps" <<'PY'
import json, os, platform, re, subprocess, sys, time

path, build, quick, reps = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])

def sh(*cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""

lscpu = dict(line.split(":", 1) for line in sh("lscpu").splitlines() if ":" in line)
lscpu = {k.strip(): v.strip() for k, v in lscpu.items()}
mem_kb = 0
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal:"):
        mem_kb = int(line.split()[1])
cache = sh("cmake", "-L", "-N", build)
compiler = re.search(r"CMAKE_CXX_COMPILER:\w+=(.*)", cache)
compiler = compiler.group(1) if compiler else "c++"
torch = sh("/usr/bin/python3", "-c", "import torch; print(torch.__version__)")
machine = {
    "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    "quick": quick,
    "reps": reps,
    "cpu_model": lscpu.get("Model name", platform.processor()),
    "cores": os.cpu_count(),
    "threads_per_core": lscpu.get("Thread(s) per core", ""),
    "numa_nodes": lscpu.get("NUMA node(s)", ""),
    "l2": lscpu.get("L2 cache", ""),
    "l3": lscpu.get("L3 cache", ""),
    "cpu_flags_avx512": "avx512f" in lscpu.get("Flags", ""),
    "memory_gib": round(mem_kb / 1048576, 1),
    "kernel": platform.release(),
    "os": sh("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"),
    "load_average": os.getloadavg()[0],
    "git_rev": sh("git", "rev-parse", "--short", "HEAD") or "unknown",
    "git_dirty": sh("git", "status", "--porcelain", "--untracked-files=no") != "",
    "compiler": sh(compiler, "--version").splitlines()[0] if sh(compiler, "--version") else "",
    "build_type": (re.search(r"CMAKE_BUILD_TYPE:\w+=(.*)", cache) or [None, ""])[1],
    "open_mpi": (sh("mpirun", "--version").splitlines() or [""])[0],
    "python": platform.python_version(),
    "torch": torch if re.match(r"^\d", torch) else "not installed",
}
json.dump(machine, open(path, "w"), indent=2)
PY

for rep in $(seq 1 "$reps"); do
  # Issue 2: the raw size sweep, np=2, with MPI; then the target sizes 1, 4, 16, 64 and
  # 256 MiB (the 8*4^k sweep does not land on them); then 8-byte latency.
  run "raw_np2_sweep_$rep" "${mpi[@]}" -np 2 "$bench" allreduce "${sweep[@]}" \
    --compare mpi --json "$out/raw/raw_np2_sweep_$rep.json"
  run "raw_np2_targets_$rep" "${mpi[@]}" -np 2 "$bench" allreduce "${targets[@]}" \
    --compare mpi --json "$out/raw/raw_np2_targets_$rep.json"
  run "raw_np2_lat8_$rep" "${mpi[@]}" -np 2 "$bench" allreduce "${lat8[@]}" \
    --compare mpi --json "$out/raw/raw_np2_lat8_$rep.json"
  for np in 3 4; do
    run "raw_np${np}_sweep_$rep" "${mpi[@]}" --oversubscribe -np $np "$bench" allreduce \
      "${sweep[@]}" --compare mpi --json "$out/raw/raw_np${np}_sweep_$rep.json"
  done
  # The other collectives against Open MPI's, np=2.
  for coll in allgather broadcast reducescatter alltoall; do
    run "coll_${coll}_np2_$rep" "${mpi[@]}" -np 2 "$bench" "$coll" "${colls[@]}" \
      --compare mpi --json "$out/raw/coll_${coll}_np2_$rep.json"
  done
  # Issue 3: the same through the runtime (Engine submit -> handle ready).
  run "runtime_np2_sweep_$rep" "${mpi[@]}" -np 2 "$bench" allreduce --path runtime \
    "${sweep[@]}" --compare mpi --json "$out/raw/runtime_np2_sweep_$rep.json"
  run "runtime_np2_targets_$rep" "${mpi[@]}" -np 2 "$bench" allreduce --path runtime \
    "${targets[@]}" --compare mpi --json "$out/raw/runtime_np2_targets_$rep.json"
  run "runtime_np2_lat8_$rep" "${mpi[@]}" -np 2 "$bench" allreduce --path runtime \
    "${lat8[@]}" --compare mpi --json "$out/raw/runtime_np2_lat8_$rep.json"
  # The workloads, Kolo then both MPI strategies on the same buffers.
  run "resnet50_np2_$rep" "${mpi[@]}" -np 2 "$bench" --workload resnet50 "${resnet_iters[@]}" \
    --compare mpi --json "$out/raw/resnet50_np2_$rep.json"
  run "bert-base_np2_$rep" "${mpi[@]}" -np 2 "$bench" --workload bert-base "${bert_iters[@]}" \
    --compare mpi --json "$out/raw/bert-base_np2_$rep.json"
  # Issue 4: starting 4 ranks that do nothing, kolorun against mpirun, alternated.
  /usr/bin/python3 - "$kolorun" "$launches" "$out/raw/launcher_$rep.json" <<'PY'
import json, statistics, subprocess, sys, time

kolorun, launches, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
commands = {"kolorun": [kolorun, "-np", "4", "--", "true"],
            "mpirun": ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "4", "true"]}
times = {name: [] for name in commands}
for _ in range(launches):
    for name, command in commands.items():
        begin = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[name].append((time.perf_counter() - begin) * 1000.0)
json.dump({"kind": "launcher", "launches": launches,
           "median_ms": {n: statistics.median(t) for n, t in times.items()},
           "runs_ms": times}, open(path, "w"), indent=2)
PY
done
# Where ResNet-50's step goes (the timeline costs some time itself: not a figure to quote as
# the step time), and the same workload under Kolo's own launcher.
KOLO_TIMELINE="$out/raw/resnet50_timeline.json" run resnet50_np2_timeline "$kolorun" -np 2 \
  "$bench" --workload resnet50 "${resnet_iters[@]}" \
  --json "$out/raw/resnet50_np2_timeline_summary.json"
# Fusion thresholds and cycle times on ResNet-50 (one run: it is already one per setting).
run fusion_sweep_resnet50 "$kolorun" -np 2 "$bench" --workload resnet50 --sweep-fusion \
  "${fusion_iters[@]}" --json "$out/raw/fusion_sweep_resnet50.json"

trap 'finish $?' EXIT
# ---- Blocks of other benchmarks go below, each self-contained (see 3. above). ----

# The Python adapter: a ResNet-50 step against torch.distributed (gloo) and the C++ path, and
# the cost per call (bench/python/run.sh; summary in OUTDIR/python/python_summary.txt).
echo "== python: bench/python/run.sh $build $out/python" >&2
if ! REPS=$reps "$(dirname "${BASH_SOURCE[0]}")/python/run.sh" "$build" "$out/python" \
    >/dev/null 2>"$out/raw/python.txt"; then
  echo "run_all.sh: python failed (see $out/raw/python.txt)" >&2
  tail -5 "$out/raw/python.txt" >&2
  exit 1
fi
add_section 60-python "Python adapter (bench/python)" "$out/python/python_summary.txt" \
  "bench/python/run.sh $build OUTDIR/python"

# ShardedOptimizer (ZeRO-1/2) against DistributedOptimizer and torch's ZeroRedundancyOptimizer on
# gloo, a training step each, REPS runs (bench/python/sharded_step.py; OUTDIR/sharded/).
mkdir -p "$out/sharded"
sharded_steps=(--steps 30 --warmup 3 --rounds 3)
[[ $quick == 1 ]] && sharded_steps=(--steps 3 --warmup 1 --rounds 1)
for rep in $(seq 1 "$reps"); do
  run "sharded_step_$rep" "$kolorun" -np 2 -x "PYTHONPATH=$build/python:$here/python" \
    -- /usr/bin/python3 "$here/python/sharded_step.py" "${sharded_steps[@]}" \
    --json "$out/sharded/run$rep.json"
done
/usr/bin/python3 "$here/python/sharded_summary.py" "$out"/sharded/run*.json \
  >"$out/sharded/summary.txt"
add_section 61-sharded "ShardedOptimizer step (bench/python/sharded_step.py)" \
  "$out/sharded/summary.txt" "kolorun -np 2 ... bench/python/sharded_step.py (REPS runs)"

# Hierarchical allreduce: np=4 as two simulated hosts of two (kolorun --local-hosts -H a:2,b:2:
# node groups over shared memory, the cross-host groups and the flat world over TCP), the
# hierarchical algorithm against the flat ring at 1, 4, 16 and 64 MiB, alternated REPS times; the
# section gives each one's median in-place busbw per size (OUTDIR/hier/).
hier_sizes=(-b 1M -e 64M -f 4)
hier_iters=(-n 20 -w 5)
if [[ $quick == 1 ]]; then
  hier_sizes=(-b 1M -e 4M -f 4)
  hier_iters=(-n 3 -w 1)
fi
mkdir -p "$out/hier"
for rep in $(seq 1 "$reps"); do
  for algo in hier ring; do
    run "hier_np4_2x2_${algo}_$rep" "$kolorun" -np 4 -H a:2,b:2 --local-hosts \
      -x KOLO_ALLREDUCE_ALGO=$algo "$bench" allreduce "${hier_sizes[@]}" "${hier_iters[@]}" \
      --inplace 1 --json "$out/hier/np4_2x2_${algo}_$rep.json"
  done
done
/usr/bin/python3 "$here/compare_variants.py" "$out/hier" "$reps" \
  "allreduce float32 sum in place, np=4 as hosts a:2,b:2 (kolorun --local-hosts)" \
  "np4_2x2_{variant}_{rep}.json" hier ring >"$out/hier/hier_summary.txt"
add_section 70-hierarchical "Hierarchical allreduce across two simulated hosts" \
  "$out/hier/hier_summary.txt" \
  "kolorun -np 4 -H a:2,b:2 --local-hosts -x KOLO_ALLREDUCE_ALGO=hier|ring kolo-bench allreduce $(echo "${hier_sizes[@]}" "${hier_iters[@]}") --inplace 1"

# ---- block: Kolo's Open MPI backend against its own transports --------------------------------
# The same kolo-bench under mpirun -np 2 with KOLO_CPU_OPERATIONS=mpi (collectives on Open MPI)
# and =kolo (Kolo's shm transport), at the hierarchical block's sizes, alternated REPS times.
mkdir -p "$out/mpi_backend"
for rep in $(seq 1 "$reps"); do
  for ops in mpi kolo; do
    run "mpi_backend_np2_${ops}_$rep" "${mpi[@]}" -np 2 -x KOLO_CPU_OPERATIONS=$ops "$bench" \
      allreduce "${hier_sizes[@]}" "${hier_iters[@]}" --inplace 1 \
      --json "$out/mpi_backend/np2_${ops}_$rep.json"
  done
done
/usr/bin/python3 "$here/compare_variants.py" "$out/mpi_backend" "$reps" \
  "allreduce float32 sum in place, mpirun -np 2, KOLO_CPU_OPERATIONS=kolo vs mpi" \
  "np2_{variant}_{rep}.json" kolo mpi >"$out/mpi_backend/summary.txt"
add_section 75-mpi-backend "Open MPI backend against Kolo's transports" \
  "$out/mpi_backend/summary.txt" \
  "mpirun -np 2 -x KOLO_CPU_OPERATIONS=mpi|kolo kolo-bench allreduce $(echo "${hier_sizes[@]}" "${hier_iters[@]}") --inplace 1"
