// HostLayout from every rank's host identity: host numbering, local ranks, cross groups.
#include "kolo/collectives/host_layout.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kolo {
namespace {

TEST(HostLayout, InterleavedUnevenHosts) {
  const std::vector<std::string> keys = {"b", "a", "b", "c", "c"};
  HostLayout rank2 = hostLayoutFromKeys(keys, 2);
  EXPECT_EQ(rank2.numHosts, 3);
  EXPECT_EQ(rank2.hostIndex, 0);  // "b" holds the lowest rank
  EXPECT_EQ(rank2.localRank, 1);
  EXPECT_EQ(rank2.localSize, 2);
  EXPECT_EQ(rank2.localSizes, (std::vector<int>{2, 1, 2}));
  EXPECT_EQ(rank2.minLocalSize(), 1);
  EXPECT_EQ(rank2.ranksOnHost(0), (std::vector<int>{0, 2}));
  EXPECT_EQ(rank2.ranksOnHost(2), (std::vector<int>{3, 4}));
  // Local rank 1 exists on hosts 0 and 2 only.
  EXPECT_EQ(rank2.crossSize, 2);
  EXPECT_EQ(rank2.crossRank, 0);
  HostLayout rank4 = hostLayoutFromKeys(keys, 4);
  EXPECT_EQ(rank4.hostIndex, 2);
  EXPECT_EQ(rank4.localRank, 1);
  EXPECT_EQ(rank4.crossRank, 1);
  EXPECT_EQ(rank4.crossSize, 2);
  HostLayout rank1 = hostLayoutFromKeys(keys, 1);
  EXPECT_EQ(rank1.localSize, 1);
  EXPECT_EQ(rank1.crossRank, 1);
  EXPECT_EQ(rank1.crossSize, 3);
  EXPECT_TRUE(rank1.spansHosts());
}

TEST(HostLayout, OneHost) {
  HostLayout layout = hostLayoutFromKeys(std::vector<std::string>(3, "x"), 2);
  EXPECT_EQ(layout.numHosts, 1);
  EXPECT_EQ(layout.localRank, 2);
  EXPECT_EQ(layout.localSize, 3);
  EXPECT_EQ(layout.crossSize, 1);
  EXPECT_EQ(layout.crossRank, 0);
  EXPECT_FALSE(layout.spansHosts());
}

}  // namespace
}  // namespace kolo
