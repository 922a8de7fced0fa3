// FaultPlan: the faults the loopback transport injects, so tests can exercise the failure paths
// of the algorithms without real sockets: silent peers (dropped messages), slow links (delayed
// delivery) and dead peers. Settable from any thread while ranks run; every setter wakes the
// waiters of the worlds that use the plan so a kill is noticed at once, not at the next poll.
// Thread: any (internally locked). The fast path (`active() == false`) is one atomic load.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <vector>

namespace kolo {

class FaultPlan {
 public:
  // Messages sent by `rank` are lost (its sends still succeed): a silent peer.
  void dropFrom(int rank, bool enabled = true);
  // Messages addressed to `rank` are lost.
  void dropTo(int rank, bool enabled = true);
  // Every later message is delivered `delay` after it was sent (order per receiver is kept).
  void setDelay(std::chrono::milliseconds delay);
  // Every pending and future request involving `rank` fails with kIoError.
  void kill(int rank);

  bool active() const { return active_.load(std::memory_order_acquire); }
  bool isDead(int rank) const;
  bool dropsMessage(int from, int to) const;
  std::chrono::milliseconds delay() const;

  // Used by transports: `wake` is called after every change (outside the lock).
  void addWakeHook(std::function<void()> wake);

 private:
  void changed();

  mutable std::mutex mu_;
  std::set<int> dead_;
  std::set<int> dropFrom_;
  std::set<int> dropTo_;
  std::chrono::milliseconds delay_{0};
  std::vector<std::function<void()>> wakeHooks_;
  std::atomic<bool> active_{false};
};

}  // namespace kolo
