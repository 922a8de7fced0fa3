#include "kolo/launcher/srun_launch.h"

#include <gtest/gtest.h>

namespace kolo::launcher {
namespace {

Environment allocation() {
  return {{"SLURM_JOB_ID", "17"},
          {"SLURM_JOB_NODELIST", "gpu[01-02],cpu7"},
          {"SLURM_TASKS_PER_NODE", "2(x2),1"},
          {"SLURM_JOB_CPUS_PER_NODE", "8(x3)"}};
}

TEST(SrunLaunch, AllocationWithoutStepChoosesSrun) {
  LaunchOptions options;
  EXPECT_EQ(chooseLauncher(options, allocation()), "srun");
  Environment inStep = allocation();
  inStep["SLURM_STEP_ID"] = "0";
  EXPECT_EQ(chooseLauncher(options, inStep), "ssh");
  EXPECT_EQ(chooseLauncher(options, {}), "ssh");
  options.hostList = "a:2";
  EXPECT_EQ(chooseLauncher(options, allocation()), "ssh");
  options.launcher = "local";
  EXPECT_EQ(chooseLauncher(options, allocation()), "local");
}

TEST(SrunLaunch, HostListFromTheAllocation) {
  EXPECT_EQ(allocationHostList(allocation(), 0).value(), "gpu01:2,gpu02:2,cpu7:1");
  EXPECT_EQ(allocationHostList(allocation(), 3).value(), "gpu01:3,gpu02:3,cpu7:3");
  Environment cpusOnly = allocation();
  cpusOnly.erase("SLURM_TASKS_PER_NODE");
  EXPECT_EQ(allocationHostList(cpusOnly, 0).value(), "gpu01:8,gpu02:8,cpu7:8");
}

TEST(SrunLaunch, MismatchedCountsNameTheVariable) {
  Environment env = allocation();
  env["SLURM_TASKS_PER_NODE"] = "2(x2)";
  auto hosts = allocationHostList(env, 0);
  ASSERT_FALSE(hosts.hasValue());
  EXPECT_NE(hosts.status().message().find("SLURM_TASKS_PER_NODE=2(x2) counts 2 node(s)"),
            std::string::npos)
      << hosts.status().message();
  env.erase("SLURM_JOB_NODELIST");
  EXPECT_NE(allocationHostList(env, 0).status().message().find("SLURM_JOB_NODELIST"),
            std::string::npos);
}

TEST(SrunLaunch, ApplyFillsHostsAndRefusesConflicts) {
  LaunchOptions options;
  options.launcher = "srun";
  ASSERT_TRUE(applySrunLauncher(options, allocation()).isOk());
  EXPECT_EQ(options.hostList, "gpu01:2,gpu02:2,cpu7:1");
  LaunchOptions outside;
  outside.launcher = "srun";
  Status status = applySrunLauncher(outside, {});
  EXPECT_NE(status.message().find("SLURM_JOB_ID is not set"), std::string::npos);
  LaunchOptions withMpi;
  withMpi.useMpirun = true;
  EXPECT_NE(applySrunLauncher(withMpi, allocation()).message().find("--mpi"), std::string::npos);
}

TEST(SrunLaunch, OneTaskStepPerRank) {
  EXPECT_EQ(
      buildSrunCommand("/usr/bin/srun", "gpu02", 3, {"python3", "train.py"}),
      (std::vector<std::string>{"/usr/bin/srun", "--nodes=1", "--ntasks=1", "--ntasks-per-node=1",
                                "--nodelist=gpu02", "--overlap", "--export=ALL",
                                "--job-name=kolo.rank.3", "--", "python3", "train.py"}));
}

TEST(SrunLaunch, ParserNeedsNoNpInsideAnAllocation) {
  const char* argv[] = {"kolorun", "./prog"};
  EXPECT_FALSE(parseCommandLine(2, argv, true).exitNow);
  EXPECT_TRUE(parseCommandLine(2, argv, false).exitNow);
  const char* srun[] = {"kolorun", "--launcher", "srun", "--ntasks-per-node", "2", "./prog"};
  ParsedCommandLine parsed = parseCommandLine(6, srun);
  ASSERT_FALSE(parsed.exitNow) << parsed.stderrText;
  EXPECT_EQ(parsed.options.launcher, "srun");
  EXPECT_EQ(parsed.options.ntasksPerNode, 2);
  const char* bad[] = {"kolorun", "--launcher", "pbs", "-np", "2", "./prog"};
  EXPECT_NE(parseCommandLine(6, bad).exitCode, 0);
}

}  // namespace
}  // namespace kolo::launcher
