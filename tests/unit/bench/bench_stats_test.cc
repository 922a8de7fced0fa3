#include "bench_stats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace kolo::bench {
namespace {

using ::testing::ElementsAre;

TEST(BenchStats, SlowestRankPerIteration) {
  // Rank 0: 1 5 3; rank 1: 4 2 6.
  std::vector<double> gathered = {1, 5, 3, 4, 2, 6};
  EXPECT_THAT(slowestPerIteration(gathered, 2, 3), ElementsAre(4.0, 5.0, 6.0));
  EXPECT_THAT(slowestPerIteration(gathered, 1, 6), ElementsAre(1.0, 5.0, 3.0, 4.0, 2.0, 6.0));
  EXPECT_TRUE(slowestPerIteration({}, 2, 0).empty());
}

TEST(BenchStats, Median) {
  EXPECT_EQ(median({3, 1, 2}), 2.0);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(median({7}), 7.0);
  EXPECT_EQ(median({}), 0.0);
}

TEST(BenchStats, NearestRankPercentile) {
  std::vector<double> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);
  EXPECT_EQ(percentile(hundred, 99.0), 99.0);
  EXPECT_EQ(percentile(hundred, 50.0), 50.0);
  EXPECT_EQ(percentile(hundred, 100.0), 100.0);
  EXPECT_EQ(percentile(hundred, 0.0), 1.0);
  // With few samples p99 is the largest one.
  EXPECT_EQ(percentile({5, 9, 1, 3, 2}, 99.0), 9.0);
  EXPECT_EQ(percentile({}, 99.0), 0.0);
}

TEST(BenchStats, AlgorithmBandwidthInGigabytesPerSecond) {
  EXPECT_DOUBLE_EQ(algorithmBandwidth(1'000'000'000, 1'000'000.0), 1.0);
  EXPECT_DOUBLE_EQ(algorithmBandwidth(4096, 2.0), 2.048);
  EXPECT_EQ(algorithmBandwidth(4096, 0.0), 0.0);
}

TEST(BenchStats, BusBandwidthFactorsOfNcclTests) {
  EXPECT_DOUBLE_EQ(busBandwidthFactor(Collective::kAllreduce, 4), 1.5);
  EXPECT_DOUBLE_EQ(busBandwidthFactor(Collective::kAllreduce, 2), 1.0);
  EXPECT_DOUBLE_EQ(busBandwidthFactor(Collective::kAllreduce, 1), 0.0);
  EXPECT_DOUBLE_EQ(busBandwidthFactor(Collective::kAllgather, 4), 0.75);
  EXPECT_DOUBLE_EQ(busBandwidthFactor(Collective::kReduceScatter, 8), 0.875);
  EXPECT_DOUBLE_EQ(busBandwidthFactor(Collective::kAlltoall, 2), 0.5);
  EXPECT_DOUBLE_EQ(busBandwidthFactor(Collective::kBroadcast, 8), 1.0);
}

}  // namespace
}  // namespace kolo::bench
