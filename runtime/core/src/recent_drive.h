// RecentDrive: whether a thread that submits work to a target (a process set's Coordinator, a
// PeerExchange) is about to wait on it and drive it itself, so that its submit need not wake
// the target's own thread. The guess: this thread drove the same target within kWaiterWindow
// and has not submitted to it since (a blocking op after a blocking op; a thread that submits
// several before it waits, as a backward pass does, wakes the target for all but the first,
// unless the target allows a burst: submits each within that gap of the last, see waitsNext).
// The target must bound what a wrong guess costs (its thread parks in short slices meanwhile).
// A stale pointer only costs a wake-up. Thread: each thread keeps its own record.
#pragma once

#include <atomic>

#include "kolo/base/deadline.h"

namespace kolo::core {

inline constexpr auto kWaiterWindow = std::chrono::milliseconds(100);

class RecentDrive {
 public:
  // This thread just stopped driving `target`.
  static void drove(const void* target, Clock::time_point at = Clock::now()) {
    last() = {target, at, false, false, {}};
  }
  // This thread submits to `target`: whether it is expected to wait and drive next. Marks the
  // submit, so only the first after a drive counts (and, given a burst, those that follow it
  // closely).
  // `burst`: a submit that follows one guessed to be waited on within this long counts as part
  // of the same wait too (a pair of point-to-point receive and send posted together, then
  // waited on), and so does the next within `burst` of it.
  static bool waitsNext(const void* target,
                        Clock::duration burst = Clock::duration::zero()) {
    Record& r = last();
    if (r.target != target) return false;
    const Clock::time_point now = Clock::now();
    bool waits = !r.submittedSince && now - r.at <= kWaiterWindow;
    if (!waits && r.guessed && now - r.lastSubmit <= burst) waits = true;
    r.submittedSince = true;
    r.guessed = waits;
    r.lastSubmit = now;
    return waits;
  }

  // Process-wide: a caller drove point-to-point transfers (of any process set) within
  // kWaiterWindow. Such a caller reads the frames that arrive for its transfers itself, so a
  // coordinator with nothing in flight need not wake for each of them (it parks in slices).
  static void drovePeers(Clock::time_point at = Clock::now()) {
    peerDrive().store(at.time_since_epoch().count(), std::memory_order_relaxed);
  }
  static bool peersDrivenRecently() {
    const Clock::time_point at{Clock::duration(peerDrive().load(std::memory_order_relaxed))};
    return Clock::now() - at <= kWaiterWindow;
  }

 private:
  static std::atomic<Clock::rep>& peerDrive() {
    static std::atomic<Clock::rep> at{0};
    return at;
  }
  struct Record {
    const void* target = nullptr;
    Clock::time_point at{};
    bool submittedSince = true;
    bool guessed = false;  // the last submit was guessed to be waited on
    Clock::time_point lastSubmit{};
  };
  static Record& last() {
    thread_local Record record;
    return record;
  }
};

}  // namespace kolo::core
