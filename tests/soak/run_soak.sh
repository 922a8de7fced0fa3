#!/usr/bin/env bash
# Kolo soak: np=4 random traffic, every result checked, resources sampled.
# Usage: tests/soak/run_soak.sh MINUTES [BUILD_DIR] [OUTDIR]
# The time is split over four phases: {fusion on, fusion off} x {ring, hierarchical}; the
# hierarchical phases run the 4 ranks as two simulated hosts of two. Each phase's ranks write
# a JSON report; the script prints a summary and fails on any wrong element or on resources
# that grew after warm-up (RSS by more than 64 MiB, or any fd/thread/shm-segment growth).
set -euo pipefail
minutes=${1:?usage: run_soak.sh MINUTES [BUILD_DIR] [OUTDIR]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${2:-$root/build}" && pwd)
out=${3:-$(mktemp -d /tmp/kolo-soak.XXXXXX)}
mkdir -p "$out"
phase_seconds=$(/usr/bin/python3 -c "print(max(20, int($minutes * 60 / 4)))")
shm_before=$(ls /dev/shm | grep -c '^kolo' || true)

run_phase() {  # name, then extra kolorun arguments
  local name=$1; shift
  echo "== phase $name: $phase_seconds s"
  "$build/bin/kolorun" -np 4 --timeout $((phase_seconds + 300)) "$@" \
    -x PYTHONPATH="$build/python" -x KOLO_TIMEOUT_SECONDS=120 \
    -- /usr/bin/python3 "$here/soak.py" "$phase_seconds" "$out/$name"
}
run_phase fused-ring -x KOLO_ALLREDUCE_ALGO=ring
run_phase unfused-ring -x KOLO_ALLREDUCE_ALGO=ring -x KOLO_FUSION_THRESHOLD=0
run_phase fused-hier -H a:2,b:2 --local-hosts -x KOLO_ALLREDUCE_ALGO=hier
run_phase unfused-hier -H a:2,b:2 --local-hosts -x KOLO_ALLREDUCE_ALGO=hier \
  -x KOLO_FUSION_THRESHOLD=0
shm_after=$(ls /dev/shm | grep -c '^kolo' || true)
/usr/bin/python3 "$here/summarize_soak.py" "$out" "$shm_before" "$shm_after"
