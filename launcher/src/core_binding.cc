#include "kolo/launcher/core_binding.h"

#include <sched.h>

#include <algorithm>
#include <memory>

#include "kolo/launcher/build_config.h"

#if KOLO_BUILD_WITH_HWLOC
#include <hwloc.h>
#endif

namespace kolo::launcher {
namespace {

CpuLayout flatLayout(const std::vector<int>& allowed) {
  CpuLayout layout;
  for (int cpu : allowed) layout.cores.push_back({cpu});
  if (!allowed.empty()) layout.numaNodes.push_back(allowed);
  return layout;
}

#if KOLO_BUILD_WITH_HWLOC
// The allowed members of each object of `type`, skipping objects with none.
std::vector<std::vector<int>> allowedMembers(hwloc_topology_t topo, hwloc_obj_type_t type,
                                             const std::vector<int>& allowed) {
  std::vector<std::vector<int>> groups;
  const int n = hwloc_get_nbobjs_by_type(topo, type);
  for (int i = 0; i < n; ++i) {
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, type, static_cast<unsigned>(i));
    std::vector<int> cpus;
    for (int cpu = hwloc_bitmap_first(obj->cpuset); cpu >= 0;
         cpu = hwloc_bitmap_next(obj->cpuset, cpu)) {
      if (std::binary_search(allowed.begin(), allowed.end(), cpu)) cpus.push_back(cpu);
    }
    if (!cpus.empty()) groups.push_back(std::move(cpus));
  }
  return groups;
}
#endif

}  // namespace

CpuLayout probeCpuLayout(const std::vector<int>& allowed) {
#if KOLO_BUILD_WITH_HWLOC
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) return flatLayout(allowed);
  std::unique_ptr<hwloc_topology, void (*)(hwloc_topology_t)> topo(raw, hwloc_topology_destroy);
  hwloc_topology_set_io_types_filter(raw, HWLOC_TYPE_FILTER_KEEP_NONE);
  if (hwloc_topology_load(raw) != 0) return flatLayout(allowed);
  std::vector<int> sorted = allowed;
  std::sort(sorted.begin(), sorted.end());
  CpuLayout layout;
  layout.cores = allowedMembers(raw, HWLOC_OBJ_CORE, sorted);
  if (layout.cores.empty()) layout.cores = allowedMembers(raw, HWLOC_OBJ_PU, sorted);
  layout.numaNodes = allowedMembers(raw, HWLOC_OBJ_NUMANODE, sorted);
  if (layout.cores.empty()) return flatLayout(allowed);
  if (layout.numaNodes.empty()) layout.numaNodes.push_back(sorted);
  return layout;
#else
  return flatLayout(allowed);
#endif
}

Expected<std::vector<std::vector<int>>> planCpuBinding(const std::string& mode, int localSize,
                                                       const CpuLayout& layout) {
  std::vector<std::vector<int>> plan;
  if (mode == "none") return plan;
  if (mode == "core") {
    if (localSize > static_cast<int>(layout.cores.size())) return plan;
    plan.assign(layout.cores.begin(), layout.cores.begin() + localSize);
    return plan;
  }
  if (mode == "numa") {
    const size_t nodes = layout.numaNodes.size();
    if (nodes == 0 || localSize <= 0) return plan;
    for (int i = 0; i < localSize; ++i) {
      plan.push_back(layout.numaNodes[static_cast<size_t>(i) * nodes / localSize]);
    }
    return plan;
  }
  return makeStatus(Code::kInvalidArgument, "--bind-to {}: expected core, numa or none", mode);
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
