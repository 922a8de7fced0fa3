#!/usr/bin/env bash
# The Python adapter's figures: a ResNet-50 gradient step from Python against torch.distributed
# (gloo) and against Kolo's C++ path, and the cost per call of an 8-byte allreduce against the
# C++ runtime path. Every repetition runs all of them, C++ and Python back to back.
#
#   bench/python/run.sh BUILD_DIR [OUTDIR]      (from anywhere; OUTDIR default: a new temp dir)
#
# Writes each run's output and JSON into OUTDIR/raw/, prints the summary (also in
# OUTDIR/python_summary.txt) and writes OUTDIR/python_bench.json. Environment: REPS (default
# 3), STEPS (timed ResNet-50 steps per variant, default 30), ITERS (timed 8-byte calls per
# variant, default 5000), KOLORUN_ARGS (extra kolorun options, e.g. "--bind-to none").
# About a minute per repetition on a 2-core machine, most of it in torch's per-tensor variant.
set -euo pipefail

build=${1:?usage: bench/python/run.sh BUILD_DIR [OUTDIR]}
out=${2:-$(mktemp -d /tmp/kolo-pybench.XXXXXX)}
reps=${REPS:-3}
steps=${STEPS:-30}
iters=${ITERS:-5000}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "$build" && pwd)
bench=$build/bin/kolo-bench
kolorun=$build/bin/kolorun
python=/usr/bin/python3
for tool in "$bench" "$kolorun"; do
  [[ -x $tool ]] || { echo "run.sh: $tool not built (cmake --build $build)" >&2; exit 2; }
done
[[ -f $build/python/kolo/__init__.py ]] || {
  echo "run.sh: $build/python/kolo not assembled (cmake --build $build --target kolo_python)" >&2
  exit 2
}
mkdir -p "$out/raw"
# shellcheck disable=SC2206
launch=("$kolorun" -np 2 --timeout 900 ${KOLORUN_ARGS:-})
pyenv=(-x "PYTHONPATH=$build/python:$here" -x PYTHONDONTWRITEBYTECODE=1)

# run NAME COMMAND...: stdout+stderr to raw/NAME.txt; a failed run stops the script.
run() {
  local name=$1
  shift
  echo "== $name: $*" >&2
  if ! "$@" >"$out/raw/$name.txt" 2>&1; then
    echo "run.sh: $name failed (see $out/raw/$name.txt)" >&2
    tail -5 "$out/raw/$name.txt" >&2
    exit 1
  fi
}

for rep in $(seq 1 "$reps"); do
  run "cpp_resnet50_$rep" "${launch[@]}" "$bench" --workload resnet50 -n "$steps" -w 5 \
    --json "$out/raw/cpp_resnet50_$rep.json"
  run "py_resnet50_$rep" "${launch[@]}" "${pyenv[@]}" -- "$python" "$here/resnet50_step.py" \
    --steps "$steps" --warmup 5 --json "$out/raw/py_resnet50_$rep.json"
  run "cpp_small_$rep" "${launch[@]}" "$bench" allreduce --path runtime -b 8 -e 8 \
    -n "$iters" -w 500 --json "$out/raw/cpp_small_$rep.json"
  run "py_small_$rep" "${launch[@]}" "${pyenv[@]}" -- "$python" "$here/small_allreduce.py" \
    -n "$iters" -w 500 --json "$out/raw/py_small_$rep.json"
done

status=0
"$python" "$here/report.py" "$out" "$reps" | tee "$out/python_summary.txt" || status=$?
echo "run.sh: figures in $out/python_bench.json, runs in $out/raw/" >&2
exit $status
