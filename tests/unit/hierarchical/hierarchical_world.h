// A threaded world that spans simulated hosts: rank r runs on host hostKeys[r], and every rank
// gets a world Communicator with node and cross subgroups, each over its own loopback world, as
// connectWorld builds them over shm and TCP for a job that spans hosts.
// Thread: the caller's thread waits; bodies run on their own threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kolo/collectives/communicator.h"
#include "kolo/collectives/host_layout.h"
#include "support/threaded_world.h"
#include "transport/loopback/loopback_transport.h"

namespace kolo::test {

using HierarchicalBody = std::function<Status(Communicator&)>;

// Every rank's communicators get `policy` (KOLO_*_ALGO as a world built from the environment
// would carry it).
inline std::vector<Status> runHierarchicalWorld(const std::vector<std::string>& hostKeys,
                                                const coll::SelectionPolicy& policy,
                                                const HierarchicalBody& body,
                                                double hardDeadlineSeconds = 120.0) {
  const int n = static_cast<int>(hostKeys.size());
  auto world = makeLoopbackWorld(n);
  std::vector<HostLayout> layouts;
  for (int r = 0; r < n; ++r) layouts.push_back(hostLayoutFromKeys(hostKeys, r));
  // One loopback world per host and per local rank (cross group).
  std::map<int, std::vector<std::shared_ptr<Transport>>> nodeWorlds;
  std::map<int, std::vector<std::shared_ptr<Transport>>> crossWorlds;
  for (const HostLayout& l : layouts) {
    if (!nodeWorlds.count(l.hostIndex)) nodeWorlds[l.hostIndex] = makeLoopbackWorld(l.localSize);
    if (!crossWorlds.count(l.localRank)) crossWorlds[l.localRank] = makeLoopbackWorld(l.crossSize);
  }
  return runRankThreads(
      n,
      [&](int r) {
        CommunicatorOptions options;
        options.timeoutSeconds = 60.0;
        options.algorithms = policy;
        const HostLayout& l = layouts[static_cast<size_t>(r)];
        Communicator comm(world[static_cast<size_t>(r)], nullptr, options);
        comm.attachSubgroups(
            l,
            std::make_unique<Communicator>(nodeWorlds[l.hostIndex][l.localRank], nullptr, options),
            std::make_unique<Communicator>(crossWorlds[l.localRank][l.crossRank], nullptr,
                                           options));
        return body(comm);
      },
      hardDeadlineSeconds, "hierarchical world");
}

inline std::vector<Status> runHierarchicalWorld(const std::vector<std::string>& hostKeys,
                                                const HierarchicalBody& body,
                                                double hardDeadlineSeconds = 120.0) {
  return runHierarchicalWorld(hostKeys, coll::SelectionPolicy{}, body, hardDeadlineSeconds);
}

}  // namespace kolo::test
