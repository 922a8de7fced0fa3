#include "kolo/launcher/core_binding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace kolo::launcher {
namespace {

using Plan = std::vector<std::vector<int>>;

// Two NUMA nodes of two SMT cores each: cores {0,4} {1,5} on node 0, {2,6} {3,7} on node 1.
CpuLayout smtMachine() {
  return CpuLayout{{{0, 4}, {1, 5}, {2, 6}, {3, 7}}, {{0, 1, 4, 5}, {2, 3, 6, 7}}};
}

TEST(CpuBinding, CoreGivesEachLocalRankAWholeCoreInOrder) {
  auto plan = planCpuBinding("core", 3, smtMachine());
  ASSERT_TRUE(plan.hasValue());
  // Never two SMT siblings of one core for two ranks.
  EXPECT_EQ(plan.value(), (Plan{{0, 4}, {1, 5}, {2, 6}}));
}

TEST(CpuBinding, MoreRanksThanCoresIsNotBound) {
  auto plan = planCpuBinding("core", 5, smtMachine());
  ASSERT_TRUE(plan.hasValue());
  EXPECT_TRUE(plan->empty());
}

TEST(CpuBinding, NumaSplitsRanksIntoBlocksPerNode) {
  auto four = planCpuBinding("numa", 4, smtMachine());
  ASSERT_TRUE(four.hasValue());
  const std::vector<int> node0 = {0, 1, 4, 5};
  const std::vector<int> node1 = {2, 3, 6, 7};
  EXPECT_EQ(four.value(), (Plan{node0, node0, node1, node1}));
  // Oversubscribed nodes still bind (several ranks share a node's cores).
  auto five = planCpuBinding("numa", 5, smtMachine());
  ASSERT_TRUE(five.hasValue());
  EXPECT_EQ(five.value(), (Plan{node0, node0, node0, node1, node1}));
  auto one = planCpuBinding("numa", 1, smtMachine());
  ASSERT_TRUE(one.hasValue());
  EXPECT_EQ(one.value(), (Plan{node0}));
}

TEST(CpuBinding, NoneBindsNothing) {
  auto plan = planCpuBinding("none", 2, smtMachine());
  ASSERT_TRUE(plan.hasValue());
  EXPECT_TRUE(plan->empty());
}

TEST(CpuBinding, UnknownModeIsNamed) {
  auto plan = planCpuBinding("socket", 1, smtMachine());
  ASSERT_FALSE(plan.hasValue());
  EXPECT_EQ(plan.status().code(), Code::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("socket"), std::string::npos);
  EXPECT_NE(plan.status().message().find("numa"), std::string::npos);
}

TEST(CpuBinding, AllowedCpusIsNonEmptyAndAscending) {
  auto cpus = allowedCpus();
  ASSERT_FALSE(cpus.empty());
  for (size_t i = 1; i < cpus.size(); ++i) EXPECT_LT(cpus[i - 1], cpus[i]);
}

// This machine's layout partitions the allowed CPUs: every allowed CPU in exactly one core and
// one NUMA node, and nothing else.
TEST(CpuBinding, ProbedLayoutPartitionsTheAllowedCpus) {
  const std::vector<int> allowed = allowedCpus();
  const CpuLayout layout = probeCpuLayout(allowed);
  for (const auto& groups : {layout.cores, layout.numaNodes}) {
    std::multiset<int> seen;
    for (const auto& group : groups) {
      EXPECT_FALSE(group.empty());
      seen.insert(group.begin(), group.end());
    }
    EXPECT_EQ(std::vector<int>(seen.begin(), seen.end()), allowed);
  }
  // A probe restricted to one CPU sees one core and one node.
  const CpuLayout single = probeCpuLayout({allowed.back()});
  EXPECT_EQ(single.cores, (Plan{{allowed.back()}}));
  EXPECT_EQ(single.numaNodes, (Plan{{allowed.back()}}));
}

}  // namespace
}  // namespace kolo::launcher
