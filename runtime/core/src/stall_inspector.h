// StallInspector: finds ops that wait too long because some member never submitted them.
// Past KOLO_STALL_WARNING_SECONDS an op leaves the cache path (so the negotiator replicas
// learn exactly which ranks are missing) and a warning names it and those ranks; past
// KOLO_STALL_SHUTDOWN_SECONDS the coordinator asks every member, inside the next cycle, to
// fail its pending ops with one message built from the (identical) negotiator replicas.
// Thread: coordinator (plain class; the coordinator passes the clock in).
#pragma once

#include <string>
#include <vector>

#include "kolo/base/deadline.h"
#include "kolo/core/negotiator.h"
#include "pending_op.h"

namespace kolo::core {

class StallInspector {
 public:
  StallInspector(double warningSeconds, double shutdownSeconds);

  // Rate limit: true at most every checkInterval(), so parking in short slices stays cheap.
  bool due(Clock::time_point now);
  Clock::duration checkInterval() const { return interval_; }

  struct Findings {
    bool retry = false;  // some op must leave the cache path: run a cycle
    bool abort = false;  // some op passed the shutdown time
    size_t stalled = 0;  // ops that passed the warning time since the last inspection
  };
  Findings inspect(const std::vector<PendingOpPtr>& ops, const Negotiator& negotiator,
                   Clock::time_point now);

  // Identical on every member: built only from the negotiator replica.
  std::string abortMessage(const Negotiator& negotiator) const;

 private:
  double warningSeconds_;
  double shutdownSeconds_;
  Clock::duration interval_;
  Clock::time_point next_{};
};

}  // namespace kolo::core
