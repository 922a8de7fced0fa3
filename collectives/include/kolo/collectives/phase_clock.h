// Phase clock: where a collective's time goes on this thread, split into copies (staging into
// and out of shared-memory slots, fusion-buffer packing), reductions (the reduce kernels) and
// transfers (waiting for peers' data: channel waits, shared-memory flag waits). The algorithms
// wrap those steps, a chunk at a time and never per element, in a ScopedPhase; the runtime
// turns the clock on for its coordinator thread while live metrics or the timeline are on and
// reads totals() around each batch it runs. Time inside a batch that no scope covers is the
// caller's "other".
//
// Nesting: the innermost scope owns the time. Entering a scope stops the enclosing one's clock
// and leaving it restarts it, so a reduce kernel called from a copy step counts as reduce
// only, each nanosecond is counted in at most one phase, and the phases of a region add up to
// at most its wall time.
//
// Cost: while the clock is off a ScopedPhase is one thread_local bool test (no clock read);
// while it is on, two clock reads per scope: the processor's time-stamp counter where the
// kernel itself keeps time by it (clocksource "tsc": constant rate, synchronized across cores),
// converted to nanoseconds with a ratio measured once per process against the steady clock
// (200 us, at the first setEnabled(true); well under 0.1 % off); otherwise the steady clock.
// Thread: every counter and the on/off switch belong to the calling thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace kolo {

enum class Phase : uint8_t { kCopy = 0, kReduce = 1, kTransfer = 2 };
inline constexpr size_t kPhaseCount = 3;

// "copy", "reduce", "transfer".
const char* phaseName(Phase phase);

// Nanoseconds per phase, this thread's totals since it started (they only grow), or the
// difference of two such readings.
struct PhaseTotals {
  std::array<uint64_t, kPhaseCount> nanos{};

  uint64_t operator[](Phase p) const { return nanos[static_cast<size_t>(p)]; }
  uint64_t sum() const { return nanos[0] + nanos[1] + nanos[2]; }
  // Componentwise `*this - earlier` (earlier is a reading of the same thread taken before).
  PhaseTotals since(const PhaseTotals& earlier) const {
    PhaseTotals d;
    for (size_t i = 0; i < kPhaseCount; ++i) d.nanos[i] = nanos[i] - earlier.nanos[i];
    return d;
  }
};

namespace phase_detail {
struct ThreadClock {
  bool enabled = false;
  bool calibrated = false;  // this thread has called calibrate() (once per process suffices)
  int8_t current = -1;  // the innermost open scope's phase, -1 when none
  int64_t since = 0;    // when `current`'s clock (re)started, in ticks
  std::array<uint64_t, kPhaseCount> ticks{};
};
extern thread_local constinit ThreadClock tClock;
// Measures the tick rate once per process (see above); every thread may call it.
void calibrate();
// Ticks as nanoseconds.
uint64_t toNanos(uint64_t ticks);
}  // namespace phase_detail

// This thread's switch and totals.
class PhaseClock {
 public:
  static void setEnabled(bool on) {
    if (on && !phase_detail::tClock.calibrated) [[unlikely]] {
      phase_detail::calibrate();
      phase_detail::tClock.calibrated = true;
    }
    phase_detail::tClock.enabled = on;
  }
  static bool enabled() { return phase_detail::tClock.enabled; }
  // The same ticks as an interval clock for other per-cycle timings of the runtime, cheaper
  // than the steady clock where they are the time-stamp counter: calibrate() once first (any
  // thread; 200 us at the process's first call), then ticks() at both ends and nanos() of the
  // difference.
  static void calibrate() { phase_detail::calibrate(); }
  static int64_t ticks();
  static uint64_t nanos(uint64_t ticks) { return phase_detail::toNanos(ticks); }
  // Nanoseconds on that clock's own timeline (differences only; never 0 once calibrated).
  static int64_t nowNanos() { return static_cast<int64_t>(nanos(static_cast<uint64_t>(ticks()))); }
  // The totals so far; the open scopes' time counts up to their last start or stop.
  static PhaseTotals totals() {
    PhaseTotals t;
    for (size_t i = 0; i < kPhaseCount; ++i) {
      t.nanos[i] = phase_detail::toNanos(phase_detail::tClock.ticks[i]);
    }
    return t;
  }
};

// Attributes the time from construction to destruction to `phase` (see the nesting rule above)
// when this thread's clock is on; otherwise does nothing.
class ScopedPhase {
 public:
  explicit ScopedPhase(Phase phase) {
    if (phase_detail::tClock.enabled) [[unlikely]] {
      enter(phase);
    }
  }
  ~ScopedPhase() {
    if (open_) [[unlikely]] {
      leave();
    }
  }
  ScopedPhase(const ScopedPhase&) = delete;
  ScopedPhase& operator=(const ScopedPhase&) = delete;

 private:
  void enter(Phase phase);
  void leave();

  bool open_ = false;
  int8_t outer_ = -1;  // the enclosing scope's phase, resumed on leave()
};

}  // namespace kolo
