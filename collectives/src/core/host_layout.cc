#include "kolo/collectives/host_layout.h"

#include <algorithm>
#include <map>

namespace kolo {

int HostLayout::minLocalSize() const {
  if (localSizes.empty()) return localSize;
  return *std::min_element(localSizes.begin(), localSizes.end());
}

std::vector<int> HostLayout::ranksOnHost(int host) const {
  std::vector<int> ranks;
  for (size_t r = 0; r < hostOf.size(); ++r) {
    if (hostOf[r] == host) ranks.push_back(static_cast<int>(r));
  }
  return ranks;
}

HostLayout hostLayoutFromKeys(std::span<const std::string> hostKeys, int rank) {
  HostLayout layout;
  layout.rank = rank;
  std::map<std::string, int, std::less<>> indexOf;
  for (const std::string& key : hostKeys) {
    auto [it, inserted] = indexOf.try_emplace(key, static_cast<int>(layout.localSizes.size()));
    if (inserted) layout.localSizes.push_back(0);
    layout.hostOf.push_back(it->second);
    layout.localRankOf.push_back(layout.localSizes[it->second]++);
  }
  layout.numHosts = static_cast<int>(layout.localSizes.size());
  if (hostKeys.empty()) {
    layout.localSizes = {1};
    layout.hostOf = {0};
    layout.localRankOf = {0};
    layout.numHosts = 1;
    return layout;
  }
  layout.hostIndex = layout.hostOf.at(rank);
  layout.localRank = layout.localRankOf.at(rank);
  layout.localSize = layout.localSizes[layout.hostIndex];
  layout.crossRank = 0;
  layout.crossSize = 0;
  for (int h = 0; h < layout.numHosts; ++h) {
    if (layout.localSizes[h] <= layout.localRank) continue;
    if (h < layout.hostIndex) ++layout.crossRank;
    ++layout.crossSize;
  }
  return layout;
}

}  // namespace kolo
