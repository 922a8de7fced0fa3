#include "kolo/base/abort_token.h"

namespace kolo {

Status AbortToken::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

bool AbortToken::raise(const Status& status) {
  std::lock_guard lock(mutex_);
  if (aborted_.load()) return false;
  status_ = status;
  aborted_.store(true, std::memory_order_release);
  return true;
}

void AbortToken::setPublisher(std::function<void(const PeerFailure&)> publisher) {
  std::lock_guard lock(mutex_);
  publisher_ = std::move(publisher);
}

bool AbortToken::publish(const PeerFailure& failure) const {
  std::function<void(const PeerFailure&)> p;
  {
    std::lock_guard lock(mutex_);
    p = publisher_;
  }
  if (!p) return false;
  p(failure);
  return true;
}

}  // namespace kolo
