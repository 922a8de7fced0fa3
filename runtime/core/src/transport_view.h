// TransportView: a process set's window onto the world transport. It renumbers ranks (set
// order), moves every tag into the set's own tag space (bits 56..62 hold the set id, so the
// n-th collective of two sets never collide, and bit 63 stays free for control messages), and
// serializes calls into the shared world transport with one mutex, because the coordinators
// of several process sets drive it from their own threads while the transports themselves
// expect one caller thread. The mutex is held only while posting or testing (never while
// parked), so disjoint sets still proceed concurrently. Cost: one uncontended lock per call.
// Thread: any (that is its purpose).
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "kolo/collectives/transport.h"

namespace kolo::core {

class TransportView final : public Transport {
 public:
  // `members`: world ranks in set order; `worldRank` must be one of them. tagSpace < 128.
  TransportView(std::shared_ptr<Transport> world, std::shared_ptr<std::mutex> mutex,
                std::vector<int32_t> members, int worldRank, uint64_t tagSpace);

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(members_.size()); }
  const char* name() const override { return world_->name(); }
  Channel& channel(int peer) override { return *channels_[static_cast<size_t>(peer)]; }
  uint32_t activityEpoch() const override { return world_->activityEpoch(); }
  void waitForActivity(uint32_t seenEpoch, std::chrono::microseconds timeout) override {
    world_->waitForActivity(seenEpoch, timeout);
  }
  bool wake() override { return world_->wake(); }
  // The world transport's reads are safe from any thread; no set mutex needed.
  bool pollIncoming() override { return world_->pollIncoming(); }
  bool callersRead() const override { return world_->callersRead(); }
  void releaseReads() override { world_->releaseReads(); }
  size_t chunkBytes() const override { return world_->chunkBytes(); }
  // The world's lost peer when it is one of this set's members, in set order.
  int lostPeer() const override {
    const int lost = world_->lostPeer();
    const auto it = std::find(members_.begin(), members_.end(), lost);
    return lost < 0 || it == members_.end() ? -1 : static_cast<int>(it - members_.begin());
  }
  // The world's links to this set's members, in set order.
  std::vector<PeerTraffic> traffic() const override {
    std::vector<PeerTraffic> world = world_->traffic();
    if (world.empty()) return world;
    std::vector<PeerTraffic> mine(members_.size());
    for (size_t i = 0; i < members_.size(); ++i) {
      const auto r = static_cast<size_t>(members_[i]);
      if (r < world.size()) mine[i] = world[r];
    }
    return mine;
  }

 private:
  std::shared_ptr<Transport> world_;
  std::shared_ptr<std::mutex> mutex_;
  std::vector<int32_t> members_;
  int rank_ = 0;
  std::vector<std::unique_ptr<Channel>> channels_;
};

}  // namespace kolo::core
