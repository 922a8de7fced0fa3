#!/usr/bin/env bash
# Every kolo-bench figure the performance notes quote, Open MPI measured in the same runs.
#
#   bench/run_all.sh OUTDIR        (from the repository root, after building into build/)
#
# Writes each run's text output and JSON into OUTDIR (raw/), and OUTDIR/summary.txt with the
# median over the repetitions of every figure. Environment: KOLO_BUILD_DIR (default build),
# REPS (default 3). About 5 minutes on a 2-core machine.
#
# np=2 runs use mpirun without --oversubscribe (two ranks, two cores: MPI may then spin, as it
# does in production); np=3 and np=4 are oversubscribed and recorded for completeness only.
set -euo pipefail

out=${1:?usage: bench/run_all.sh OUTDIR}
build=${KOLO_BUILD_DIR:-build}
reps=${REPS:-3}
bench=$build/bin/kolo-bench
kolorun=$build/bin/kolorun
for tool in "$bench" "$kolorun"; do
  [[ -x $tool ]] || { echo "run_all.sh: $tool not built (cmake --build $build)" >&2; exit 2; }
done
command -v mpirun >/dev/null || { echo "run_all.sh: mpirun not found" >&2; exit 2; }
mkdir -p "$out/raw"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --allow-run-as-root)

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

start=$(date +%s)
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
  echo "mpirun: $(mpirun --version 2>/dev/null | head -1)"
} >"$out/environment.txt"

for rep in $(seq 1 "$reps"); do
  # Issue 2: the raw size sweep (in place), np=2, with MPI; then the target sizes 1, 4, 16,
  # 64 and 256 MiB (the 8*4^k sweep does not land on them); then 8-byte latency.
  run "raw_np2_sweep_$rep" "${mpi[@]}" -np 2 "$bench" allreduce -b 8 -e 256M -f 4 \
    --compare mpi --json "$out/raw/raw_np2_sweep_$rep.json"
  run "raw_np2_targets_$rep" "${mpi[@]}" -np 2 "$bench" allreduce -b 1M -e 256M -f 4 \
    --compare mpi --json "$out/raw/raw_np2_targets_$rep.json"
  run "raw_np2_lat8_$rep" "${mpi[@]}" -np 2 "$bench" allreduce -b 8 -e 8 -n 5000 -w 500 \
    --compare mpi --json "$out/raw/raw_np2_lat8_$rep.json"
  for np in 3 4; do
    run "raw_np${np}_sweep_$rep" "${mpi[@]}" --oversubscribe -np $np "$bench" allreduce \
      -b 8 -e 256M -f 4 --compare mpi --json "$out/raw/raw_np${np}_sweep_$rep.json"
  done
  # Issue 3: the same through the runtime (Engine submit -> handle ready).
  run "runtime_np2_sweep_$rep" "${mpi[@]}" -np 2 "$bench" allreduce --path runtime \
    -b 8 -e 256M -f 4 --compare mpi --json "$out/raw/runtime_np2_sweep_$rep.json"
  run "runtime_np2_targets_$rep" "${mpi[@]}" -np 2 "$bench" allreduce --path runtime \
    -b 1M -e 256M -f 4 --compare mpi --json "$out/raw/runtime_np2_targets_$rep.json"
  run "runtime_np2_lat8_$rep" "${mpi[@]}" -np 2 "$bench" allreduce --path runtime \
    -b 8 -e 8 -n 5000 -w 500 --compare mpi --json "$out/raw/runtime_np2_lat8_$rep.json"
  # The workloads, Kolo then both MPI strategies on the same buffers.
  run "resnet50_np2_$rep" "${mpi[@]}" -np 2 "$bench" --workload resnet50 -n 20 -w 5 \
    --compare mpi --json "$out/raw/resnet50_np2_$rep.json"
  run "bert-base_np2_$rep" "${mpi[@]}" -np 2 "$bench" --workload bert-base -n 10 -w 2 \
    --compare mpi --json "$out/raw/bert-base_np2_$rep.json"
done
# Where ResNet-50's step goes (the timeline costs some time itself: not a figure to quote as
# the step time), and the same workload under Kolo's own launcher.
KOLO_TIMELINE="$out/raw/resnet50_timeline.json" run resnet50_np2_timeline "$kolorun" -np 2 \
  "$bench" --workload resnet50 -n 20 -w 5 --json "$out/raw/resnet50_np2_timeline_summary.json"

/usr/bin/python3 - "$out" "$reps" >"$out/summary.txt" <<'PY'
import json, os, statistics, sys

out, reps = sys.argv[1], int(sys.argv[2])
raw = os.path.join(out, "raw")

def load(name):
    return [json.load(open(os.path.join(raw, f"{name}_{r}.json"))) for r in range(1, reps + 1)]

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")

def sweep(name, title):
    runs = load(name)
    print(f"\n## {title} ({name}, median of {reps} runs; times in us, busbw in GB/s)")
    print(f"{'bytes':>11} {'kolo_us':>10} {'kolo_busbw':>10} {'mpi_us':>10} {'mpi_busbw':>10} "
          f"{'busbw_x_mpi':>11} {'time_x_mpi':>10}")
    for i, row in enumerate(runs[0]["results"]):
        rows = [r["results"][i] for r in runs]
        k_us, k_bw = med([r["median_us"] for r in rows]), med([r["busbw"] for r in rows])
        m_us, m_bw = med([r.get("mpi_median_us") for r in rows]), med([r.get("mpi_busbw") for r in rows])
        print(f"{row['bytes']:>11} {k_us:>10.2f} {k_bw:>10.2f} {m_us:>10.2f} {m_bw:>10.2f} "
              f"{k_bw / m_bw if m_bw else float('nan'):>11.2f} {k_us / m_us if m_us else float('nan'):>10.2f}")

def workload(name):
    runs = load(f"{name}_np2")
    print(f"\n## {name} workload, np=2 ({name}_np2, median of {reps} runs of "
          f"{runs[0]['iterations']} steps; ms per step)")
    keys = [("kolo runtime", "kolo"), ("mpi per tensor", "mpi_per_tensor"),
            ("mpi packed (total)", "mpi_packed"), ("mpi packed: copies", "mpi_packed_copies")]
    for label, key in keys:
        if key not in runs[0]:
            continue
        values = [r[key]["median_ms"] for r in runs]
        each = ", ".join("%.2f" % v for v in values)
        print(f"{label:<22} {med(values):>9.2f} ms  (runs: {each})")
    print(f"{'kolo / faster mpi':<22} {med([r['kolo_over_faster_mpi'] for r in runs]):>9.2f}")
    print(f"{'kolo effective GB/s':<22} {med([r['effective_gbps'] for r in runs]):>9.2f}")

print("# kolo-bench run_all summary")
print(open(os.path.join(out, "environment.txt")).read().rstrip())
sweep("raw_np2_sweep", "raw allreduce, np=2, in place, float32 sum")
sweep("raw_np2_targets", "raw allreduce, np=2, target sizes")
sweep("raw_np2_lat8", "raw allreduce, np=2, 8 B latency")
sweep("raw_np3_sweep", "raw allreduce, np=3 (oversubscribed)")
sweep("raw_np4_sweep", "raw allreduce, np=4 (oversubscribed)")
sweep("runtime_np2_sweep", "runtime path allreduce, np=2 (submit -> handle ready)")
sweep("runtime_np2_targets", "runtime path allreduce, np=2, target sizes")
sweep("runtime_np2_lat8", "runtime path, np=2, 8 B latency (submit -> handle ready)")
workload("resnet50")
workload("bert-base")
tl = open(os.path.join(raw, "resnet50_np2_timeline.txt")).read().splitlines()
print("\n## resnet50 timeline breakdown (kolorun, KOLO_TIMELINE on, one run)")
for line in tl:
    if "timeline" in line or "kolo runtime" in line:
        print(line.split(":", 1)[1] if line.startswith("[") else line)
PY
echo "run_all.sh: done in $(( $(date +%s) - start )) s; summary in $out/summary.txt" >&2
