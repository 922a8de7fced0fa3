// kolo-bench --topology: every rank discovers where it runs, the ranks exchange their placement
// (host, NUMA node, binding) with one allgather, and rank 0 formats the host's hardware and one
// row per rank (collectives/topology.h's formatTopologyPreamble).
// Thread: main thread, collective over the communicator (every rank calls it).
#pragma once

#include <string>

#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"

namespace kolo::bench {

// The report on rank 0, an empty string on the others. `hostKey` is this rank's host identity
// (KOLO_HOSTNAME, as the world bootstrap uses it); empty: the machine's hostname.
Expected<std::string> gatherTopologyReport(Communicator& comm, const std::string& hostKey);

}  // namespace kolo::bench
