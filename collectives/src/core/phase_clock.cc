#include "kolo/collectives/phase_clock.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <utility>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace kolo {
namespace phase_detail {

thread_local constinit ThreadClock tClock{};

namespace {

int64_t steadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Nanoseconds per tick: 1 for the steady clock, measured for the time-stamp counter.
std::atomic<double> gNanosPerTick{1.0};
std::atomic<bool> gUseTsc{false};
std::once_flag gCalibrated;

bool kernelKeepsTimeByTsc() {
  std::ifstream source("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string name;
  return static_cast<bool>(source >> name) && name == "tsc";
}

#if defined(__x86_64__)
// One steady-clock reading and the counter at that moment (the middle of two counter reads
// around it, so the pair is off by at most half the reading's own time).
std::pair<int64_t, double> pairedReading() {
  const uint64_t before = __rdtsc();
  const int64_t ns = steadyNanos();
  const uint64_t after = __rdtsc();
  return {ns, (static_cast<double>(before) + static_cast<double>(after)) / 2};
}

// Over 200 us the pairing error (tens of ns) is below 0.02 % of the rate.
void measureTscRate() {
  if (!kernelKeepsTimeByTsc()) return;
  const auto [ns0, tsc0] = pairedReading();
  while (steadyNanos() - ns0 < 200'000) {
  }
  const auto [ns1, tsc1] = pairedReading();
  if (!(tsc1 > tsc0)) return;
  gNanosPerTick.store(static_cast<double>(ns1 - ns0) / (tsc1 - tsc0));
  gUseTsc.store(true, std::memory_order_release);
}
#else
void measureTscRate() {}
#endif

int64_t nowTicks() {
#if defined(__x86_64__)
  if (gUseTsc.load(std::memory_order_relaxed)) return static_cast<int64_t>(__rdtsc());
#endif
  return steadyNanos();
}

// Adds the running phase's time up to `now` and restarts its clock there.
void charge(ThreadClock& c, int64_t now) {
  if (c.current >= 0 && now > c.since) {
    c.ticks[static_cast<size_t>(c.current)] += static_cast<uint64_t>(now - c.since);
  }
  c.since = now;
}

}  // namespace

void calibrate() { std::call_once(gCalibrated, measureTscRate); }

uint64_t toNanos(uint64_t ticks) {
  return static_cast<uint64_t>(static_cast<double>(ticks) *
                               gNanosPerTick.load(std::memory_order_relaxed));
}

}  // namespace phase_detail

int64_t PhaseClock::ticks() { return phase_detail::nowTicks(); }

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
  phase_detail::charge(c, phase_detail::nowTicks());
  outer_ = c.current;
  c.current = static_cast<int8_t>(phase);
  open_ = true;
}

void ScopedPhase::leave() {
  phase_detail::ThreadClock& c = phase_detail::tClock;
  phase_detail::charge(c, phase_detail::nowTicks());
  c.current = outer_;
}

}  // namespace kolo
