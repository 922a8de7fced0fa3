#!/usr/bin/env bash
# Keeps the layering rules of the architecture true (the dependency rules of the architecture):
#   base <- rendezvous, collectives <- core <- api <- adapters; launcher sees protocol + base only;
#   bench sees the public API, kolo/bench_interface.h and the public collectives headers; only
#   include/ folders are public (a layer's src/ is its own).
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2
fail=0

# check DIR REGEX WHY: no file under DIR may include a header matching REGEX.
check() {
  local dir=$1 regex=$2 why=$3
  [ -d "$dir" ] || return 0
  local hits
  hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($regex)" "$dir" \
           --include='*.h' --include='*.hpp' --include='*.cc' --include='*.cpp' --include='*.cu' || true)
  if [ -n "$hits" ]; then
    echo "layering violation: $why"
    echo "$hits"
    fail=1
  fi
}

check runtime/base 'kolo/(collectives|rendezvous|core|api|protocol)/|kolo\.h' \
  "runtime/base depends on nothing else in Kolo"
check collectives 'kolo/(core|api|rendezvous)/|kolo\.hp?p?"|runtime/' \
  "collectives/ must not see the runtime core, the store implementations or the public API"
check runtime/rendezvous 'kolo/(core|api|collectives)/' \
  "runtime/rendezvous depends only on protocol and base"
check launcher 'kolo/(core|api|collectives|rendezvous)/|kolo\.hp?p?"' \
  "the launcher shares only the protocol headers (and base utilities) with the runtime"
check adapters 'kolo/(core|collectives|base|rendezvous)/|kolo/bench_interface\.h' \
  "adapters use only the public API (kolo.h / kolo.hpp)"
check bench 'kolo/core/' \
  "bench/ reaches the runtime through kolo/kolo.hpp and kolo/bench_interface.h (what benchmarks may use below the public API, and why), not the Engine's headers"

# Only include/ folders are public. A quoted include that does not resolve beside the including
# file but names a file under another layer's src/ reaches that layer's internals (it compiles
# only if a build file published that src/ folder), e.g. "transport/mpi/mpi_env.h" from bench/.
layers=(runtime/base runtime/rendezvous runtime/core runtime/api collectives launcher adapters/c
        bench)
src_hits=""
while IFS= read -r hit; do
  file=${hit%%:*}
  rest=${hit#*:}
  path=${rest#*\"}
  path=${path%%\"*}
  if [ -f "${file%/*}/$path" ]; then
    # Beside the including file, unless it climbs out of it into another layer's src/.
    case "$path" in ../*) ;; *) continue ;; esac
    resolved=$(realpath -m --relative-to=. "${file%/*}/$path")
    for layer in "${layers[@]}"; do
      case "$file" in "$layer"/*) continue ;; esac
      case "$resolved" in
        "$layer"/src/*) src_hits+="$hit  -> a path into $layer/src/"$'\n' ;;
      esac
    done
    continue
  fi
  for layer in "${layers[@]}"; do
    case "$file" in "$layer"/*) continue ;; esac
    if [ -f "$layer/src/$path" ]; then
      src_hits+="$hit  -> $layer/src/$path"$'\n'
    fi
  done
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' runtime collectives launcher \
           adapters bench examples --include='*.h' --include='*.hpp' --include='*.cc' \
           --include='*.cpp' --include='*.cu' --include='*.c' 2>/dev/null)
if [ -n "$src_hits" ]; then
  echo "layering violation: quoted include of another layer's internal header (only include/"
  echo "folders are public; move what is needed into a header under include/, or give the"
  echo "component a documented interface there)"
  printf '%s' "$src_hits"
  fail=1
fi

# The build files must not undo that: no target outside tests/ links a *_internal_for_tests
# target or adds another layer's src/ folder to its include path.
cmake_hits=$(grep -rnE '_internal_for_tests|(PROJECT_SOURCE_DIR|CMAKE_SOURCE_DIR)\}/[A-Za-z_/]*src\b' \
               runtime collectives launcher adapters bench --include=CMakeLists.txt \
               --include='*.cmake' 2>/dev/null |
             grep -vE '(add_library|target_include_directories|target_link_libraries)\((kolo_[a-z_]+)_internal_for_tests\b' |
             grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true)
if [ -n "$cmake_hits" ]; then
  echo "layering violation: a build file outside tests/ reaches another layer's src/ (the"
  echo "*_internal_for_tests targets are for tests only)"
  echo "$cmake_hits"
  fail=1
fi

# The public C++ API pulls in nothing but the standard library and the vocabulary headers it
# names (Status/Expected, DataType/ReduceOp, Tensor/OpOptions): no fmt, no other Kolo header.
# The vocabulary headers themselves include only the standard library and each other.
public_api=runtime/api/include/kolo/kolo.hpp
public_vocabulary=(kolo/base/status_types.h kolo/collectives/dtype.h kolo/core/tensor.h)
api_hits=""
for header in "$public_api" runtime/base/include/kolo/base/status_types.h \
              collectives/include/kolo/collectives/dtype.h \
              runtime/core/include/kolo/core/tensor.h; do
  [ -f "$header" ] || { api_hits+="$header: missing"$'\n'; continue; }
  while IFS= read -r line; do
    included=${line#*include}
    included=${included//[[:space:]]/}
    case "$included" in
      \<*/*\>) api_hits+="$header: $line (a third-party header)"$'\n' ;;
      \"*\")
        name=${included//\"/}
        allowed=0
        for ok in "${public_vocabulary[@]}"; do [ "$name" = "$ok" ] && allowed=1; done
        case "$header" in */"$name") allowed=0 ;; esac  # not itself
        [ "$allowed" -eq 1 ] || api_hits+="$header: $line (not a public vocabulary header)"$'\n'
        ;;
    esac
  done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$header")
done
if [ -n "$api_hits" ]; then
  echo "layering violation: the public kolo.hpp must pull in only the standard library and"
  echo "${public_vocabulary[*]}"
  printf '%s' "$api_hits"
  fail=1
fi

if [ "$fail" -eq 0 ]; then echo "layering OK"; fi
exit $fail
