// Deadline: every blocking wait in Kolo takes one, so nothing can hang forever.
#pragma once

#include <chrono>

namespace kolo {

using Clock = std::chrono::steady_clock;

class Deadline {
 public:
  static Deadline after(Clock::duration d) { return Deadline(Clock::now() + d); }
  // Seconds as users write them (KOLO_TIMEOUT_SECONDS=1e12, "inf", "nan"): anything from a
  // century on, and NaN, is never; converting such a value to the clock's 64-bit nanoseconds
  // would be undefined behaviour.
  static Deadline afterSeconds(double s) {
    constexpr double kNeverSeconds = 100.0 * 365 * 24 * 3600;
    if (!(s < kNeverSeconds)) return never();
    if (s <= 0) return after(Clock::duration::zero());
    return after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)));
  }
  static Deadline never() { return Deadline(Clock::time_point::max()); }
  static Deadline at(Clock::time_point when) { return Deadline(when); }

  bool expired() const { return Clock::now() >= at_; }
  bool isNever() const { return at_ == Clock::time_point::max(); }
  Clock::time_point at() const { return at_; }
  Clock::duration remaining() const {
    if (isNever()) return Clock::duration::max();
    auto left = at_ - Clock::now();
    return left < Clock::duration::zero() ? Clock::duration::zero() : left;
  }

 private:
  explicit Deadline(Clock::time_point at) : at_(at) {}
  Clock::time_point at_;
};

}  // namespace kolo
