#include "kolo/collectives/phase_clock.h"

#include <chrono>

namespace kolo {
namespace phase_detail {

thread_local constinit ThreadClock tClock{};

namespace {

int64_t nowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Adds the running phase's time up to `now` and restarts its clock there.
void charge(ThreadClock& c, int64_t now) {
  if (c.current >= 0 && now > c.since) {
    c.nanos[static_cast<size_t>(c.current)] += static_cast<uint64_t>(now - c.since);
  }
  c.since = now;
}

}  // namespace
}  // namespace phase_detail

const char* phaseName(Phase phase) {
  switch (phase) {
    case Phase::kCopy:
      return "copy";
    case Phase::kReduce:
      return "reduce";
    case Phase::kTransfer:
      return "transfer";
  }
  return "unknown";
}

void ScopedPhase::enter(Phase phase) {
  phase_detail::ThreadClock& c = phase_detail::tClock;
  phase_detail::charge(c, phase_detail::nowNanos());
  outer_ = c.current;
  c.current = static_cast<int8_t>(phase);
  open_ = true;
}

void ScopedPhase::leave() {
  phase_detail::ThreadClock& c = phase_detail::tClock;
  phase_detail::charge(c, phase_detail::nowNanos());
  c.current = outer_;
}

}  // namespace kolo
