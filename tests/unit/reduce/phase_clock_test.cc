// The phase clock (kolo/collectives/phase_clock.h): nothing is counted while it is off, a scope
// counts its wall time while it is on, the innermost scope owns nested time (so the phases of
// a region add up to at most its wall time), the reduce kernels count themselves as kReduce
// even inside a copy step, and every thread has its own switch and counters.
#include "kolo/collectives/phase_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kolo/collectives/reduce.h"

namespace kolo {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

uint64_t nanosSince(steady_clock::time_point from) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<nanoseconds>(steady_clock::now() - from).count());
}

constexpr uint64_t kMs = 1'000'000;

// A wall time as an upper bound for counted time: the clock reads the time-stamp counter,
// converted with a rate measured once against the steady clock (phase_clock.h), so counted
// nanoseconds may exceed the steady clock's by the rate's error (well under 0.1 %).
uint64_t withRateError(uint64_t wallNanos) { return wallNanos + wallNanos / 500 + 1000; }

// Turns this thread's clock on for one test and off again after it.
class PhaseClockTest : public ::testing::Test {
 protected:
  void SetUp() override { PhaseClock::setEnabled(true); }
  void TearDown() override { PhaseClock::setEnabled(false); }
};

TEST(PhaseClock, OffCountsNothing) {
  ASSERT_FALSE(PhaseClock::enabled());  // a thread starts with the clock off
  const PhaseTotals before = PhaseClock::totals();
  {
    ScopedPhase copy(Phase::kCopy);
    ScopedPhase reduce(Phase::kReduce);
    std::this_thread::sleep_for(milliseconds(2));
  }
  std::vector<float> a(4096, 1.0f), b(4096, 2.0f);
  reduceInto(DataType::kFloat32, ReduceOp::kSum, a.data(), b.data(), a.size());
  EXPECT_EQ(a[0], 3.0f);
  const PhaseTotals d = PhaseClock::totals().since(before);
  EXPECT_EQ(d.sum(), 0u) << "copy " << d[Phase::kCopy] << " reduce " << d[Phase::kReduce]
                         << " transfer " << d[Phase::kTransfer];
}

TEST_F(PhaseClockTest, OneScopeCountsItsWallTimeInItsPhaseOnly) {
  const PhaseTotals before = PhaseClock::totals();
  const auto t0 = steady_clock::now();
  {
    ScopedPhase transfer(Phase::kTransfer);
    std::this_thread::sleep_for(milliseconds(3));
  }
  const uint64_t wall = nanosSince(t0);
  const PhaseTotals d = PhaseClock::totals().since(before);
  EXPECT_GE(d[Phase::kTransfer], 3 * kMs);
  EXPECT_LE(d[Phase::kTransfer], withRateError(wall));
  EXPECT_EQ(d[Phase::kCopy], 0u);
  EXPECT_EQ(d[Phase::kReduce], 0u);
}

TEST_F(PhaseClockTest, InnermostScopeOwnsNestedTimeAndTheSumStaysWithinTheWallTime) {
  const PhaseTotals before = PhaseClock::totals();
  const auto t0 = steady_clock::now();
  uint64_t innerWall = 0;
  {
    ScopedPhase copy(Phase::kCopy);
    std::this_thread::sleep_for(milliseconds(2));
    const auto innerStart = steady_clock::now();
    {
      ScopedPhase reduce(Phase::kReduce);
      std::this_thread::sleep_for(milliseconds(4));
      ScopedPhase transfer(Phase::kTransfer);  // innermost again: a third level
      std::this_thread::sleep_for(milliseconds(2));
    }
    innerWall = nanosSince(innerStart);
    std::this_thread::sleep_for(milliseconds(2));
  }
  const uint64_t wall = nanosSince(t0);
  const PhaseTotals d = PhaseClock::totals().since(before);
  EXPECT_GE(d[Phase::kCopy], 4 * kMs);
  EXPECT_GE(d[Phase::kReduce], 4 * kMs);
  EXPECT_GE(d[Phase::kTransfer], 2 * kMs);
  // The outer scope did not count the inner ones' time (at least 6 ms of sleep) again.
  EXPECT_LE(d[Phase::kCopy] + 6 * kMs, withRateError(wall));
  EXPECT_LE(d[Phase::kReduce] + d[Phase::kTransfer], withRateError(innerWall));
  EXPECT_LE(d.sum(), withRateError(wall));
}

TEST_F(PhaseClockTest, ReduceKernelsCountAsReduceEvenInsideACopyStep) {
  std::vector<float> a(1 << 20, 1.0f), b(1 << 20, 2.0f), out(1 << 20);
  const void* inputs[] = {a.data(), b.data()};
  const PhaseTotals before = PhaseClock::totals();
  const auto t0 = steady_clock::now();
  {
    ScopedPhase copy(Phase::kCopy);
    reduceMany(DataType::kFloat32, ReduceOp::kSum, out.data(), inputs, 2, out.size(), 0);
  }
  const uint64_t wall = nanosSince(t0);
  const PhaseTotals d = PhaseClock::totals().since(before);
  EXPECT_EQ(out[12345], 3.0f);
  EXPECT_GT(d[Phase::kReduce], 0u);
  EXPECT_EQ(d[Phase::kTransfer], 0u);
  EXPECT_LE(d.sum(), withRateError(wall));
  // Adding 4 MiB of floats takes longer than entering and leaving the scopes around it.
  EXPECT_GT(d[Phase::kReduce], d[Phase::kCopy]);
}

TEST_F(PhaseClockTest, TurningTheClockOffInsideAScopeStillClosesIt) {
  const PhaseTotals before = PhaseClock::totals();
  {
    ScopedPhase copy(Phase::kCopy);
    std::this_thread::sleep_for(milliseconds(1));
    PhaseClock::setEnabled(false);
    ScopedPhase ignored(Phase::kReduce);  // the clock is off: not a scope
  }
  const PhaseTotals afterOff = PhaseClock::totals();
  const PhaseTotals d = afterOff.since(before);
  EXPECT_GE(d[Phase::kCopy], kMs);
  EXPECT_EQ(d[Phase::kReduce], 0u);
  PhaseClock::setEnabled(true);
  { ScopedPhase reduce(Phase::kReduce); }
  // No scope was left open: the next one starts from its own entry, not from the copy's.
  EXPECT_LT(PhaseClock::totals().since(afterOff)[Phase::kReduce], kMs);
}

TEST_F(PhaseClockTest, EachThreadHasItsOwnSwitchAndCounters) {
  const PhaseTotals mineBefore = PhaseClock::totals();
  PhaseTotals otherCounted;
  uint64_t otherSecondScope = 0;
  bool otherEnabled = true;
  std::thread other([&] {
    otherEnabled = PhaseClock::enabled();  // off: the switch is per thread
    {
      ScopedPhase copy(Phase::kCopy);
      std::this_thread::sleep_for(milliseconds(1));
    }
    PhaseClock::setEnabled(true);
    const auto t0 = steady_clock::now();
    {
      ScopedPhase copy(Phase::kCopy);
      std::this_thread::sleep_for(milliseconds(1));
    }
    otherSecondScope = nanosSince(t0);
    otherCounted = PhaseClock::totals();
  });
  other.join();
  EXPECT_FALSE(otherEnabled);
  EXPECT_GE(otherCounted[Phase::kCopy], kMs);
  EXPECT_LE(otherCounted[Phase::kCopy], withRateError(otherSecondScope));  // only the scope with the clock on
  EXPECT_EQ(PhaseClock::totals().since(mineBefore).sum(), 0u);
  EXPECT_TRUE(PhaseClock::enabled());
}

TEST(PhaseClock, PhaseNames) {
  EXPECT_EQ(std::string(phaseName(Phase::kCopy)), "copy");
  EXPECT_EQ(std::string(phaseName(Phase::kReduce)), "reduce");
  EXPECT_EQ(std::string(phaseName(Phase::kTransfer)), "transfer");
}

}  // namespace
}  // namespace kolo
