#include "kolo/launcher/rank_environment.h"

#include <gtest/gtest.h>

#include "kolo/protocol/env_contract.h"

namespace kolo::launcher {
namespace {

JobInfo testJob() {
  return JobInfo{"file:/tmp/kolo-test", "0123abcd", "127.0.0.1", 29500};
}

TEST(RankEnvironment, ContractForLocalRanks) {
  auto assignment = HostAssignment::localOnly("node7", 3);
  ASSERT_TRUE(assignment);
  Environment env = contractEnvironment(*assignment, 2, testJob());
  const Environment expected = {
      {"KOLO_RANK", "2"},
      {"KOLO_SIZE", "3"},
      {"KOLO_LOCAL_RANK", "2"},
      {"KOLO_LOCAL_SIZE", "3"},
      {"KOLO_CROSS_RANK", "0"},
      {"KOLO_CROSS_SIZE", "1"},
      {"KOLO_HOSTNAME", "node7"},
      {"KOLO_STORE", "file:/tmp/kolo-test"},
      {"KOLO_JOB_ID", "0123abcd"},
      {"KOLO_BIND_ADDRESS", "127.0.0.1"},
      {"RANK", "2"},
      {"WORLD_SIZE", "3"},
      {"LOCAL_RANK", "2"},
      {"LOCAL_WORLD_SIZE", "3"},
      {"MASTER_ADDR", "127.0.0.1"},
      {"MASTER_PORT", "29500"},
  };
  EXPECT_EQ(env, expected);
  EXPECT_EQ(env.at(protocol::kEnvRank), "2");
}

TEST(RankEnvironment, ContractForMultiHostAssignment) {
  // The builder is ready for several hosts even though kolorun launches only locally for now.
  auto assignment =
      HostAssignment::blockPlace({{"a", "10.0.0.1", 2, false}, {"b", "10.0.0.2", 2, false}}, 3);
  ASSERT_TRUE(assignment);
  Environment env = contractEnvironment(*assignment, 2, testJob());
  EXPECT_EQ(env.at("KOLO_RANK"), "2");
  EXPECT_EQ(env.at("KOLO_LOCAL_RANK"), "0");
  EXPECT_EQ(env.at("KOLO_LOCAL_SIZE"), "1");
  EXPECT_EQ(env.at("KOLO_CROSS_RANK"), "1");
  EXPECT_EQ(env.at("KOLO_CROSS_SIZE"), "2");
  EXPECT_EQ(env.at("KOLO_HOSTNAME"), "b");
  EXPECT_EQ(env.at("KOLO_BIND_ADDRESS"), "10.0.0.2");
}

TEST(RankEnvironment, InheritsBaseAndContractWinsOverStaleValues) {
  auto assignment = HostAssignment::localOnly("h", 2);
  ASSERT_TRUE(assignment);
  // A kolorun started from inside another job inherits that job's KOLO_RANK; it must not leak.
  Environment base = {{"PATH", "/usr/bin"}, {"KOLO_RANK", "9"}, {"RANK", "9"}};
  Environment env = buildRankEnvironment(*assignment, 1, testJob(), base, {});
  EXPECT_EQ(env.at("PATH"), "/usr/bin");
  EXPECT_EQ(env.at("KOLO_RANK"), "1");
  EXPECT_EQ(env.at("RANK"), "1");
}

TEST(RankEnvironment, DashXSettingsApplyLast) {
  auto assignment = HostAssignment::localOnly("h", 2);
  ASSERT_TRUE(assignment);
  Environment base = {{"HOME", "/home/u"}, {"LANG", "C"}};
  std::vector<EnvSetting> settings = {
      {"FOO", std::string("bar=baz")},       // value containing '='
      {"LANG", std::string("")},             // empty value overrides
      {"HOME", std::nullopt},                // passed on from base
      {"MISSING", std::nullopt},             // not in base: skipped
      {"MASTER_PORT", std::string("1234")},  // user overrides the contract
  };
  Environment env = buildRankEnvironment(*assignment, 0, testJob(), base, settings);
  EXPECT_EQ(env.at("FOO"), "bar=baz");
  EXPECT_EQ(env.at("LANG"), "");
  EXPECT_EQ(env.at("HOME"), "/home/u");
  EXPECT_EQ(env.count("MISSING"), 0u);
  EXPECT_EQ(env.at("MASTER_PORT"), "1234");
}

TEST(RankEnvironment, ParseEnvSetting) {
  auto withValue = parseEnvSetting("NCCL_DEBUG=INFO");
  ASSERT_TRUE(withValue);
  EXPECT_EQ(withValue->name, "NCCL_DEBUG");
  EXPECT_EQ(withValue->value, std::optional<std::string>("INFO"));
  auto nameOnly = parseEnvSetting("_MY_VAR2");
  ASSERT_TRUE(nameOnly);
  EXPECT_EQ(nameOnly->name, "_MY_VAR2");
  EXPECT_FALSE(nameOnly->value.has_value());
  auto empty = parseEnvSetting("X=");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->value, std::optional<std::string>(""));

  for (const char* bad : {"", "=1", "1ABC=2", "A-B=3", "A B"}) {
    auto parsed = parseEnvSetting(bad);
    ASSERT_FALSE(parsed) << "'" << bad << "' was accepted";
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("not a valid variable name"), std::string::npos);
  }
}

TEST(RankEnvironment, EnvironmentFromAndToStrings) {
  const char* envp[] = {"A=1", "B=x=y", "EMPTY=", "NOEQUALS", "=nameless", nullptr};
  Environment env = environmentFrom(envp);
  const Environment expected = {{"A", "1"}, {"B", "x=y"}, {"EMPTY", ""}};
  EXPECT_EQ(env, expected);
  EXPECT_EQ(toEnvStrings(env), (std::vector<std::string>{"A=1", "B=x=y", "EMPTY="}));
  EXPECT_TRUE(environmentFrom(nullptr).empty());
}

// kolorun warns about a KOLO_* variable that is not a setting, in its own environment or in a
// -x NAME=VALUE, and about nothing it sets or declares itself.
TEST(RankEnvironment, WarnsAboutUnknownKoloVariables) {
  const Environment base = {{"PATH", "/bin"},
                            {"KOLO_FUSION_TRESHOLD", "1M"},
                            {"KOLO_TIMEOUT_SECONDS", "9"},
                            {"KOLO_FAULT_MATRIX_CASE", "x"}};
  const std::vector<EnvSetting> settings = {
      {"KOLO_CYCLE_TIM", "2"}, {"KOLO_TEST_SET", "a=b"}, {"KOLO_FUSION_TRESHOLD", std::nullopt}};
  EXPECT_EQ(unknownSettingsWarnings(base, settings),
            (std::vector<std::string>{
                "KOLO_FUSION_TRESHOLD is not a Kolo setting; did you mean KOLO_FUSION_THRESHOLD?",
                "KOLO_CYCLE_TIM is not a Kolo setting; did you mean KOLO_CYCLE_TIME?"}));
  JobInfo job = testJob();
  job.secretHex = std::string(64, 'a');
  job.elastic = true;
  job.networkInterface = "eth0";
  job.startTimeoutSeconds = 5;
  auto assignment = HostAssignment::localOnly("node7", 3);
  ASSERT_TRUE(assignment);
  const Environment exported = contractEnvironment(*assignment, 1, job);
  EXPECT_EQ(exported.count("KOLO_ELASTIC"), 1u);
  EXPECT_TRUE(unknownSettingsWarnings(exported, {}).empty());
}

}  // namespace
}  // namespace kolo::launcher
