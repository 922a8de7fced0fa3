// Which CPU each local rank is bound to. Collectives on one host spin briefly on shared-memory
// flags; two ranks that the scheduler puts on one core take turns instead of running at once
// (an 8-byte allreduce goes from under 1 us to tens of us). Like mpirun, kolorun binds local
// rank i to the i-th CPU kolorun may use, and binds nothing when the host is oversubscribed.
//
// Thread: the launcher's main thread.
#pragma once

#include <string>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::launcher {

// mode "core": one CPU per local rank from `allowedCpus` (in order), or an empty plan (no
// binding) when localSize exceeds them; mode "none": empty. Any other mode is kInvalidArgument.
Expected<std::vector<int>> planCoreBinding(const std::string& mode, int localSize,
                                           const std::vector<int>& allowedCpus);

// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<int> allowedCpus();

}  // namespace kolo::launcher
