// SetIdentity: which process set a role of the runtime serves and who this rank is in it. The
// ProcessSetRuntime builds it once; its roles keep a reference.
// Thread: any (immutable once built).
#pragma once

#include <cstdint>
#include <vector>

namespace kolo::core {

struct SetIdentity {
  int32_t id = 0;
  std::vector<int32_t> members;  // global ranks in set order; comm.rank() indexes it
  int32_t globalRank = 0;        // this rank in the world
};

}  // namespace kolo::core
