#!/usr/bin/env bash
# Builds Kolo's libFuzzer targets with clang (AddressSanitizer + UndefinedBehaviorSanitizer) in
# build-fuzz/ and runs each for SECONDS (default 60), starting from the seed corpus in
# tests/fuzz/corpus/<target> and the past findings in tests/fuzz/regressions/<target>.
#
#   tests/fuzz/run_fuzzers.sh [SECONDS] [TARGET...]     targets: tcp_frame negotiation store_wire
#                                                       store_server host_list env (default: all)
#
# Exits non-zero when any target crashes, leaks, hits undefined behaviour, fails one of its
# property checks or hangs (10 s per input); the input that did it is saved under
# build-fuzz/fuzz-findings/<target>/ and the command to replay it is printed. Inputs the fuzzer
# finds interesting go to build-fuzz/fuzz-work/<target>/, never into the committed corpus.
# Environment: KOLO_FUZZ_BUILD_DIR (default <repo>/build-fuzz), KOLO_FUZZ_JOBS (build jobs).
set -euo pipefail

seconds="${1:-60}"
if [ "$#" -gt 0 ]; then shift; fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
fi
all_targets=(tcp_frame negotiation store_wire store_server host_list env)
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then targets=("${all_targets[@]}"); fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${KOLO_FUZZ_BUILD_DIR:-$root/build-fuzz}"
cc="$(command -v clang || command -v clang-14 || true)"
cxx="$(command -v clang++ || command -v clang++-14 || true)"
if [ -z "$cc" ] || [ -z "$cxx" ]; then
  echo "run_fuzzers: clang is not installed (.ci/install-deps.sh installs it)" >&2
  exit 2
fi

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
CC="$cc" CXX="$cxx" cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKOLO_FUZZ=ON -DKOLO_WITH_CUDA=OFF -DKOLO_WITH_NCCL=OFF -DKOLO_WITH_MPI=OFF \
  "${launcher[@]}" >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=("kolo_fuzz_$t"); done
cmake --build "$build" -j"${KOLO_FUZZ_JOBS:-$(nproc)}" --target "${build_targets[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export KOLO_LOG_LEVEL=none

failed=()
summary=""
for t in "${targets[@]}"; do
  exe="$build/bin/kolo_fuzz_$t"
  work="$build/fuzz-work/$t"
  findings="$build/fuzz-findings/$t"
  mkdir -p "$work" "$findings"
  inputs=("$work" "$root/tests/fuzz/corpus/$t")
  if [ -d "$root/tests/fuzz/regressions/$t" ]; then inputs+=("$root/tests/fuzz/regressions/$t"); fi
  # The TCP seeds hold a 70 KB frame (the zero-copy receive path starts at 64 KiB).
  max_len=4096
  if [ "$t" = tcp_frame ]; then max_len=80000; fi
  log="$build/fuzz-work/$t.log"
  echo "== $t: ${seconds} s"
  rc=0
  "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$findings/" "${inputs[@]}" >"$log" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    result="FAILED (exit $rc)"
    tail -n 40 "$log" >&2
    for artifact in "$findings"/*; do
      [ -e "$artifact" ] && echo "replay: $exe $artifact" >&2
    done
  else
    result="ok"
  fi
  summary+="$(printf '%-14s %12s runs  %6s edges  %s' "$t" "${execs:-?}" "${cov:-?}" "$result")"$'\n'
done

printf '\n%s' "$summary"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "run_fuzzers: findings in ${failed[*]} (logs in $build/fuzz-work/)" >&2
  exit 1
fi
echo "run_fuzzers: every target ran ${seconds} s without a finding"
