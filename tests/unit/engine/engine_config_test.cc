// EngineConfig reads its knobs through the declared settings: the declared defaults are the
// struct's defaults, and describe() (what KOLO_PRINT_CONFIG=1 prints) is the whole settings
// table with this config's values.
#include "kolo/core/engine_config.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine_world.h"
#include "kolo/base/settings.h"
#include "support/scoped_env.h"

namespace kolo {
namespace {

using test::ScopedEnv;

// An empty value counts as unset: hides whatever the test runner's environment holds.
std::vector<std::unique_ptr<ScopedEnv>> unsetEngineSettings() {
  std::vector<std::unique_ptr<ScopedEnv>> guards;
  for (const char* name :
       {"KOLO_FUSION_THRESHOLD", "HOROVOD_FUSION_THRESHOLD", "KOLO_FUSION_LARGE_TENSOR",
        "KOLO_CACHE_CAPACITY", "HOROVOD_CACHE_CAPACITY", "KOLO_CYCLE_TIME", "HOROVOD_CYCLE_TIME",
        "KOLO_TIMELINE", "HOROVOD_TIMELINE", "KOLO_STALL_WARNING_SECONDS",
        "HOROVOD_STALL_CHECK_TIME_SECONDS", "KOLO_STALL_SHUTDOWN_SECONDS",
        "HOROVOD_STALL_SHUTDOWN_TIME_SECONDS", "KOLO_SHUTDOWN_TIMEOUT_SECONDS",
        "KOLO_PRINT_CONFIG"}) {
    guards.push_back(std::make_unique<ScopedEnv>(name, ""));
  }
  return guards;
}

TEST(EngineConfigSettings, DeclaredDefaultsAreTheStructDefaults) {
  auto guards = unsetEngineSettings();
  const core::EngineConfig fromEnv = core::EngineConfig::fromEnv();
  const core::EngineConfig plain;
  EXPECT_EQ(fromEnv.fusion.thresholdBytes, plain.fusion.thresholdBytes);
  EXPECT_EQ(fromEnv.fusion.largeTensorBytes, plain.fusion.largeTensorBytes);
  EXPECT_EQ(fromEnv.cacheCapacity, plain.cacheCapacity);
  EXPECT_DOUBLE_EQ(fromEnv.cycleTimeMs, plain.cycleTimeMs);
  EXPECT_EQ(fromEnv.timelinePath, plain.timelinePath);
  EXPECT_DOUBLE_EQ(fromEnv.stallWarningSeconds, plain.stallWarningSeconds);
  EXPECT_DOUBLE_EQ(fromEnv.stallShutdownSeconds, plain.stallShutdownSeconds);
  EXPECT_DOUBLE_EQ(fromEnv.shutdownTimeoutSeconds, plain.shutdownTimeoutSeconds);
  EXPECT_EQ(fromEnv.printConfig, plain.printConfig);
}

TEST(EngineConfigSettings, DescribePrintsEverySettingWithThisConfigsValues) {
  auto guards = unsetEngineSettings();
  ScopedEnv timeout("KOLO_TIMEOUT_SECONDS", "42");
  core::EngineConfig config = core::EngineConfig::fromEnv();
  config.cacheCapacity = 9;  // as kolo.init(cache_capacity=9) would
  const std::string text = config.describe();
  for (const SettingDecl& d : allSettings()) {
    const bool listed = text.find("\n" + std::string(d.name) + " ") != std::string::npos;
    EXPECT_EQ(listed, d.owner != SettingOwner::kTooling) << d.name;
  }
  auto row = [&](const std::string& name) {
    const size_t at = text.find("\n" + name + " ");
    return at == std::string::npos ? "" : text.substr(at + 1, text.find('\n', at + 1) - at - 1);
  };
  EXPECT_NE(row("KOLO_CACHE_CAPACITY").find(" 9 "), std::string::npos)
      << row("KOLO_CACHE_CAPACITY");
  EXPECT_NE(row("KOLO_CACHE_CAPACITY").find(" program "), std::string::npos);
  EXPECT_NE(row("KOLO_TIMEOUT_SECONDS").find(" 42 "), std::string::npos);
  EXPECT_NE(row("KOLO_TIMEOUT_SECONDS").find(" KOLO_TIMEOUT_SECONDS "), std::string::npos);
  EXPECT_NE(row("KOLO_FUSION_THRESHOLD").find(" 67108864 "), std::string::npos);
  EXPECT_NE(row("KOLO_FUSION_THRESHOLD").find(" default "), std::string::npos);
  EXPECT_NE(row("KOLO_TIMELINE").find(" off "), std::string::npos) << row("KOLO_TIMELINE");
}

// KOLO_PRINT_CONFIG=1: rank 0 prints the table when the engine starts; rank 0 also warns
// about a KOLO_* variable that is not a setting.
TEST(EngineConfigSettings, RankZeroPrintsTheTableAndWarnsAboutUnknownVariables) {
  ScopedEnv typo("KOLO_FUSION_TRESHOLD", "1M");
  core::EngineConfig config = test::testEngineConfig();
  config.printConfig = true;
  ::testing::internal::CaptureStderr();
  test::expectAllOk(test::runEngines(
      2, [](core::Engine&) { return Status::ok(); }, config));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("KOLO configuration (world of 2):\nVARIABLE "), std::string::npos) << err;
  EXPECT_NE(err.find("\nKOLO_FUSION_THRESHOLD "), std::string::npos) << err;
  EXPECT_NE(err.find("\nKOLO_PRINT_CONFIG "), std::string::npos) << err;
  const std::string warning =
      "KOLO_FUSION_TRESHOLD is not a Kolo setting; did you mean KOLO_FUSION_THRESHOLD?";
  ASSERT_NE(err.find(warning), std::string::npos) << err;
  EXPECT_EQ(err.find(warning, err.find(warning) + 1), std::string::npos) << "rank 0 only: " << err;
  EXPECT_EQ(err.find("KOLO configuration", err.find("KOLO configuration") + 1), std::string::npos);
}

}  // namespace
}  // namespace kolo
