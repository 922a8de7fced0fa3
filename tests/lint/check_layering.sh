#!/usr/bin/env bash
# Keeps the layering rules of the architecture true (the dependency rules of the architecture):
#   base <- rendezvous, collectives <- core <- api <- adapters; launcher sees protocol + base only.
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
check adapters 'kolo/(core|collectives|base|rendezvous)/' \
  "adapters use only the public API (kolo.h / kolo.hpp)"

if [ "$fail" -eq 0 ]; then echo "layering OK"; fi
exit $fail
