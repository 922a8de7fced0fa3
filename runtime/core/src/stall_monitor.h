// StallMonitor: stall handling of one process set. At StallInspector's rate it looks at the
// drawn ops; a stalled op costs one more cycle (so it leaves the cache path and the replicas
// learn who is missing it), and an op past KOLO_STALL_SHUTDOWN_SECONDS becomes this rank's
// stall-abort vote in the next cycle. When any member voted, every member fails its drawn ops
// with the same message, built from the identical Negotiator replicas.
// Thread: coordinator.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "kolo/base/deadline.h"
#include "kolo/core/negotiator.h"
#include "set_metrics.h"
#include "stall_inspector.h"
#include "tensor_table.h"

namespace kolo::core {

class StallMonitor {
 public:
  StallMonitor(double warningSeconds, double shutdownSeconds, int32_t globalRank)
      : inspector_(warningSeconds, shutdownSeconds), globalRank_(globalRank) {}

  // The longest a parked coordinator may sleep before check() must look again.
  Clock::duration checkInterval() const { return inspector_.checkInterval(); }
  // True when a cycle must run for a stalled op.
  bool check(const TensorTable& table, const Negotiator& negotiator);
  // This rank's stall-abort vote for the cycle that starts; reading it clears it.
  bool takeAbortVote() { return std::exchange(abortVote_, false); }
  // Some member voted: fails every op this rank drew into a cycle.
  void abort(TensorTable& table, const Negotiator& negotiator);
  // Before the coordinator starts: counts stall warnings into `metrics` (may be null).
  void setMetrics(SetMetrics* metrics) { metrics_ = metrics; }
  // Before the coordinator starts: called (on the coordinator, so it must not block) when an op
  // of this rank passes the stall warning; the Engine asks for a live verdict there.
  void setListener(std::function<void()> listener) { listener_ = std::move(listener); }

 private:
  StallInspector inspector_;
  const int32_t globalRank_;
  bool abortVote_ = false;  // this rank found an op past the stall shutdown time
  SetMetrics* metrics_ = nullptr;
  std::function<void()> listener_;
};

}  // namespace kolo::core
