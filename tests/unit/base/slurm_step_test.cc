// Slurm's compressed host and task-count lists, and the step read from Slurm's variables.
#include "kolo/base/slurm_step.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

namespace kolo {
namespace {

using Hosts = std::vector<std::string>;

Hosts expand(const char* list) {
  auto hosts = expandSlurmHostList(list);
  EXPECT_TRUE(hosts.hasValue()) << list << ": " << hosts.status().toString();
  return hosts.hasValue() ? hosts.value() : Hosts{};
}

std::string errorOf(const char* list) {
  auto hosts = expandSlurmHostList(list);
  return hosts.hasValue() ? "(no error)" : hosts.status().toString();
}

TEST(SlurmHostList, RangesAndSingles) {
  EXPECT_EQ(expand("n[1-3,7]"), (Hosts{"n1", "n2", "n3", "n7"}));
  EXPECT_EQ(expand("node"), (Hosts{"node"}));
  EXPECT_EQ(expand("a1,b[01-03]"), (Hosts{"a1", "b01", "b02", "b03"}));
}

TEST(SlurmHostList, ZeroPaddingFollowsTheLowerBound) {
  EXPECT_EQ(expand("gpu[008-011]"), (Hosts{"gpu008", "gpu009", "gpu010", "gpu011"}));
  EXPECT_EQ(expand("x[9-10]"), (Hosts{"x9", "x10"}));
}

TEST(SlurmHostList, SeveralBracketGroupsMultiply) {
  EXPECT_EQ(expand("r[1-2]n[1-2]"), (Hosts{"r1n1", "r1n2", "r2n1", "r2n2"}));
  EXPECT_EQ(expand("r[1-2]-ib,c3"), (Hosts{"r1-ib", "r2-ib", "c3"}));
}

TEST(SlurmHostList, MalformedListsNameTheProblem) {
  EXPECT_NE(errorOf("n[1-3").find("unbalanced"), std::string::npos);
  EXPECT_NE(errorOf("n1-3]").find("unbalanced"), std::string::npos);
  EXPECT_NE(errorOf("n[3-1]").find("reversed"), std::string::npos);
  EXPECT_NE(errorOf("n[a-b]").find("'a-b' is not a number"), std::string::npos);
  EXPECT_NE(errorOf("a,,b").find("empty host name"), std::string::npos);
  EXPECT_NE(errorOf("").find("empty"), std::string::npos);
}

TEST(SlurmTaskCounts, RepeatsExpand) {
  auto counts = expandSlurmTaskCounts("2(x3),1");
  ASSERT_TRUE(counts.hasValue()) << counts.status().toString();
  EXPECT_EQ(counts.value(), (std::vector<int>{2, 2, 2, 1}));
  EXPECT_FALSE(expandSlurmTaskCounts("2(x").hasValue());
  EXPECT_FALSE(expandSlurmTaskCounts("two").hasValue());
}

class SlurmStepEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("SLURM_JOB_ID", "41", 1);
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURMD_NODENAME", "n7", 1);
    setenv("SLURM_PROCID", "4", 1);
    setenv("SLURM_STEP_NUM_TASKS", "5", 1);
    setenv("SLURM_NODEID", "2", 1);
    setenv("SLURM_LOCALID", "0", 1);
    setenv("SLURM_STEP_NODELIST", "n[1-2,7]", 1);
    setenv("SLURM_STEP_TASKS_PER_NODE", "2(x2),1", 1);
  }
  void TearDown() override {
    for (const char* name : {"SLURM_JOB_ID", "SLURM_STEP_ID", "SLURMD_NODENAME", "SLURM_PROCID",
                             "SLURM_STEP_NUM_TASKS", "SLURM_NODEID", "SLURM_LOCALID",
                             "SLURM_STEP_NODELIST", "SLURM_STEP_TASKS_PER_NODE"}) {
      unsetenv(name);
    }
  }
};

TEST_F(SlurmStepEnv, PlacementComesFromSlurm) {
  auto step = slurmStepFromEnv();
  ASSERT_TRUE(step.hasValue()) << step.status().toString();
  ASSERT_TRUE(step.value().has_value());
  const SlurmStep& s = *step.value();
  EXPECT_EQ(s.rank, 4);
  EXPECT_EQ(s.size, 5);
  EXPECT_EQ(s.nodes, (Hosts{"n1", "n2", "n7"}));
  EXPECT_EQ(s.localRank, 0);
  EXPECT_EQ(s.localSize, 1);
  EXPECT_EQ(s.crossRank, 2);  // local rank 0 runs on all three nodes; this is the third
  EXPECT_EQ(s.crossSize, 3);
  EXPECT_EQ(slurmStepTaskCount(), 5);
}

TEST_F(SlurmStepEnv, DisagreeingVariablesAreAnError) {
  setenv("SLURM_NODEID", "3", 1);
  auto step = slurmStepFromEnv();
  ASSERT_FALSE(step.hasValue());
  EXPECT_NE(step.status().toString().find("disagree"), std::string::npos);
}

TEST_F(SlurmStepEnv, OutsideAStepThereIsNone) {
  unsetenv("SLURM_STEP_ID");
  auto step = slurmStepFromEnv();
  ASSERT_TRUE(step.hasValue());
  EXPECT_FALSE(step.value().has_value());
  EXPECT_EQ(slurmStepTaskCount(), 0);
}

}  // namespace
}  // namespace kolo
