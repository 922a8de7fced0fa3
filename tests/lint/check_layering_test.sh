#!/usr/bin/env bash
# check_layering.sh on small trees, one rule broken at a time: each must fail naming the file and
# the rule, and the clean tree (including a layer's own src/ includes) must pass.
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
lint="$root/tests/lint/check_layering.sh"
failures=0

# A minimal tree: the public API's headers as they are, one internal header of collectives/.
make_tree() {
  local tree
  tree=$(mktemp -d)
  for header in runtime/api/include/kolo/kolo.hpp runtime/base/include/kolo/base/status_types.h \
                collectives/include/kolo/collectives/dtype.h \
                runtime/core/include/kolo/core/tensor.h; do
    mkdir -p "$tree/$(dirname "$header")"
    cp "$root/$header" "$tree/$header"
  done
  mkdir -p "$tree/collectives/src/reduce" "$tree/collectives/src/transport/mpi" "$tree/bench/src" \
           "$tree/runtime/core/src"
  echo '#pragma once' >"$tree/collectives/src/reduce/reduce_kernels.h"
  echo '#pragma once' >"$tree/collectives/src/transport/mpi/mpi_env.h"
  echo '#include "reduce/reduce_kernels.h"' >"$tree/collectives/src/reduce/reduce.cc"
  echo '#include "kolo/kolo.hpp"' >"$tree/bench/src/main.cc"
  echo "$tree"
}

# expect NAME EXPECTED_STATUS TEXT SETUP...: runs SETUP in a fresh tree, then the lint.
expect() {
  local name=$1 status=$2 text=$3
  shift 3
  local tree out rc
  tree=$(make_tree)
  (cd "$tree" && eval "$@")
  out=$("$lint" "$tree" 2>&1)
  rc=$?
  if [ "$rc" -ne "$status" ] || ! grep -qF -- "$text" <<<"$out"; then
    echo "FAIL $name: exit $rc (expected $status), output lacks: $text"
    echo "$out" | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
  rm -rf "$tree"
}

expect clean_tree 0 "layering OK" true
expect bench_includes_a_transport_header 1 \
  'bench/src/mpi.cc:1:#include "transport/mpi/mpi_env.h"  -> collectives/src/transport/mpi/mpi_env.h' \
  'echo "#include \"transport/mpi/mpi_env.h\"" > bench/src/mpi.cc'
expect core_includes_a_kernel_header 1 \
  'runtime/core/src/op.cc:1:#include "reduce/reduce_kernels.h"  -> collectives/src/reduce/reduce_kernels.h' \
  'echo "#include \"reduce/reduce_kernels.h\"" > runtime/core/src/op.cc'
expect include_through_a_src_path 1 "bench/src/up.cc:1:#include \"../../collectives/src/reduce/reduce_kernels.h\"  -> a path into collectives/src/" \
  'echo "#include \"../../collectives/src/reduce/reduce_kernels.h\"" > bench/src/up.cc'
expect bench_links_a_test_only_target 1 "bench/CMakeLists.txt:1:target_link_libraries(kolo-bench PRIVATE kolo_collectives_internal_for_tests)" \
  'echo "target_link_libraries(kolo-bench PRIVATE kolo_collectives_internal_for_tests)" > bench/CMakeLists.txt'
expect bench_uses_the_engine 1 "bench/ reaches the runtime through kolo/kolo.hpp" \
  'echo "#include \"kolo/core/engine.h\"" > bench/src/engine.cc'
expect adapter_uses_the_bench_interface 1 "adapters use only the public API" \
  'mkdir -p adapters/c/src && echo "#include \"kolo/bench_interface.h\"" > adapters/c/src/x.cc'
expect public_api_pulls_in_fmt 1 "runtime/api/include/kolo/kolo.hpp: #include <fmt/format.h> (a third-party header)" \
  'sed -i "s|#include <cstddef>|#include <fmt/format.h>|" runtime/api/include/kolo/kolo.hpp'
expect public_api_pulls_in_an_internal_header 1 "(not a public vocabulary header)" \
  'sed -i "s|kolo/base/status_types.h|kolo/base/status.h|" runtime/api/include/kolo/kolo.hpp'
expect vocabulary_header_pulls_in_an_internal_header 1 \
  'runtime/core/include/kolo/core/tensor.h: #include "kolo/core/request.h" (not a public vocabulary header)' \
  'sed -i "s|#include <vector>|#include \"kolo/core/request.h\"|" runtime/core/include/kolo/core/tensor.h'

[ "$failures" -eq 0 ] && echo "all layering rules caught"
exit $((failures > 0))
