// TransferRequestList: the requests one step of an algorithm has in flight. When an algorithm
// returns early (a peer failed, the deadline passed) the destructor cancels whatever is unfinished,
// so no transport writes into a scratch buffer that is about to be freed. Thread: caller's.
#pragma once

#include <span>
#include <vector>

#include "kolo/collectives/communicator.h"

namespace kolo::coll {

class TransferRequestList {
 public:
  TransferRequestList() = default;
  TransferRequestList(const TransferRequestList&) = delete;
  TransferRequestList& operator=(const TransferRequestList&) = delete;
  TransferRequestList(TransferRequestList&&) = default;
  TransferRequestList& operator=(TransferRequestList&& other) noexcept {
    cancelUnfinished();
    requests_ = std::move(other.requests_);
    return *this;
  }
  ~TransferRequestList() { cancelUnfinished(); }

  void add(TransferRequestPtr request) { requests_.push_back(std::move(request)); }
  bool empty() const { return requests_.empty(); }
  size_t size() const { return requests_.size(); }
  std::span<const TransferRequestPtr> all() const { return requests_; }
  std::span<const TransferRequestPtr> one(size_t i) const { return {&requests_[i], 1}; }
  void clear() {
    cancelUnfinished();
    requests_.clear();
  }

 private:
  void cancelUnfinished() {
    for (auto& r : requests_) {
      if (r && !r->test()) r->cancel();
    }
  }

  std::vector<TransferRequestPtr> requests_;
};

}  // namespace kolo::coll
