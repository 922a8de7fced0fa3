#include "kolo/launcher/core_binding.h"

#include <sched.h>

namespace kolo::launcher {

Expected<std::vector<int>> planCoreBinding(const std::string& mode, int localSize,
                                           const std::vector<int>& allowedCpus) {
  if (mode == "none") return std::vector<int>{};
  if (mode != "core") {
    return makeStatus(Code::kInvalidArgument, "--bind-to {}: expected core or none", mode);
  }
  if (localSize > static_cast<int>(allowedCpus.size())) return std::vector<int>{};
  return std::vector<int>(allowedCpus.begin(), allowedCpus.begin() + localSize);
}

std::vector<int> allowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace kolo::launcher
