// HostAssignment: which host runs each rank and with which local rank. The rank environment is
// built from this structure alone, so adding `-H host:slots`, `--hostfile` or ssh spawning only
// adds ways to fill it.
//
// Thread: the launcher's main thread; immutable after construction.
#pragma once

#include <string>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::launcher {

struct HostSlots {
  std::string name;     // as the user named it (e.g. "localhost", "node7")
  std::string address;  // what ranks on this host bind for TCP (KOLO_BIND_ADDRESS)
  int slots = 0;        // how many ranks this host may run
  bool local = false;   // spawned directly rather than through a remote shell
};

// Where kolorun puts one rank: a slot of one of the job's hosts. (Not the runtime's or the
// collectives' placement of a rank, which describe a running rank's node and cores.)
struct LaunchPlacement {
  int hostIndex = 0;  // into HostAssignment::hosts()
  int localRank = 0;  // 0 .. localSize(hostIndex) - 1
};

class HostAssignment {
 public:
  // Fills hosts in order (block placement): the first host's slots get ranks 0..slots-1, and so
  // on. Hosts left without ranks are dropped, so crossSize() counts only hosts that run ranks.
  static Expected<HostAssignment> blockPlace(std::vector<HostSlots> hosts, int worldSize);
  // The only layout this version launches: worldSize ranks on the local host.
  static Expected<HostAssignment> localOnly(const std::string& hostname, int worldSize);

  int worldSize() const { return static_cast<int>(placements_.size()); }
  const std::vector<HostSlots>& hosts() const { return hosts_; }
  const LaunchPlacement& placement(int rank) const { return placements_.at(rank); }
  const HostSlots& hostOf(int rank) const { return hosts_.at(placement(rank).hostIndex); }
  int localSize(int hostIndex) const { return localSizes_.at(hostIndex); }
  // One "cross" communicator per local rank spans the hosts: with block placement a rank's cross
  // rank is its host's index, and the cross size is the number of hosts that have that local rank.
  int crossRank(int rank) const { return placement(rank).hostIndex; }
  int crossSize(int rank) const;

 private:
  std::vector<HostSlots> hosts_;
  std::vector<LaunchPlacement> placements_;
  std::vector<int> localSizes_;
};

}  // namespace kolo::launcher
