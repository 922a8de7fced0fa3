// CpuContention and SpinBudget: the modes of KOLO_SPIN, preemption noted by a spinner, and a
// spin that ends on its budget.
#include "kolo/base/cpu_contention.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace kolo {
namespace {

constexpr int kAuto = 0;
constexpr int kOn = 1;
constexpr int kOff = 2;

class CpuContentionTest : public ::testing::Test {
 protected:
  void TearDown() override { CpuContention::setModeForTesting(-1); }
};

// Nanoseconds a fresh spin of `budgetNs` lasted; `byContention`: why it ended.
int64_t spinToTheEnd(int64_t budgetNs, bool* byContention) {
  const auto start = std::chrono::steady_clock::now();
  SpinBudget spin(budgetNs);
  while (spin.next()) {
  }
  *byContention = spin.stoppedByContention();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              start)
      .count();
}

TEST_F(CpuContentionTest, OffNeverSpins) {
  CpuContention::setModeForTesting(kOff);
  EXPECT_TRUE(CpuContention::contended());
  SpinBudget spin(10'000'000);
  EXPECT_FALSE(spin.next());
  EXPECT_TRUE(spin.stoppedByContention());
}

TEST_F(CpuContentionTest, OnSpinsTheWholeBudgetEvenAfterAPreemption) {
  CpuContention::setModeForTesting(kOn);
  CpuContention::notePreempted();
  EXPECT_FALSE(CpuContention::contended());
  bool byContention = true;
  EXPECT_GE(spinToTheEnd(2'000'000, &byContention), 2'000'000);
  EXPECT_FALSE(byContention);
}

TEST_F(CpuContentionTest, AutoSpinsOnlyBrieflyAfterANotedPreemption) {
  CpuContention::setModeForTesting(kAuto);
  CpuContention::notePreempted();
  EXPECT_TRUE(CpuContention::contended());
  bool byContention = false;
  // Cut from 100 ms to the contended spin (10 us; a preemption of this test ends it sooner).
  EXPECT_LT(spinToTheEnd(100'000'000, &byContention), 50'000'000);
  EXPECT_TRUE(byContention);
}

int noOtherThread() { return 1; }
int farMoreThreadsThanCores() { return 1 << 20; }

TEST_F(CpuContentionTest, AutoSpinsWhileTheCoresAreFree) {
  CpuContention::setModeForTesting(kAuto, noOtherThread);
  EXPECT_FALSE(CpuContention::contended());
  bool byContention = true;
  const int64_t spent = spinToTheEnd(1'000'000, &byContention);
  // A preemption during the spin (a busy test machine) may rightly end it early, noted.
  if (!byContention) EXPECT_GE(spent, 1'000'000);
}

TEST_F(CpuContentionTest, AutoSpinsOnlyBrieflyWhenThreadsWaitForACore) {
  CpuContention::setModeForTesting(kAuto, farMoreThreadsThanCores);
  EXPECT_TRUE(CpuContention::contended());
  bool byContention = false;
  EXPECT_LT(spinToTheEnd(100'000'000, &byContention), 50'000'000);
  EXPECT_TRUE(byContention);
}

TEST_F(CpuContentionTest, AJobWithMoreRanksThanCoresKeepsItsOwnSpinAndYield) {
  CpuContention::setModeForTesting(kAuto, farMoreThreadsThanCores);
  CpuContention::noteRanksOnThisHost(1);
  EXPECT_TRUE(CpuContention::contended());
  CpuContention::noteRanksOnThisHost(1 << 20);  // far more ranks than this host has cores
  EXPECT_FALSE(CpuContention::contended());
  EXPECT_EQ(CpuContention::spinRounds(100, 10), 100);
}

TEST_F(CpuContentionTest, SpinRoundsFollowTheMode) {
  CpuContention::setModeForTesting(kAuto, farMoreThreadsThanCores);
  EXPECT_EQ(CpuContention::spinRounds(100, 10), 10);
  CpuContention::setModeForTesting(kAuto, noOtherThread);
  EXPECT_EQ(CpuContention::spinRounds(100, 10), 100);
  CpuContention::setModeForTesting(kOff);
  EXPECT_EQ(CpuContention::spinRounds(100, 10), 0);
  CpuContention::setModeForTesting(kOn, farMoreThreadsThanCores);
  EXPECT_EQ(CpuContention::spinRounds(100, 10), 100);
}

TEST_F(CpuContentionTest, TheKernelsRunnableCountIsRead) {
  // This thread runs, so the count is at least 1 (-1 only where /proc is missing).
  EXPECT_GE(CpuContention::runnableThreads(), 1);
}

TEST_F(CpuContentionTest, ZeroBudgetEndsAtOnceWithoutBlamingContention) {
  CpuContention::setModeForTesting(kOn);
  SpinBudget spin(0);
  EXPECT_FALSE(spin.next());
  EXPECT_FALSE(spin.stoppedByContention());
}

TEST_F(CpuContentionTest, ASleepInsideTheSpinIsSeenAsAPreemption) {
  CpuContention::setModeForTesting(kAuto, noOtherThread);
  SpinBudget spin(50'000'000);
  ASSERT_FALSE(spin.stoppedByContention());
  bool stopped = false;
  for (int round = 0; round < 64 && !stopped; ++round) {
    // Off the CPU for 1 ms between two looks at the clock, as a preempted spinner would be.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    stopped = !spin.next();
  }
  EXPECT_TRUE(stopped);
  EXPECT_TRUE(spin.stoppedByContention());
  EXPECT_TRUE(CpuContention::contended());
}

}  // namespace
}  // namespace kolo
