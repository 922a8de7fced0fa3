// RequestList: the requests one step of an algorithm has in flight. When an algorithm returns
// early (a peer failed, the deadline passed) the destructor cancels whatever is unfinished, so
// no transport writes into a scratch buffer that is about to be freed.
// Thread: caller's.
#pragma once

#include <span>
#include <vector>

#include "kolo/collectives/communicator.h"

namespace kolo::coll {

class RequestList {
 public:
  RequestList() = default;
  RequestList(const RequestList&) = delete;
  RequestList& operator=(const RequestList&) = delete;
  RequestList(RequestList&&) = default;
  RequestList& operator=(RequestList&& other) noexcept {
    cancelUnfinished();
    requests_ = std::move(other.requests_);
    return *this;
  }
  ~RequestList() { cancelUnfinished(); }

  void add(RequestPtr request) { requests_.push_back(std::move(request)); }
  bool empty() const { return requests_.empty(); }
  size_t size() const { return requests_.size(); }
  std::span<const RequestPtr> all() const { return requests_; }
  std::span<const RequestPtr> one(size_t i) const { return {&requests_[i], 1}; }
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

  std::vector<RequestPtr> requests_;
};

}  // namespace kolo::coll
