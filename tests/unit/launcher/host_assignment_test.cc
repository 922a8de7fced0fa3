#include "kolo/launcher/host_assignment.h"

#include <gtest/gtest.h>

namespace kolo::launcher {
namespace {

TEST(HostAssignment, LocalOnlyPutsEveryRankOnOneHost) {
  auto assignment = HostAssignment::localOnly("node0", 4);
  ASSERT_TRUE(assignment) << assignment.status().toString();
  EXPECT_EQ(assignment->worldSize(), 4);
  ASSERT_EQ(assignment->hosts().size(), 1u);
  EXPECT_TRUE(assignment->hosts()[0].local);
  EXPECT_EQ(assignment->localSize(0), 4);
  for (int rank = 0; rank < 4; ++rank) {
    EXPECT_EQ(assignment->placement(rank).hostIndex, 0);
    EXPECT_EQ(assignment->placement(rank).localRank, rank);
    EXPECT_EQ(assignment->crossRank(rank), 0);
    EXPECT_EQ(assignment->crossSize(rank), 1);
    EXPECT_EQ(assignment->hostOf(rank).name, "node0");
  }
}

TEST(HostAssignment, BlockPlacementFillsHostsInOrder) {
  auto assignment = HostAssignment::blockPlace(
      {{"a", "10.0.0.1", 2, false}, {"b", "10.0.0.2", 3, false}, {"c", "10.0.0.3", 4, false}}, 6);
  ASSERT_TRUE(assignment) << assignment.status().toString();
  // a: ranks 0,1; b: ranks 2,3,4; c: rank 5.
  const int hostOf[] = {0, 0, 1, 1, 1, 2};
  const int localOf[] = {0, 1, 0, 1, 2, 0};
  for (int rank = 0; rank < 6; ++rank) {
    EXPECT_EQ(assignment->placement(rank).hostIndex, hostOf[rank]) << "rank " << rank;
    EXPECT_EQ(assignment->placement(rank).localRank, localOf[rank]) << "rank " << rank;
  }
  EXPECT_EQ(assignment->localSize(0), 2);
  EXPECT_EQ(assignment->localSize(1), 3);
  EXPECT_EQ(assignment->localSize(2), 1);
  // Local rank 0 exists on all three hosts, local rank 1 on two, local rank 2 only on b.
  EXPECT_EQ(assignment->crossSize(0), 3);
  EXPECT_EQ(assignment->crossSize(1), 2);
  EXPECT_EQ(assignment->crossSize(4), 1);
  EXPECT_EQ(assignment->crossRank(5), 2);
}

TEST(HostAssignment, UnusedHostsAreDropped) {
  auto assignment = HostAssignment::blockPlace({{"a", "x", 4, false}, {"b", "y", 4, false}}, 3);
  ASSERT_TRUE(assignment);
  EXPECT_EQ(assignment->hosts().size(), 1u);
  EXPECT_EQ(assignment->crossSize(0), 1);
}

TEST(HostAssignment, RejectsTooFewSlots) {
  auto assignment = HostAssignment::blockPlace({{"a", "x", 2, false}, {"b", "y", 1, false}}, 4);
  ASSERT_FALSE(assignment);
  EXPECT_EQ(assignment.status().code(), Code::kInvalidArgument);
  EXPECT_NE(assignment.status().message().find("4 ranks requested"), std::string::npos)
      << assignment.status().message();
  EXPECT_NE(assignment.status().message().find("only 3 slots"), std::string::npos);
}

TEST(HostAssignment, RejectsBadCounts) {
  EXPECT_FALSE(HostAssignment::localOnly("h", 0));
  auto zeroSlots = HostAssignment::blockPlace({{"empty", "x", 0, false}}, 1);
  ASSERT_FALSE(zeroSlots);
  EXPECT_NE(zeroSlots.status().message().find("'empty'"), std::string::npos);
}

}  // namespace
}  // namespace kolo::launcher
