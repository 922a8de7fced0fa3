// discoverTopology when Kolo was built without hwloc: callers fall back to their defaults.
#include "kolo/collectives/topology.h"

namespace kolo {

Expected<Topology> discoverTopology(const TopologyOptions&) {
  return Status(Code::kUnavailable,
                "Kolo was built without hwloc (install libhwloc-dev and reconfigure)");
}

}  // namespace kolo
