#include "kolo/core/handle.h"

#include "blocked_threads.h"

namespace kolo::core {

bool OpState::complete(Status status) {
  std::lock_guard lock(mutex_);
  if (remaining_ <= 0) return false;
  if (status_.isOk() && !status.isOk()) status_ = std::move(status);
  if (--remaining_ > 0) return false;
  done_.store(true, std::memory_order_release);
  cv_.notify_all();
  return true;
}

Status OpState::wait(Deadline deadline, const std::string& what) const {
  if (done()) return status();
  // Listed for the flight recorder's native stacks while it waits (blocked_threads.h).
  BlockedInKolo blocked(BlockedInKolo::Kind::kCaller, what);
  if (waitHelper_ && !done()) waitHelper_(*this, deadline);
  std::unique_lock lock(mutex_);
  auto ready = [&] { return done_.load(std::memory_order_acquire); };
  if (deadline.isNever()) {
    cv_.wait(lock, ready);
  } else if (!cv_.wait_until(lock, deadline.at(), ready)) {
    return makeStatus(Code::kTimeout, "'{}' did not complete before the deadline", what);
  }
  return status_;
}

Status OpState::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

Status Handle::wait(Deadline deadline) const {
  if (!state_) return Status(Code::kInvalidUsage, "wait() on an empty handle");
  return state_->wait(deadline, name_);
}

Status Handle::status() const {
  if (!state_) return Status(Code::kInvalidUsage, "status() of an empty handle");
  if (!state_->done()) {
    return makeStatus(Code::kUnavailable, "'{}' is still pending", name_);
  }
  return state_->status();
}

}  // namespace kolo::core
