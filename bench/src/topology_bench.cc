#include "topology_bench.h"

#include <vector>

#include "kolo/collectives/collectives.h"
#include "kolo/collectives/topology.h"

namespace kolo::bench {

Expected<std::string> gatherTopologyReport(Communicator& comm, const std::string& hostKey) {
  // A rank without hwloc still takes part in the exchange, so no rank waits for it forever.
  Expected<Topology> discovered = discoverTopology();
  Topology topology;
  if (discovered) topology = std::move(discovered).value();
  kolo::RankPlacement mine =
      discovered ? placementOf(topology, hostKey.empty() ? topology.hostname : hostKey)
                 : kolo::RankPlacement{hostKey, -1, discovered.status().message()};
  const std::string record = encodePlacement(mine);
  std::vector<char> all(kPlacementRecordBytes * static_cast<size_t>(comm.size()));
  KOLO_RETURN_IF_ERROR(coll::allgather(comm, record.data(), all.data(), kPlacementRecordBytes)
                           .withContext("exchanging rank placements"));
  if (comm.rank() != 0) return std::string();
  if (!discovered) return discovered.status().withContext("topology of rank 0");
  std::vector<kolo::RankPlacement> ranks;
  for (int r = 0; r < comm.size(); ++r) {
    KOLO_ASSIGN_OR_RETURN(kolo::RankPlacement p,
                          decodePlacement(std::span<const char>(
                              all.data() + r * kPlacementRecordBytes, kPlacementRecordBytes)));
    ranks.push_back(std::move(p));
  }
  return formatTopologyPreamble(topology, ranks);
}

}  // namespace kolo::bench
