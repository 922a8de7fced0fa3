#include "kolo/launcher/host_assignment.h"

#include <utility>

namespace kolo::launcher {

Expected<HostAssignment> HostAssignment::blockPlace(std::vector<HostSlots> hosts, int worldSize) {
  if (worldSize < 1) {
    return makeStatus(Code::kInvalidArgument, "the number of ranks must be at least 1, got {}",
                      worldSize);
  }
  long total = 0;
  for (const HostSlots& host : hosts) {
    if (host.slots < 1) {
      return makeStatus(Code::kInvalidArgument, "host '{}' has {} slots; it needs at least 1",
                        host.name, host.slots);
    }
    total += host.slots;
  }
  if (total < worldSize) {
    return makeStatus(Code::kInvalidArgument,
                      "{} ranks requested but the {} host(s) have only {} slots", worldSize,
                      hosts.size(), total);
  }
  HostAssignment assignment;
  int rank = 0;
  for (HostSlots& host : hosts) {
    if (rank == worldSize) break;
    int hostIndex = static_cast<int>(assignment.hosts_.size());
    int onHost = 0;
    for (; onHost < host.slots && rank < worldSize; ++onHost, ++rank) {
      assignment.placements_.push_back(LaunchPlacement{hostIndex, onHost});
    }
    assignment.hosts_.push_back(std::move(host));
    assignment.localSizes_.push_back(onHost);
  }
  return assignment;
}

Expected<HostAssignment> HostAssignment::localOnly(const std::string& hostname, int worldSize) {
  return blockPlace({HostSlots{hostname, "127.0.0.1", worldSize, true}}, worldSize);
}

int HostAssignment::crossSize(int rank) const {
  int localRank = placement(rank).localRank;
  int count = 0;
  for (int size : localSizes_) {
    if (size > localRank) ++count;
  }
  return count;
}

}  // namespace kolo::launcher
