#include "set_lifecycle.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

namespace kolo::core {

Status SetLifecycle::open(int32_t setId) {
  std::lock_guard lock(mutex_);
  if (!stopped_) return Status::ok();
  return failure_.isOk()
             ? makeStatus(Code::kInvalidUsage, "process set {} has shut down", setId)
             : failure_.withContext(fmt::format("process set {} failed earlier", setId));
}

void SetLifecycle::markStopped() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
}

void SetLifecycle::markStopped(const Status& status) {
  std::lock_guard lock(mutex_);
  if (!status.isOk() && failure_.isOk()) failure_ = status;
  stopped_ = true;
}

bool SetLifecycle::stopped() {
  std::lock_guard lock(mutex_);
  return stopped_;
}

bool SetLifecycle::waitStopped(Deadline deadline) {
  std::unique_lock lock(mutex_);
  // The coordinator marks the set stopped last; poll in short sleeps rather than add a
  // condition variable to a path that runs once per session.
  while (!stopped_ && !deadline.expired()) {
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    lock.lock();
  }
  return stopped_;
}

}  // namespace kolo::core
