#include "kolo/launcher/launch_options.h"

#include <gtest/gtest.h>

#include <vector>

namespace kolo::launcher {
namespace {

ParsedCommandLine parse(std::vector<const char*> args) {
  args.insert(args.begin(), "kolorun");
  return parseCommandLine(static_cast<int>(args.size()), args.data());
}

using Words = std::vector<std::string>;

TEST(LaunchOptions, MpirunStyleNpWithDoubleDash) {
  auto parsed = parse({"-np", "4", "--", "python3", "train.py", "--lr", "0.1"});
  ASSERT_FALSE(parsed.exitNow) << parsed.stderrText;
  EXPECT_EQ(parsed.options.np, 4);
  EXPECT_EQ(parsed.options.command, (Words{"python3", "train.py", "--lr", "0.1"}));
  EXPECT_FALSE(parsed.options.dryRun);
  EXPECT_EQ(parsed.options.timeoutSeconds, 0);
  EXPECT_EQ(parsed.options.killGraceSeconds, 2.0);
}

TEST(LaunchOptions, CommandWithoutDoubleDashKeepsItsOwnOptions) {
  // The command's own "-np" and "-x" must reach it, not be taken by kolorun.
  auto parsed = parse({"-np", "2", "--timeout", "30", "prog", "-np", "8", "-x", "Y=1"});
  ASSERT_FALSE(parsed.exitNow) << parsed.stderrText;
  EXPECT_EQ(parsed.options.np, 2);
  EXPECT_EQ(parsed.options.timeoutSeconds, 30);
  EXPECT_EQ(parsed.options.command, (Words{"prog", "-np", "8", "-x", "Y=1"}));
  EXPECT_TRUE(parsed.options.env.empty());
}

TEST(LaunchOptions, LongAndShortNpSpellings) {
  EXPECT_EQ(parse({"--np", "3", "true"}).options.np, 3);
  EXPECT_EQ(parse({"-n", "5", "true"}).options.np, 5);
  EXPECT_EQ(parse({"--np=6", "true"}).options.np, 6);
}

TEST(LaunchOptions, RepeatedDashX) {
  auto parsed = parse(
      {"-np", "1", "-x", "A=1", "-x", "HOME", "--dry-run", "--kill-grace", "0.5", "--", "env"});
  ASSERT_FALSE(parsed.exitNow) << parsed.stderrText;
  ASSERT_EQ(parsed.options.env.size(), 2u);
  EXPECT_EQ(parsed.options.env[0].name, "A");
  EXPECT_EQ(parsed.options.env[0].value, std::optional<std::string>("1"));
  EXPECT_EQ(parsed.options.env[1].name, "HOME");
  EXPECT_FALSE(parsed.options.env[1].value);
  EXPECT_TRUE(parsed.options.dryRun);
  EXPECT_EQ(parsed.options.killGraceSeconds, 0.5);
  EXPECT_EQ(parsed.options.command, (Words{"env"}));
}

TEST(LaunchOptions, ErrorsNameTheProblem) {
  auto noCommand = parse({"-np", "2"});
  EXPECT_TRUE(noCommand.exitNow);
  EXPECT_NE(noCommand.exitCode, 0);
  EXPECT_NE(noCommand.stderrText.find("no command"), std::string::npos) << noCommand.stderrText;

  auto noNp = parse({"--", "true"});
  EXPECT_TRUE(noNp.exitNow);
  EXPECT_NE(noNp.exitCode, 0);
  EXPECT_NE(noNp.stderrText.find("np"), std::string::npos) << noNp.stderrText;

  auto zero = parse({"-np", "0", "true"});
  EXPECT_TRUE(zero.exitNow);
  EXPECT_NE(zero.exitCode, 0);

  auto badX = parse({"-np", "1", "-x", "1BAD=2", "true"});
  EXPECT_TRUE(badX.exitNow);
  EXPECT_NE(badX.exitCode, 0);
  EXPECT_NE(badX.stderrText.find("'1BAD'"), std::string::npos) << badX.stderrText;

  auto negativeTimeout = parse({"-np", "1", "--timeout", "-3", "true"});
  EXPECT_TRUE(negativeTimeout.exitNow);
  EXPECT_NE(negativeTimeout.exitCode, 0);
}

TEST(LaunchOptions, HelpAndVersionExitZero) {
  auto help = parse({"--help"});
  EXPECT_TRUE(help.exitNow);
  EXPECT_EQ(help.exitCode, 0);
  EXPECT_NE(help.stdoutText.find("--timeout"), std::string::npos);
  EXPECT_NE(help.stdoutText.find("-x"), std::string::npos);
  auto version = parse({"--version"});
  EXPECT_TRUE(version.exitNow);
  EXPECT_EQ(version.exitCode, 0);
  EXPECT_NE(version.stdoutText.find("kolorun 0.1.0"), std::string::npos) << version.stdoutText;
}

TEST(LaunchOptions, HostsAndJobOptions) {
  auto parsed =
      parse({"-H", "a:2,b:2", "--start-timeout", "5", "--network-interface", "eth0",
             "--output-filename", "/tmp/out", "--ranks-filter", "0,2-3", "--prefix-timestamp",
             "--ssh-port", "2222", "--ssh-identity-file", "/k", "--mpi", "prog"});
  ASSERT_FALSE(parsed.exitNow) << parsed.stderrText;
  const LaunchOptions& o = parsed.options;
  EXPECT_EQ(o.np, 0) << "without -np a host list runs one rank per slot";
  EXPECT_EQ(o.hostList, "a:2,b:2");
  EXPECT_EQ(o.startTimeoutSeconds, 5);
  EXPECT_EQ(o.networkInterface, "eth0");
  EXPECT_EQ(o.outputDir, "/tmp/out");
  EXPECT_EQ(o.ranksFilter, (std::set<int>{0, 2, 3}));
  EXPECT_TRUE(o.prefixTimestamp);
  EXPECT_EQ(o.sshPort, 2222);
  EXPECT_EQ(o.sshIdentityFile, "/k");
  EXPECT_TRUE(o.useMpirun);
  EXPECT_EQ(o.command, (Words{"prog"}));
  EXPECT_EQ(parse({"--hostfile", "h", "prog"}).options.hostfile, "h");
}

TEST(LaunchOptions, HostOptionErrors) {
  auto noRanks = parse({"prog"});
  EXPECT_TRUE(noRanks.exitNow);
  EXPECT_EQ(noRanks.exitCode, 2);
  EXPECT_NE(noRanks.stderrText.find("-np is required"), std::string::npos) << noRanks.stderrText;
  auto both = parse({"-H", "a", "--hostfile", "f", "prog"});
  EXPECT_TRUE(both.exitNow);
  EXPECT_NE(both.exitCode, 0);
  auto badFilter = parse({"-np", "2", "--ranks-filter", "x", "prog"});
  EXPECT_TRUE(badFilter.exitNow);
  EXPECT_NE(badFilter.stderrText.find("--ranks-filter 'x'"), std::string::npos);
}

TEST(LaunchOptions, CheckBuildAndHelpEnvNeedNoRanks) {
  auto build = parse({"--check-build"});
  EXPECT_TRUE(build.exitNow);
  EXPECT_EQ(build.exitCode, 0);
  EXPECT_NE(build.stdoutText.find("[X] shm"), std::string::npos);
  auto env = parse({"--help-env"});
  EXPECT_TRUE(env.exitNow);
  EXPECT_NE(env.stdoutText.find("KOLO_TIMEOUT_SECONDS"), std::string::npos);
}

}  // namespace
}  // namespace kolo::launcher
