// The settings table and its typed readers: every declaration is well formed, each type parses
// what it should, a malformed value falls back to the default with one warning naming the
// variable and the text, KOLO_* wins over the Horovod alias, and a read of an undeclared name
// stops the process.
#include "kolo/base/settings.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include "support/scoped_env.h"

namespace kolo {
namespace {

using test::ScopedEnv;

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// An empty value counts as unset, so ScopedEnv(name, "") hides whatever the test runner set.
std::string capturedStderr(const std::function<void()>& body) {
  ::testing::internal::CaptureStderr();
  body();
  return ::testing::internal::GetCapturedStderr();
}

TEST(SettingsTable, EveryDeclarationIsWellFormed) {
  std::set<std::string_view> names;
  for (const SettingDecl& d : allSettings()) {
    SCOPED_TRACE(std::string(d.name));
    EXPECT_TRUE(d.name.starts_with("KOLO_"));
    EXPECT_TRUE(names.insert(d.name).second) << "declared twice";
    EXPECT_TRUE(d.alias.empty() || d.alias.starts_with("HOROVOD_"));
    EXPECT_FALSE(d.meaning.empty());
    EXPECT_EQ(d.type == SettingType::kChoice, !d.choices.empty());
    // A typed default must parse, or every read of an unset variable would misbehave.
    EXPECT_TRUE(d.defaultValue.empty() || settingTextIsValid(d, d.defaultValue));
    EXPECT_TRUE(!d.secret || d.defaultValue.empty());
  }
  EXPECT_GE(names.size(), 55u);
}

TEST(SettingsTable, DeclaresWhatKolorunExportsAndTheAlgorithmChoices) {
  for (const char* name :
       {"KOLO_RANK", "KOLO_SIZE", "KOLO_LOCAL_RANK", "KOLO_LOCAL_SIZE", "KOLO_CROSS_RANK",
        "KOLO_CROSS_SIZE", "KOLO_HOSTNAME", "KOLO_STORE", "KOLO_JOB_ID", "KOLO_BIND_ADDRESS",
        "KOLO_SECRET", "KOLO_NETWORK_INTERFACE", "KOLO_ELASTIC"}) {
    const SettingDecl* d = findSetting(name);
    ASSERT_NE(d, nullptr) << name;
    EXPECT_EQ(d->owner, SettingOwner::kLauncher) << name;
  }
  EXPECT_TRUE(findSetting("KOLO_SECRET")->secret);
  for (const char* name : {"KOLO_ALLREDUCE_ALGO", "KOLO_ALLGATHER_ALGO", "KOLO_BROADCAST_ALGO",
                           "KOLO_REDUCESCATTER_ALGO", "KOLO_ALLTOALL_ALGO"}) {
    ASSERT_NE(findSetting(name), nullptr) << name;
    EXPECT_EQ(findSetting(name)->type, SettingType::kAlgorithmSpec) << name;
    EXPECT_EQ(findSetting(name)->defaultValue, "auto") << name;
  }
  const SettingDecl* hier = findSetting("KOLO_HIERARCHICAL_ALLREDUCE");
  ASSERT_NE(hier, nullptr);
  EXPECT_EQ(hier->alias, "HOROVOD_HIERARCHICAL_ALLREDUCE");
  EXPECT_EQ(hier->choices, "auto|1|0|on|off|true|false|yes|no");
  EXPECT_EQ(findSetting("KOLO_HIERARCHICAL_ALLGATHER")->alias, "HOROVOD_HIERARCHICAL_ALLGATHER");
  EXPECT_EQ(findSetting("HOROVOD_FUSION_THRESHOLD"), nullptr) << "aliases are not names";
  EXPECT_EQ(findSetting("KOLO_FUSION_TRESHOLD"), nullptr);
}

TEST(SettingsReaders, ParseEachType) {
  ScopedEnv i("KOLO_FLIGHT_RECORDER_SIZE", "-12");
  ScopedEnv s("KOLO_TCP_HANDSHAKE_TIMEOUT", "0.75");
  ScopedEnv m("KOLO_CYCLE_TIME", "2.5");
  ScopedEnv b("KOLO_PRINT_CONFIG", "Yes");
  ScopedEnv by("KOLO_FUSION_THRESHOLD", "32M");
  ScopedEnv c("KOLO_GPU_OPERATIONS", "NCCL");
  ScopedEnv t("KOLO_FLIGHT_RECORDER_DIR", "/var/tmp/x");
  EXPECT_EQ(settingInt("KOLO_FLIGHT_RECORDER_SIZE"), -12);
  EXPECT_DOUBLE_EQ(settingSeconds("KOLO_TCP_HANDSHAKE_TIMEOUT"), 0.75);
  EXPECT_DOUBLE_EQ(settingMilliseconds("KOLO_CYCLE_TIME"), 2.5);
  EXPECT_TRUE(settingBool("KOLO_PRINT_CONFIG"));
  EXPECT_EQ(settingBytes("KOLO_FUSION_THRESHOLD"), uint64_t{32} << 20);
  EXPECT_EQ(settingChoice("KOLO_GPU_OPERATIONS"), "nccl");
  EXPECT_EQ(settingTextOrDefault("KOLO_FLIGHT_RECORDER_DIR"), "/var/tmp/x");
  EXPECT_EQ(settingText("KOLO_FLIGHT_RECORDER_DIR"), "/var/tmp/x");
}

TEST(SettingsReaders, UnsetMeansTheDeclaredDefault) {
  ScopedEnv i("KOLO_FLIGHT_RECORDER_SIZE", "");
  ScopedEnv s("KOLO_TIMEOUT_SECONDS", "");
  ScopedEnv m("KOLO_CYCLE_TIME", "");
  ScopedEnv ma("HOROVOD_CYCLE_TIME", "");
  ScopedEnv b("KOLO_ELASTIC", "");
  ScopedEnv by("KOLO_FUSION_LARGE_TENSOR", "");
  ScopedEnv c("KOLO_TRANSPORT", "");
  ScopedEnv t("KOLO_FLIGHT_RECORDER_DIR", "");
  ScopedEnv n("KOLO_LOCAL_RANK", "");
  ScopedEnv ch("KOLO_SHM_CHUNK_BYTES", "");
  EXPECT_EQ(settingInt("KOLO_FLIGHT_RECORDER_SIZE"), 256);
  EXPECT_DOUBLE_EQ(settingSeconds("KOLO_TIMEOUT_SECONDS"), 300.0);
  EXPECT_DOUBLE_EQ(settingMilliseconds("KOLO_CYCLE_TIME"), 1.0);
  EXPECT_FALSE(settingBool("KOLO_ELASTIC"));
  EXPECT_EQ(settingBytes("KOLO_FUSION_LARGE_TENSOR"), uint64_t{1} << 20);
  EXPECT_EQ(settingChoice("KOLO_TRANSPORT"), "auto");
  EXPECT_EQ(settingChoiceChecked("KOLO_TRANSPORT").value(), "auto");
  EXPECT_EQ(settingTextOrDefault("KOLO_FLIGHT_RECORDER_DIR"), "/tmp");
  EXPECT_EQ(settingText("KOLO_FLIGHT_RECORDER_DIR"), std::nullopt);
  EXPECT_EQ(settingIntIfSet("KOLO_LOCAL_RANK"), std::nullopt);
  EXPECT_EQ(settingBytesIfSet("KOLO_SHM_CHUNK_BYTES"), std::nullopt);
}

TEST(SettingsReaders, MalformedValueWarnsOnceAndUsesTheDefault) {
  ScopedEnv i("KOLO_FLIGHT_RECORDER_SIZE", "12abc");
  std::string err = capturedStderr([] { EXPECT_EQ(settingInt("KOLO_FLIGHT_RECORDER_SIZE"), 256); });
  EXPECT_NE(err.find("KOLO_FLIGHT_RECORDER_SIZE='12abc' is not an integer; using the default 256"),
            std::string::npos)
      << err;
  EXPECT_EQ(occurrences(err, "12abc"), 1u) << err;

  ScopedEnv s("KOLO_TIMEOUT_SECONDS", "5min");
  err = capturedStderr([] { EXPECT_DOUBLE_EQ(settingSeconds("KOLO_TIMEOUT_SECONDS"), 300.0); });
  EXPECT_NE(err.find("KOLO_TIMEOUT_SECONDS='5min' is not a number of seconds; using the "
                     "default 300"),
            std::string::npos)
      << err;

  ScopedEnv b("KOLO_PRINT_CONFIG", "maybe");
  err = capturedStderr([] { EXPECT_FALSE(settingBool("KOLO_PRINT_CONFIG")); });
  EXPECT_NE(err.find("KOLO_PRINT_CONFIG='maybe' is not a boolean"), std::string::npos) << err;

  ScopedEnv by("KOLO_FUSION_LARGE_TENSOR", "lots");
  err = capturedStderr([] { EXPECT_EQ(settingBytes("KOLO_FUSION_LARGE_TENSOR"), 1u << 20); });
  EXPECT_NE(err.find("KOLO_FUSION_LARGE_TENSOR='lots' is not a byte size (e.g. 67108864 or 64M); "
                     "using the default 1M"),
            std::string::npos)
      << err;

  ScopedEnv c("KOLO_GPU_OPERATIONS", "cuda");
  err = capturedStderr([] { EXPECT_EQ(settingChoice("KOLO_GPU_OPERATIONS"), "auto"); });
  EXPECT_NE(err.find("KOLO_GPU_OPERATIONS='cuda' is not auto, nccl or host; using the default "
                     "auto"),
            std::string::npos)
      << err;

  ScopedEnv n("KOLO_LOCAL_RANK", "one");
  err = capturedStderr([] { EXPECT_EQ(settingIntIfSet("KOLO_LOCAL_RANK"), std::nullopt); });
  EXPECT_NE(err.find("KOLO_LOCAL_RANK='one' is not an integer; ignoring it"), std::string::npos)
      << err;
}

TEST(SettingsReaders, CheckedChoiceNamesTheVariableTheTextAndTheChoices) {
  ScopedEnv t("KOLO_TRANSPORT", "Bogus");
  auto transport = settingChoiceChecked("KOLO_TRANSPORT");
  ASSERT_FALSE(transport.hasValue());
  EXPECT_EQ(transport.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(transport.status().message(), "KOLO_TRANSPORT is 'Bogus'; expected auto, shm or tcp");
  ScopedEnv ok("KOLO_CPU_OPERATIONS", "MPI");
  EXPECT_EQ(settingChoiceChecked("KOLO_CPU_OPERATIONS").value(), "mpi");
}

TEST(SettingsReaders, KoloNameWinsOverTheHorovodAlias) {
  ScopedEnv alias("HOROVOD_FUSION_THRESHOLD", "1024");
  ScopedEnv name("KOLO_FUSION_THRESHOLD", "");
  EXPECT_EQ(settingBytes("KOLO_FUSION_THRESHOLD"), 1024u);
  SettingSource source = settingSource(*findSetting("KOLO_FUSION_THRESHOLD"));
  EXPECT_EQ(source.variable, "HOROVOD_FUSION_THRESHOLD");
  EXPECT_EQ(source.text, "1024");
  {
    ScopedEnv both("KOLO_FUSION_THRESHOLD", "2K");
    EXPECT_EQ(settingBytes("KOLO_FUSION_THRESHOLD"), 2048u);
    EXPECT_EQ(settingSource(*findSetting("KOLO_FUSION_THRESHOLD")).variable,
              "KOLO_FUSION_THRESHOLD");
  }
  // A malformed alias is reported under the alias's name, which is what the user set.
  ScopedEnv bad("HOROVOD_CACHE_CAPACITY", "x");
  ScopedEnv unset("KOLO_CACHE_CAPACITY", "");
  std::string err = capturedStderr([] { EXPECT_EQ(settingInt("KOLO_CACHE_CAPACITY"), 1024); });
  EXPECT_NE(err.find("HOROVOD_CACHE_CAPACITY='x' is not an integer"), std::string::npos) << err;
}

using SettingsDeathTest = ::testing::Test;

TEST_F(SettingsDeathTest, ReadingAnUndeclaredNameOrWithTheWrongTypeAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(settingText("KOLO_NOT_A_SETTING"), "KOLO_NOT_A_SETTING is read but not declared");
  EXPECT_DEATH(settingInt("KOLO_TRANSPORT"),
               "KOLO_TRANSPORT is declared as choice but read as int");
  EXPECT_DEATH(settingInt("KOLO_LOCAL_RANK"), "KOLO_LOCAL_RANK has no declared default");
}

}  // namespace
}  // namespace kolo
