#include "kolo/launcher/rank_liveness.h"

#include <gtest/gtest.h>

#include <csignal>

namespace kolo::launcher {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RankLiveness, AStoppedRankFailsAfterTheGraceUnlessItContinues) {
  RankLiveness live(0.5, 0);
  const auto t0 = Clock::time_point{} + seconds(100);
  live.stopped(2, t0);
  EXPECT_FALSE(live.check(t0 + milliseconds(400)).has_value());
  EXPECT_EQ(live.nextCheck(t0 + milliseconds(100)), t0 + milliseconds(500));
  auto verdict = live.check(t0 + milliseconds(600));
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->rank, 2);
  EXPECT_EQ(verdict->exitCode, 128 + SIGSTOP);
  EXPECT_NE(verdict->reason.find("was stopped (SIGSTOP)"), std::string::npos) << verdict->reason;

  live.continued(2);  // SIGCONT within the grace: nothing happened
  live.stopped(1, t0);
  live.continued(1);
  EXPECT_FALSE(live.check(t0 + seconds(5)).has_value());
  live.stopped(0, t0);
  live.exited(0);
  EXPECT_FALSE(live.check(t0 + seconds(5)).has_value());
}

TEST(RankLiveness, AHeartbeatThatStandsStillFailsTheRank) {
  RankLiveness live(0.5, 10.0, 1.0);
  auto t = Clock::time_point{} + seconds(100);
  for (int i = 0; i < 9; ++i) {
    live.observe({{0, i}, {1, 5}, {2, i}}, t);  // rank 1 stops beating at 5
    t += seconds(1);
  }
  EXPECT_FALSE(live.check(t).has_value());
  for (int i = 9; i < 12; ++i) {
    live.observe({{0, i}, {1, 5}, {2, i}}, t);
    t += seconds(1);
  }
  auto verdict = live.check(t);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->rank, 1);
  EXPECT_EQ(verdict->exitCode, 128 + SIGKILL);
  EXPECT_NE(verdict->reason.find("sent no heartbeat"), std::string::npos) << verdict->reason;
}

TEST(RankLiveness, KolorunsOwnStarvationIsNotHeldAgainstTheRanks) {
  // kolorun was not scheduled for 30 s (the machine was thrashing); when it looks again the
  // ranks' counters have not been read in between, but that is no evidence against them.
  RankLiveness live(0.5, 10.0, 1.0);
  auto t = Clock::time_point{} + seconds(100);
  live.observe({{0, 1}, {1, 1}}, t);
  t += seconds(30);
  live.observe({{0, 1}, {1, 1}}, t);
  EXPECT_FALSE(live.check(t).has_value());
  // Genuinely stale afterwards: detected once 10 s of kolorun's awake time have passed.
  for (int i = 0; i < 11; ++i) {
    t += seconds(1);
    live.observe({{0, 2 + i}, {1, 1}}, t);
  }
  auto verdict = live.check(t);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->rank, 1);
}

TEST(RankLiveness, RanksWithoutAnOpenSessionAreNotHeldToAHeartbeat) {
  RankLiveness live(0.5, 2.0, 1.0);
  auto t = Clock::time_point{} + seconds(100);
  live.observe({{0, 1}}, t);
  for (int i = 0; i < 5; ++i) {
    t += seconds(1);
    live.observe({}, t);  // its session closed: no longer watched
  }
  EXPECT_FALSE(live.check(t).has_value());
  RankLiveness off(0.5, 0);
  EXPECT_FALSE(off.watchesHeartbeats());
}

TEST(RankLiveness, ParsesTheStoreKeys) {
  const std::string p = "job/heartbeat/";
  std::map<std::string, std::string> values = {
      {p + "0", "12"},           {p + "0/state", "open 1"}, {p + "1", "3"},
      {p + "1/state", "closed"}, {p + "2/state", "open 1"}, {p + "x", "1"},
      {"job/abort", "rank=1"}};
  auto beats = parseHeartbeats(values, p);
  EXPECT_EQ(beats, (std::map<int, int64_t>{{0, 12}, {2, 0}}));
}

}  // namespace
}  // namespace kolo::launcher
