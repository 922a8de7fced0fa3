#include "transport_view.h"

#include <algorithm>

namespace kolo::core {
namespace {

class ViewRequest final : public TransferRequest {
 public:
  ViewRequest(TransferRequestPtr inner, std::shared_ptr<std::mutex> mutex)
      : inner_(std::move(inner)), mutex_(std::move(mutex)) {}
  ~ViewRequest() override {
    std::lock_guard lock(*mutex_);
    inner_.reset();
  }
  bool test() override {
    if (done_) return true;
    std::lock_guard lock(*mutex_);
    done_ = inner_->test();
    return done_;
  }
  Status status() const override { return inner_->status(); }
  std::string describe() const override { return inner_->describe(); }
  void cancel() override {
    std::lock_guard lock(*mutex_);
    inner_->cancel();
  }

 private:
  TransferRequestPtr inner_;
  std::shared_ptr<std::mutex> mutex_;
  bool done_ = false;
};

class ViewChannel final : public Channel {
 public:
  ViewChannel(Channel& inner, int peer, std::shared_ptr<std::mutex> mutex, uint64_t tagBits)
      : inner_(inner), peer_(peer), mutex_(std::move(mutex)), tagBits_(tagBits) {}
  int peer() const override { return peer_; }
  TransferRequestPtr postSend(uint64_t tag, std::span<const std::byte> data) override {
    std::lock_guard lock(*mutex_);
    return std::make_unique<ViewRequest>(inner_.postSend(tag | tagBits_, data), mutex_);
  }
  TransferRequestPtr postRecv(uint64_t tag, std::span<std::byte> data) override {
    std::lock_guard lock(*mutex_);
    return std::make_unique<ViewRequest>(inner_.postRecv(tag | tagBits_, data), mutex_);
  }
  SameHostPeer sameHostPeer() const override { return inner_.sameHostPeer(); }
  size_t eagerBytes() const override { return inner_.eagerBytes(); }
  void beginBatch() override {
    std::lock_guard lock(*mutex_);
    inner_.beginBatch();
  }
  void endBatch() override {
    std::lock_guard lock(*mutex_);
    inner_.endBatch();
  }

 private:
  Channel& inner_;
  int peer_;
  std::shared_ptr<std::mutex> mutex_;
  uint64_t tagBits_;
};

}  // namespace

TransportView::TransportView(std::shared_ptr<Transport> world, std::shared_ptr<std::mutex> mutex,
                             std::vector<int32_t> members, int worldRank, uint64_t tagSpace)
    : world_(std::move(world)), mutex_(std::move(mutex)), members_(std::move(members)) {
  rank_ =
      static_cast<int>(std::find(members_.begin(), members_.end(), worldRank) - members_.begin());
  channels_.resize(members_.size());
  for (size_t p = 0; p < members_.size(); ++p) {
    if (static_cast<int>(p) == rank_) continue;
    channels_[p] = std::make_unique<ViewChannel>(world_->channel(members_[p]), static_cast<int>(p),
                                                 mutex_, (tagSpace & 0x7f) << 56);
  }
}

}  // namespace kolo::core
