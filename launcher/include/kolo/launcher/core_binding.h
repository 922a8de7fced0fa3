// Which CPUs each local rank is bound to. Collectives on one host spin briefly on shared-memory
// flags; two ranks that the scheduler puts on one core take turns instead of running at once
// (an 8-byte allreduce goes from under 1 us to tens of us). Like mpirun, kolorun binds local
// rank i to the i-th core it may use (all of that core's hardware threads, so two ranks never
// share a core through SMT siblings), or to a NUMA node, and binds nothing when the host has
// fewer cores than ranks.
//
// The layout comes from hwloc (the same library the runtime's Topology uses; the launcher asks
// it only for cores and NUMA nodes, and does not link the runtime).
// Thread: the launcher's main thread.
#pragma once

#include <string>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::launcher {

// The CPUs kolorun may use, grouped by core and by NUMA node (OS indexes, locality order).
struct CpuLayout {
  std::vector<std::vector<int>> cores;
  std::vector<std::vector<int>> numaNodes;
};

// hwloc's cores and NUMA nodes restricted to `allowed`; without hwloc (or when it fails) every
// allowed CPU is a core and they form one NUMA node.
CpuLayout probeCpuLayout(const std::vector<int>& allowed);

// The CPUs of each local rank (index = rank's position among the machine's ranks).
// "core": the i-th core's CPUs, or an empty plan (no binding) when localSize exceeds the cores;
// "numa": ranks split into contiguous blocks, one block per NUMA node (rank i to node
// i * nodes / localSize), so neighbouring ranks share a node; "none": empty.
// Any other mode is kInvalidArgument.
Expected<std::vector<std::vector<int>>> planCpuBinding(const std::string& mode, int localSize,
                                                       const CpuLayout& layout);

// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<int> allowedCpus();

}  // namespace kolo::launcher
