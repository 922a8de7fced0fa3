// WaiterGate: what a handle's wait helper holds to reach the object that lets a waiting caller
// drive its own work (a process set's Coordinator, a PeerExchange). The object closes it when
// it stops: close() nulls the target and waits until no waiter is inside, so a handle waited on
// after its session ended never touches the object, and one inside finishes first.
// Thread: any.
#pragma once

#include <condition_variable>
#include <mutex>

namespace kolo::core {

template <class Target>
class WaiterGate {
 public:
  explicit WaiterGate(Target* target) : target_(target) {}

  // Runs fn(target) unless the gate is closed; close() waits for it to return.
  template <class Fn>
  void visit(Fn&& fn) {
    Target* target = nullptr;
    {
      std::lock_guard lock(mutex_);
      target = target_;
      if (target == nullptr) return;
      ++inside_;
    }
    fn(*target);
    {
      std::lock_guard lock(mutex_);
      --inside_;
    }
    cv_.notify_all();
  }

  void close() {
    std::unique_lock lock(mutex_);
    target_ = nullptr;
    cv_.wait(lock, [this] { return inside_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  Target* target_;  // guarded by mutex_; null once closed
  int inside_ = 0;  // guarded by mutex_
};

}  // namespace kolo::core
