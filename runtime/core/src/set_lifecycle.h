// SetLifecycle: where one process set is in its life, shared by the caller threads and the
// coordinator: whether this rank asked to shut down, whether the coordinator must stop at once,
// whether this rank's join is in flight, and once the set stopped, whether it failed and why.
// Thread: any (atomics, and one mutex around the stopped state).
#pragma once

#include <atomic>
#include <mutex>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"

namespace kolo::core {

class SetLifecycle {
 public:
  // OK while the set runs; afterwards why it stopped (set `setId` names it).
  Status open(int32_t setId);

  void requestShutdown() { shutdownRequested_.store(true, std::memory_order_release); }
  bool shutdownRequested() const { return shutdownRequested_.load(std::memory_order_acquire); }
  void forceStop() { forceStop_.store(true); }
  bool forcedStop() const { return forceStop_.load(std::memory_order_acquire); }
  // A join was submitted on this rank and its response has not run yet.
  bool joinPending() const { return joinPending_.load(std::memory_order_acquire); }
  void setJoinPending(bool pending) { joinPending_.store(pending, std::memory_order_release); }

  // Every member asked to shut down: later submits fail, the coordinator stops after the cycle.
  void markStopped();
  // The coordinator's last word: the set stopped, with `status` if it failed.
  void markStopped(const Status& status);
  bool stopped();
  // Waits until the set stopped or the deadline passed; returns whether it stopped.
  bool waitStopped(Deadline deadline);

 private:
  std::atomic<bool> shutdownRequested_{false};
  std::atomic<bool> forceStop_{false};
  std::atomic<bool> joinPending_{false};
  std::mutex mutex_;
  Status failure_;        // guarded by mutex_; set once the set stopped after a failure
  bool stopped_ = false;  // guarded by mutex_
};

}  // namespace kolo::core
