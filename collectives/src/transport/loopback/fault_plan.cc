#include "transport/loopback/fault_plan.h"

namespace kolo {

void FaultPlan::dropFrom(int rank, bool enabled) {
  {
    std::lock_guard lock(mu_);
    if (enabled) {
      dropFrom_.insert(rank);
    } else {
      dropFrom_.erase(rank);
    }
  }
  changed();
}

void FaultPlan::dropTo(int rank, bool enabled) {
  {
    std::lock_guard lock(mu_);
    if (enabled) {
      dropTo_.insert(rank);
    } else {
      dropTo_.erase(rank);
    }
  }
  changed();
}

void FaultPlan::setDelay(std::chrono::milliseconds delay) {
  {
    std::lock_guard lock(mu_);
    delay_ = delay;
  }
  changed();
}

void FaultPlan::kill(int rank) {
  {
    std::lock_guard lock(mu_);
    dead_.insert(rank);
  }
  changed();
}

bool FaultPlan::isDead(int rank) const {
  std::lock_guard lock(mu_);
  return dead_.count(rank) != 0;
}

bool FaultPlan::dropsMessage(int from, int to) const {
  std::lock_guard lock(mu_);
  return dropFrom_.count(from) != 0 || dropTo_.count(to) != 0;
}

std::chrono::milliseconds FaultPlan::delay() const {
  std::lock_guard lock(mu_);
  return delay_;
}

void FaultPlan::addWakeHook(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  wakeHooks_.push_back(std::move(wake));
}

void FaultPlan::changed() {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(mu_);
    // Once a fault was configured the transports take the slow path for good; clearing a fault
    // later is rare in tests and not worth tracking.
    active_.store(true, std::memory_order_release);
    hooks = wakeHooks_;
  }
  for (auto& wake : hooks) wake();
}

}  // namespace kolo
