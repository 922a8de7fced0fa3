#!/usr/bin/env bash
# Kolo's GPU checks, for a machine with a CUDA device (and the CUDA toolkit + NCCL in
# /usr/local/cuda): builds what they need in BUILD_DIR (configuring it if needed), then runs
#   1. device-free GPU unit tests (planning, completion list),
#   2. the fusion copy kernels against the host kernels, bit for bit,
#   3. the NCCL backend at np=1: every collective and dtype, fusion on and off, against the
#      host path (and the same through host staging),
#   4. two ranks sharing the GPU (kolorun -np 2): Kolo must pick host staging and be exact,
#   5. the generic Python API over a CUDA DLPack tensor that no framework made
#      (tests/gpu/dlpack_check.py --device cuda) at np=1 and np=2, in place, exact,
#   6. the device fusion-buffer pack/unpack throughput against cudaMemcpy (a figure, target
#      >= 80 %; reported, not a failure).
# Prints a summary; exits 0 when every check passed, 1 otherwise, and 77 (printing "no CUDA
# device found: GPU checks skipped") when there is no usable device.
# Usage: tests/gpu/run_gpu_checks.sh [BUILD_DIR]   (default: build-gpu)
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$ROOT/build-gpu}
case "$BUILD" in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
SKIP=77
LOGDIR=${KOLO_GPU_CHECKS_LOGDIR:-$BUILD/gpu-checks}
say() { echo "[gpu-checks] $*"; }
skip() {
  [ -n "${1:-}" ] && say "$1"
  echo "no CUDA device found: GPU checks skipped"
  exit $SKIP
}

# Without building anything: a hidden device list or no driver at all means no GPU.
if [ "${CUDA_VISIBLE_DEVICES+set}" = set ] &&
   { [ -z "$CUDA_VISIBLE_DEVICES" ] || [ "$CUDA_VISIBLE_DEVICES" = "-1" ]; }; then
  skip "CUDA_VISIBLE_DEVICES hides every device"
fi
if ! ls /dev/nvidia[0-9]* >/dev/null 2>&1 && ! command -v nvidia-smi >/dev/null 2>&1; then
  skip "no NVIDIA device node and no nvidia-smi"
fi

mkdir -p "$LOGDIR" || exit 1
JOBS=$(nproc 2>/dev/null || echo 4)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  say "configuring $BUILD"
  GEN=()
  command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
  LAUNCH=()
  command -v ccache >/dev/null 2>&1 &&
    LAUNCH=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  if ! cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DKOLO_WITH_CUDA=ON \
       -DKOLO_WITH_NCCL=ON "${LAUNCH[@]}" >"$LOGDIR/configure.log" 2>&1; then
    tail -30 "$LOGDIR/configure.log"
    say "FAILED: configure (log: $LOGDIR/configure.log)"
    exit 1
  fi
fi
TARGETS=(kolo_gpu_probe kolo_gpu_plan_test kolo_gpu_device_test kolo_gpu_nccl_test
         kolo_gpu_staged_ranks kolo_gpu_fusion_bench kolorun kolo_python)
say "building ${TARGETS[*]} with $JOBS jobs"
START=$SECONDS
if ! cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}" >"$LOGDIR/build.log" 2>&1; then
  grep -E "error|Error" "$LOGDIR/build.log" | head -30
  say "FAILED: build (log: $LOGDIR/build.log)"
  exit 1
fi
say "built in $((SECONDS - START)) s"
BIN=$BUILD/bin

"$BIN/kolo_gpu_probe" | tee "$LOGDIR/probe.log"
PROBE=${PIPESTATUS[0]}
[ "$PROBE" -eq $SKIP ] && skip
[ "$PROBE" -ne 0 ] && { say "FAILED: device probe exited $PROBE"; exit 1; }

declare -a NAMES RESULTS
FAILED=0
# run NAME TIMEOUT COMMAND...: output to $LOGDIR/NAME.log and, in short, to the console.
run() {
  local name=$1 limit=$2
  shift 2
  say "running $name"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$LOGDIR/$name.log" 2>&1
  local rc=$?
  local verdict=PASS
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    verdict="FAIL (timed out after ${limit}s)"
  elif [ $rc -ne 0 ]; then
    verdict="FAIL (exit $rc)"
  fi
  [ "$verdict" = PASS ] || { FAILED=1; tail -40 "$LOGDIR/$name.log"; }
  NAMES+=("$name")
  RESULTS+=("$verdict ($((SECONDS - t0)) s)")
}

GTEST_FLAGS=(--gtest_color=no)
run unit-plan 60 "$BIN/kolo_gpu_plan_test" "${GTEST_FLAGS[@]}"
run device-kernels 150 "$BIN/kolo_gpu_device_test" "${GTEST_FLAGS[@]}"
run nccl-np1 240 "$BIN/kolo_gpu_nccl_test" "${GTEST_FLAGS[@]}"
# Skipped gtests would hide a missing device: with a device, nothing may be skipped.
for log in device-kernels nccl-np1; do
  if grep -q "SKIPPED" "$LOGDIR/$log.log"; then
    FAILED=1
    NAMES+=("$log-not-skipped")
    RESULTS+=("FAIL (tests skipped although a device is present)")
  fi
done

run staged-np2 120 "$BIN/kolorun" -np 2 --timeout 100 -x KOLO_LOG_LEVEL=info \
  -x KOLO_TIMEOUT_SECONDS=60 -- "$BIN/kolo_gpu_staged_ranks"
OK_RANKS=$(grep -c "staged ranks: OK" "$LOGDIR/staged-np2.log")
if [ "$OK_RANKS" -ne 2 ] || ! grep -q "host staging (ranks share a GPU)" "$LOGDIR/staged-np2.log"; then
  FAILED=1
  NAMES+=("staged-np2-detection")
  RESULTS+=("FAIL ($OK_RANKS ranks OK; expected both, through host staging chosen because the ranks share a GPU)")
fi

# The generic kolo API over CUDA memory exported by DLPack (no torch CUDA build or CuPy needed).
PY=${GPU_CHECKS_PYTHON:-/usr/bin/python3}
if "$PY" -c "import numpy" >/dev/null 2>&1; then
  for np in 1 2; do
    run dlpack-cuda-np$np 120 "$BIN/kolorun" -np $np --timeout 100 -x KOLO_TIMEOUT_SECONDS=60 \
      -x PYTHONPATH="$BUILD/python" -- "$PY" "$ROOT/tests/gpu/dlpack_check.py" --device cuda
  done
else
  NAMES+=("dlpack-cuda")
  RESULTS+=("NOT RUN ($PY cannot import numpy; set GPU_CHECKS_PYTHON)")
fi

run fusion-bench 120 "$BIN/kolo_gpu_fusion_bench"

echo
say "summary ($(head -1 "$LOGDIR/probe.log"))"
for i in "${!NAMES[@]}"; do
  printf '[gpu-checks]   %-28s %s\n' "${NAMES[$i]}" "${RESULTS[$i]}"
done
echo
say "device fusion-buffer throughput:"
sed 's/^/[gpu-checks]   /' "$LOGDIR/fusion-bench.log"
echo
say "logs: $LOGDIR"
if [ $FAILED -ne 0 ]; then
  say "RESULT: FAILED"
  exit 1
fi
say "RESULT: all GPU checks passed"
exit 0
