// HostLayout: which host each rank of a world runs on, derived from every rank's host identity
// (KOLO_HOSTNAME, exchanged through the store at startup). Hosts are numbered in the order of
// their lowest rank; a rank's local rank is its position among its host's ranks in rank order.
// The node group of a rank is its host's ranks; its cross group is the ranks with the same local
// rank on the other hosts (hosts with fewer ranks have no member there).
// Thread: any; immutable after construction.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace kolo {

struct HostLayout {
  int rank = 0;
  int numHosts = 1;
  int hostIndex = 0;
  int localRank = 0;
  int localSize = 1;
  int crossRank = 0;             // position among the hosts that have this local rank
  int crossSize = 1;             // hosts that have this local rank
  std::vector<int> hostOf;       // world rank -> host index
  std::vector<int> localRankOf;  // world rank -> local rank
  std::vector<int> localSizes;   // host index -> ranks on that host

  // The fewest ranks any host runs: every host has local ranks 0 .. minLocalSize()-1, so that
  // many cross groups span every host.
  int minLocalSize() const;
  // World ranks on `host`, in local-rank order.
  std::vector<int> ranksOnHost(int host) const;
  bool spansHosts() const { return numHosts > 1; }
};

// hostKeys[r] is rank r's host identity; `rank` is the caller's world rank.
HostLayout hostLayoutFromKeys(std::span<const std::string> hostKeys, int rank);

}  // namespace kolo
