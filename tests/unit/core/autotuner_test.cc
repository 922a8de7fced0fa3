// Autotuner against synthetic jobs: a score function where one setting is clearly best, the
// step and trial bounds, the CSV log's columns and rows, and the wire form of TunedSettings.
#include "kolo/core/autotuner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace kolo::core {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
const std::vector<AllreduceCandidate> kAlgorithms = {
    {0, "auto"}, {3, "shm"}, {2, "rd"}, {1, "ring"}};

Response tensor(const std::string& name, int64_t elements) {
  Response p;
  p.tensorNames = {name};
  p.dtype = DataType::kFloat32;
  p.tensorElements = {elements};
  return p;
}

AutotuneOptions quickOptions() {
  AutotuneOptions o;
  o.enabled = true;
  o.warmupSamples = 1;
  o.stepsPerSample = 2;
  o.samplesPerTrial = 3;
  o.maxTrials = 40;
  return o;
}

// Runs steps of three tensors (two cycles each) until the tuner is done or `limit` steps
// passed; a step lasts its bytes divided by `score(setting in effect)`. Like the runtime, a
// change the tuner announces takes effect from the next cycle on.
int64_t runJob(Autotuner& tuner, const std::function<double(const TunedSettings&)>& score,
               int64_t limit) {
  const std::vector<Response> first = {tensor("layer2", 1000), tensor("layer1", 3000)};
  const std::vector<Response> second = {tensor("layer0", 250000)};
  const double bytes = 4.0 * (1000 + 3000 + 250000);
  double now = 0.0;
  TunedSettings inEffect = tuner.current();
  int64_t step = 0;
  for (; step < limit && !tuner.done(); ++step) {
    const double stepSeconds = bytes / score(inEffect);
    tuner.observe(first, now);
    inEffect = tuner.current();
    tuner.observe(second, now + stepSeconds / 2);
    inEffect = tuner.current();
    now += stepSeconds;
  }
  return step;
}

TunedSettings configured() {
  TunedSettings s;
  s.fusionThresholdBytes = 64 * kMiB;
  s.largeTensorBytes = kMiB;
  return s;
}

// Best: 4 MiB threshold, 256 KiB cutoff, rd for small, ring for medium, shm for large. Each knob
// multiplies the score, so the best setting is 16 times the worst's neighbours.
double separableScore(const TunedSettings& s) {
  double score = 1e9;
  if (s.fusionThresholdBytes != 4 * kMiB) score /= 2;
  if (s.largeTensorBytes != 256 * 1024) score /= 2;
  if (s.allreduceAlgorithm[0] != 2) score /= 2;
  if (s.allreduceAlgorithm[1] != 1) score /= 2;
  if (s.allreduceAlgorithm[2] != 3) score /= 2;
  return score;
}

TEST(Autotuner, ConvergesToTheClearlyBestSettingWithinItsStepBound) {
  const AutotuneOptions options = quickOptions();
  Autotuner tuner(options, configured(),
                  AutotuneSpace::standard(configured(), kAlgorithms, /*tuneCycleTime=*/false),
                  std::nullopt);
  const int64_t steps = runJob(tuner, separableScore, options.maxSteps() + 10);
  ASSERT_TRUE(tuner.done()) << "not done after " << steps << " steps";
  EXPECT_LE(tuner.steps(), options.maxSteps());
  TunedSettings best = configured();
  best.fusionThresholdBytes = 4 * kMiB;
  best.largeTensorBytes = 256 * 1024;
  best.allreduceAlgorithm = {2, 1, 3};
  EXPECT_EQ(tuner.current(), best) << describeTunedSettings(tuner.current(), kAlgorithms)
                                   << " instead of " << describeTunedSettings(best, kAlgorithms);
  EXPECT_NEAR(tuner.bestScore(), 1e9, 1.0);  // exact but for the clock sums' rounding
  // One pass: the configured setting, then each value of each knob not measured yet
  // (6 + 5 grid values minus the configured ones, 4 algorithms minus auto per class).
  EXPECT_EQ(tuner.trials(), 1 + 5 + 4 + 3 * 3);

  // Done means done: no more measuring, the setting stays.
  const int64_t stepsWhenDone = tuner.steps();
  runJob(
      tuner, [](const TunedSettings&) { return 1.0; }, 5);
  EXPECT_EQ(tuner.steps(), stepsWhenDone);
  EXPECT_EQ(tuner.current(), best);
}

TEST(Autotuner, KeepsTheConfiguredSettingWhenNothingBeatsIt) {
  const AutotuneOptions options = quickOptions();
  Autotuner tuner(options, configured(),
                  AutotuneSpace::standard(configured(), kAlgorithms, /*tuneCycleTime=*/true),
                  std::nullopt);
  const auto score = [](const TunedSettings& s) { return s == configured() ? 2e9 : 1e9; };
  runJob(tuner, score, options.maxSteps() + 10);
  ASSERT_TRUE(tuner.done());
  EXPECT_EQ(tuner.current(), configured());
  // The cycle time is a knob too here: 0.5, 2 and 5 ms besides the configured 1 ms.
  EXPECT_EQ(tuner.trials(), 1 + 5 + 4 + 3 * 3 + 3);
}

TEST(Autotuner, IgnoresGainsWithinTheNoiseMargin) {
  const AutotuneOptions options = quickOptions();
  Autotuner tuner(options, configured(), AutotuneSpace::standard(configured(), kAlgorithms, false),
                  std::nullopt);
  // Every other setting scores 4 % more, the best of them 4.9 % more: none clears the 5 %
  // margin over the configured setting, which a plain "highest score" would have left.
  const auto score = [](const TunedSettings& s) {
    if (s == configured()) return 1e9;
    return s.fusionThresholdBytes == 4 * kMiB ? 1.049e9 : 1.04e9;
  };
  runJob(tuner, score, options.maxSteps() + 10);
  ASSERT_TRUE(tuner.done());
  EXPECT_EQ(tuner.current(), configured());
}

TEST(Autotuner, LeavesTheKnobsTheUserSetAlone) {
  const AutotuneOptions options = quickOptions();
  FixedKnobs fixed;
  fixed.fusionThreshold = true;
  fixed.allreduceAlgorithm = true;
  Autotuner tuner(options, configured(),
                  AutotuneSpace::standard(configured(), kAlgorithms, false, fixed), std::nullopt);
  runJob(tuner, separableScore, options.maxSteps() + 10);
  ASSERT_TRUE(tuner.done());
  // Only the large-tensor cutoff was tuned: the configured setting, then its 4 other values.
  EXPECT_EQ(tuner.trials(), 1 + 4);
  TunedSettings expected = configured();
  expected.largeTensorBytes = 256 * 1024;
  EXPECT_EQ(tuner.current(), expected);
}

TEST(Autotuner, StopsAfterMaxTrialsWithTheBestSoFar) {
  AutotuneOptions options = quickOptions();
  options.maxTrials = 3;
  Autotuner tuner(options, configured(), AutotuneSpace::standard(configured(), kAlgorithms, false),
                  std::nullopt);
  runJob(tuner, separableScore, options.maxSteps() + 10);
  ASSERT_TRUE(tuner.done());
  EXPECT_EQ(tuner.trials(), 3);
  EXPECT_LE(tuner.steps(), options.maxSteps());
  // Trials: configured (64M), then thresholds 0 and 256K: none is the 4M that scores best, so
  // the configured one stays (ties keep the earlier).
  EXPECT_EQ(tuner.current(), configured());
}

TEST(Autotuner, WritesOneCsvRowPerTrialThenTheChosenSetting) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("kolo_autotune_test." + std::to_string(::getpid()) + ".csv"))
                               .string();
  auto log = AutotuneLog::open(path);
  ASSERT_TRUE(log.hasValue()) << log.status().toString();
  const AutotuneOptions options = quickOptions();
  Autotuner tuner(options, configured(), AutotuneSpace::standard(configured(), kAlgorithms, false),
                  std::move(log.value()));
  runJob(tuner, separableScore, options.maxSteps() + 10);
  ASSERT_TRUE(tuner.done());

  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::remove(path.c_str());
  ASSERT_EQ(lines.size(), 1u + static_cast<size_t>(tuner.trials()) + 1u);
  EXPECT_EQ(lines[0], AutotuneLog::kHeader);
  // The first trial is the configured setting: 1 ms, 64 MiB, 1 MiB, auto everywhere.
  EXPECT_EQ(lines[1].substr(0, lines[1].rfind(',')), "1,64,1,auto,auto,auto");
  // Its score: every knob but none at its best, 1e9 / 2^5 bytes per second.
  EXPECT_NEAR(std::stod(lines[1].substr(lines[1].rfind(',') + 1)), 1e9 / 32, 1e2);
  for (const std::string& row : lines) {
    EXPECT_EQ(std::count(row.begin(), row.end(), ','), 6) << row;
  }
  EXPECT_EQ(lines.back(), "1,4,0.25,rd,ring,shm,1e+09");
}

TEST(TunedSettings, WireFormRoundTripsAndZeroMeansNone) {
  TunedSettings s;
  s.fusionThresholdBytes = 123456789;
  s.largeTensorBytes = 4 * kMiB;
  s.cycleTimeUs = 2500;
  s.allreduceAlgorithm = {2, 0, 4};
  const auto decoded = decodeTunedSettings(encodeTunedSettings(s));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, s);
  EXPECT_FALSE(decodeTunedSettings(TunedSettingsWords{}).has_value());
  EXPECT_EQ(allreduceSizeClass(0), 0u);
  EXPECT_EQ(allreduceSizeClass(64 * 1024 - 1), 0u);
  EXPECT_EQ(allreduceSizeClass(64 * 1024), 1u);
  EXPECT_EQ(allreduceSizeClass(kMiB), 2u);
  AllreduceAlgorithms names;
  names.byClass = {"rd", "auto", "ring"};
  EXPECT_EQ(names.forBytes(100), "rd");
  EXPECT_EQ(names.forBytes(8 * kMiB), "ring");
}

}  // namespace
}  // namespace kolo::core
