// What `kolorun --help-env` and KOLO_PRINT_CONFIG=1 print, and the warning for a KOLO_*
// variable that is not a setting.
#include "kolo/base/settings_report.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "kolo/base/settings.h"
#include "support/scoped_env.h"

namespace kolo {
namespace {

using test::ScopedEnv;

// The row of `name` in a table ("" when absent); rows start with the name and a space.
std::string rowOf(const std::string& table, const std::string& name) {
  const size_t at = table.find("\n" + name + " ");
  if (at == std::string::npos) return "";
  return table.substr(at + 1, table.find('\n', at + 1) - at - 1);
}

TEST(SettingsHelpTable, OneRowPerDeclarationWithDefaultTypeAndMeaning) {
  const std::string table = settingsHelpTable();
  EXPECT_EQ(table.rfind("VARIABLE", 0), 0u);
  for (const SettingDecl& d : allSettings()) {
    const std::string name(d.name);
    EXPECT_NE(rowOf(table, name), "") << name << " is missing";
    EXPECT_EQ(table.find("\n" + name + " ", table.find("\n" + name + " ") + 1), std::string::npos)
        << name << " is listed twice";
  }
  EXPECT_TRUE(std::regex_match(rowOf(table, "KOLO_FUSION_THRESHOLD"),
                               std::regex("KOLO_FUSION_THRESHOLD +64M +bytes +most bytes in one "
                                          "fusion buffer; 0 disables fusion \\(alias "
                                          "HOROVOD_FUSION_THRESHOLD\\)")))
      << rowOf(table, "KOLO_FUSION_THRESHOLD");
  EXPECT_TRUE(std::regex_match(rowOf(table, "KOLO_TRANSPORT"),
                               std::regex("KOLO_TRANSPORT +auto +auto\\|shm\\|tcp +transport.*")))
      << rowOf(table, "KOLO_TRANSPORT");
  EXPECT_TRUE(
      std::regex_match(rowOf(table, "KOLO_RANK"), std::regex("KOLO_RANK +\\(kolorun\\) +int .*")))
      << rowOf(table, "KOLO_RANK");
  EXPECT_TRUE(std::regex_match(rowOf(table, "KOLO_ALLREDUCE_ALGO"),
                               std::regex("KOLO_ALLREDUCE_ALGO +auto +algorithm spec +auto, one "
                                          "algorithm name, or per size range: "
                                          "shm:0-64K,ring:64K-")))
      << rowOf(table, "KOLO_ALLREDUCE_ALGO");
  // The users' settings come before the rows only Kolo's scripts and tests set.
  const size_t tooling = table.find("Set by Kolo's own scripts and tests");
  ASSERT_NE(tooling, std::string::npos);
  EXPECT_LT(table.find("\nKOLO_TIMEOUT_SECONDS "), tooling);
  EXPECT_GT(table.find("\nKOLO_TEST_EXPECT_HOSTS "), tooling);
}

TEST(SettingsInEffectTable, ValueAndSourceOfEverySettingTheLibraryReads) {
  ScopedEnv fusion("KOLO_FUSION_THRESHOLD", "32M");
  ScopedEnv cycle("KOLO_CYCLE_TIME", "");
  ScopedEnv cycleAlias("HOROVOD_CYCLE_TIME", "5");
  ScopedEnv cache("KOLO_CACHE_CAPACITY", "lots");
  ScopedEnv transport("KOLO_TRANSPORT", "");
  ScopedEnv secret("KOLO_SECRET", "00ff00ff");
  ScopedEnv stall("KOLO_STALL_WARNING_SECONDS", "");
  ScopedEnv stallAlias("HOROVOD_STALL_CHECK_TIME_SECONDS", "");
  const HeldSetting held[] = {{"KOLO_STALL_WARNING_SECONDS", "7.5"},
                              {"KOLO_FUSION_THRESHOLD", "33554432"}};
  const std::string table = settingsInEffectTable(held);
  EXPECT_EQ(table.rfind("VARIABLE", 0), 0u);
  EXPECT_TRUE(std::regex_match(rowOf(table, "KOLO_FUSION_THRESHOLD"),
                               std::regex("KOLO_FUSION_THRESHOLD +33554432 +KOLO_FUSION_THRESHOLD "
                                          "+most bytes.*")))
      << rowOf(table, "KOLO_FUSION_THRESHOLD");
  EXPECT_TRUE(std::regex_match(rowOf(table, "KOLO_CYCLE_TIME"),
                               std::regex("KOLO_CYCLE_TIME +5 +HOROVOD_CYCLE_TIME +.*")))
      << rowOf(table, "KOLO_CYCLE_TIME");
  EXPECT_TRUE(std::regex_match(
      rowOf(table, "KOLO_CACHE_CAPACITY"),
      std::regex("KOLO_CACHE_CAPACITY +1024 +default \\(KOLO_CACHE_CAPACITY='lots' is "
                 "malformed\\) +.*")))
      << rowOf(table, "KOLO_CACHE_CAPACITY");
  EXPECT_TRUE(std::regex_match(rowOf(table, "KOLO_TRANSPORT"),
                               std::regex("KOLO_TRANSPORT +auto +default +.*")))
      << rowOf(table, "KOLO_TRANSPORT");
  EXPECT_TRUE(std::regex_match(rowOf(table, "KOLO_STALL_WARNING_SECONDS"),
                               std::regex("KOLO_STALL_WARNING_SECONDS +7.5 +program +.*")))
      << rowOf(table, "KOLO_STALL_WARNING_SECONDS");
  EXPECT_TRUE(std::regex_match(rowOf(table, "KOLO_SECRET"),
                               std::regex("KOLO_SECRET +\\(set\\) +KOLO_SECRET +.*")))
      << rowOf(table, "KOLO_SECRET");
  EXPECT_EQ(table.find("00ff00ff"), std::string::npos) << "the secret leaked";
  for (const SettingDecl& d : allSettings()) {
    const bool listed = !rowOf(table, std::string(d.name)).empty();
    EXPECT_EQ(listed, d.owner != SettingOwner::kTooling) << d.name;
  }
}

TEST(UnknownSettings, NameTheClosestDeclaredSetting) {
  EXPECT_EQ(closestSettingName("KOLO_FUSION_TRESHOLD"), "KOLO_FUSION_THRESHOLD");
  EXPECT_EQ(closestSettingName("KOLO_TIMEOUT_SECOND"), "KOLO_TIMEOUT_SECONDS");
  EXPECT_EQ(closestSettingName("KOLO_ALLREDUCE_ALG"), "KOLO_ALLREDUCE_ALGO");
  EXPECT_EQ(unknownSettingWarning("KOLO_FUSION_TRESHOLD"),
            "KOLO_FUSION_TRESHOLD is not a Kolo setting; did you mean KOLO_FUSION_THRESHOLD?");
  EXPECT_EQ(unknownSettingWarning("KOLO_SOMETHING_ELSE_ENTIRELY"),
            "KOLO_SOMETHING_ELSE_ENTIRELY is not a Kolo setting (kolorun --help-env lists them "
            "all)");
  EXPECT_EQ(unknownSettingWarning("KOLO_FUSION_THRESHOLD"), std::nullopt);
  EXPECT_EQ(unknownSettingWarning("HOROVOD_FUSION_TRESHOLD"), std::nullopt);
  EXPECT_EQ(unknownSettingWarning("PATH"), std::nullopt);

  const char* envp[] = {"PATH=/bin",         "KOLO_CYCLE_TIM=2",           "KOLO_RANK=0",
                        "KOLO_TEST_SET=a=b", "KOLO_LIBRARY=/x/libkolo.so", nullptr};
  EXPECT_EQ(unknownSettingWarnings(envp),
            std::vector<std::string>{
                "KOLO_CYCLE_TIM is not a Kolo setting; did you mean KOLO_CYCLE_TIME?"});
}

}  // namespace
}  // namespace kolo
