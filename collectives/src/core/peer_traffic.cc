#include "kolo/collectives/peer_traffic.h"

#include "kolo/collectives/communicator.h"
#include "kolo/collectives/host_layout.h"

namespace kolo {

PeerTraffic& PeerTraffic::operator+=(const PeerTraffic& other) {
  bytesSent += other.bytesSent;
  bytesReceived += other.bytesReceived;
  sendBusyNanos += other.sendBusyNanos;
  recvBusyNanos += other.recvBusyNanos;
  sends += other.sends;
  recvs += other.recvs;
  return *this;
}

namespace {

// World ranks of `comm`'s node and cross subgroups, in subgroup rank order.
std::vector<int> nodeMembers(const HostLayout& layout) {
  return layout.ranksOnHost(layout.hostIndex);
}

std::vector<int> crossMembers(const HostLayout& layout) {
  std::vector<int> members;
  for (int host = 0; host < layout.numHosts; ++host) {
    std::vector<int> ranks = layout.ranksOnHost(host);
    if (layout.localRank < static_cast<int>(ranks.size()))
      members.push_back(ranks[layout.localRank]);
  }
  return members;
}

void addMapped(std::vector<PeerTraffic>& into, Communicator* sub, const std::vector<int>& members) {
  if (sub == nullptr) return;
  std::vector<PeerTraffic> counted = sub->transport().traffic();
  for (size_t r = 0; r < counted.size() && r < members.size(); ++r) {
    const auto world = static_cast<size_t>(members[r]);
    if (world < into.size()) into[world] += counted[r];
  }
}

}  // namespace

std::vector<PeerTraffic> linkTraffic(Communicator& comm) {
  std::vector<PeerTraffic> total = comm.transport().traffic();
  const HostLayout* layout = comm.hostLayout();
  if (layout == nullptr) return total;
  total.resize(static_cast<size_t>(comm.size()));
  addMapped(total, comm.subgroup(Subgroup::kNode), nodeMembers(*layout));
  addMapped(total, comm.subgroup(Subgroup::kCross), crossMembers(*layout));
  return total;
}

}  // namespace kolo
