#include "kolo/core/autotuner.h"

#include <algorithm>

#include "kolo/base/settings.h"

namespace kolo::core {
namespace {

// Coordinate descent visits the knobs in this order.
enum Knob : size_t {
  kFusionThreshold,
  kLargeTensor,
  kAlgorithmSmall,
  kAlgorithmMedium,
  kAlgorithmLarge,
  kCycleTime,
  kKnobCount
};

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = kKiB * 1024;

template <typename T>
std::vector<T> withConfigured(std::vector<T> grid, T configured) {
  grid.push_back(configured);
  std::sort(grid.begin(), grid.end());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  return grid;
}

int atLeast(int64_t value, int floor) {
  return static_cast<int>(std::clamp<int64_t>(value, floor, 1'000'000));
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

}  // namespace

AutotuneOptions AutotuneOptions::fromEnv() {
  AutotuneOptions o;
  o.enabled = settingBool("KOLO_AUTOTUNE");
  o.logPath = settingText("KOLO_AUTOTUNE_LOG").value_or("");
  o.fixed.fusionThreshold = settingText("KOLO_FUSION_THRESHOLD").has_value();
  o.fixed.largeTensor = settingText("KOLO_FUSION_LARGE_TENSOR").has_value();
  o.fixed.cycleTime = settingText("KOLO_CYCLE_TIME").has_value();
  const std::string algo = settingText("KOLO_ALLREDUCE_ALGO").value_or("auto");
  o.fixed.allreduceAlgorithm = !algo.empty() && algo != "auto" && algo != "AUTO";
  o.warmupSamples = atLeast(settingInt("KOLO_AUTOTUNE_WARMUP_SAMPLES"), 0);
  o.stepsPerSample = atLeast(settingInt("KOLO_AUTOTUNE_STEPS_PER_SAMPLE"), 1);
  o.samplesPerTrial = atLeast(settingInt("KOLO_AUTOTUNE_SAMPLES_PER_TRIAL"), 1);
  o.maxTrials = atLeast(settingInt("KOLO_AUTOTUNE_MAX_TRIALS"), 1);
  return o;
}

int64_t AutotuneOptions::maxSteps() const {
  const int64_t perSample = stepsPerSample;
  return warmupSamples * perSample + int64_t{maxTrials} * (1 + samplesPerTrial * perSample);
}

AutotuneSpace AutotuneSpace::standard(const TunedSettings& configured,
                                      std::vector<AllreduceCandidate> algorithms,
                                      bool tuneCycleTime, const FixedKnobs& fixed) {
  AutotuneSpace s;
  s.fusionThresholds = withConfigured<uint64_t>(
      {0, 256 * kKiB, 1 * kMiB, 4 * kMiB, 16 * kMiB, 64 * kMiB}, configured.fusionThresholdBytes);
  s.largeTensorBytes = withConfigured<uint64_t>(
      {64 * kKiB, 256 * kKiB, 1 * kMiB, 4 * kMiB, 16 * kMiB}, configured.largeTensorBytes);
  s.allreduceAlgorithms = std::move(algorithms);
  // A fixed knob's grid is its configured value alone: the search measures nothing else.
  if (fixed.fusionThreshold) s.fusionThresholds = {configured.fusionThresholdBytes};
  if (fixed.largeTensor) s.largeTensorBytes = {configured.largeTensorBytes};
  if (fixed.allreduceAlgorithm) s.allreduceAlgorithms.clear();

  if (tuneCycleTime)
    s.cycleTimesUs = withConfigured<uint32_t>({500, 1000, 2000, 5000}, configured.cycleTimeUs);
  return s;
}

Autotuner::Autotuner(const AutotuneOptions& options, const TunedSettings& configured,
                     AutotuneSpace space, std::optional<AutotuneLog> log)
    : options_(options),
      space_(std::move(space)),
      log_(std::move(log)),
      current_(configured),
      best_(configured),
      warmupLeft_(options.warmupSamples) {}

bool Autotuner::observe(std::span<const Response> responses, double startSeconds) {
  if (done_) return false;
  bool repeat = false;
  for (const Response& p : responses) {
    if (p.isError()) continue;
    for (const std::string& name : p.tensorNames) repeat = repeat || stepNames_.contains(name);
  }
  bool changed = false;
  if (repeat && stepOpen_) changed = endStep(startSeconds);
  if (done_) return changed;
  if (!stepOpen_) {
    stepOpen_ = true;
    stepStart_ = startSeconds;
    stepBytes_ = 0;
  }
  for (const Response& p : responses) {
    if (p.isError()) continue;
    for (size_t t = 0; t < p.tensorNames.size(); ++t) {
      stepNames_.insert(p.tensorNames[t]);
      stepBytes_ += p.tensorBytes(t);
    }
  }
  return changed;
}

bool Autotuner::endStep(double now) {
  ++steps_;
  const double seconds = now - stepStart_;
  const uint64_t bytes = stepBytes_;
  stepOpen_ = false;
  stepNames_.clear();
  if (discardStep_) {
    discardStep_ = false;
    return false;
  }
  ++sampleSteps_;
  sampleBytes_ += bytes;
  sampleSeconds_ += seconds;
  if (sampleSteps_ < options_.stepsPerSample) return false;
  const double score =
      sampleSeconds_ > 0.0 ? static_cast<double>(sampleBytes_) / sampleSeconds_ : 0.0;
  sampleSteps_ = 0;
  sampleBytes_ = 0;
  sampleSeconds_ = 0.0;
  return endSample(score);
}

bool Autotuner::endSample(double score) {
  if (warmupLeft_ > 0) {
    --warmupLeft_;
    return false;
  }
  samples_.push_back(score);
  if (static_cast<int>(samples_.size()) < options_.samplesPerTrial) return false;
  const double trialScore = median(std::move(samples_));
  samples_.clear();
  return endTrial(trialScore);
}

bool Autotuner::endTrial(double score) {
  ++trials_;
  measured_.emplace_back(current_, score);
  if (log_) log_->write(current_, score, space_.allreduceAlgorithms);
  if (bestScore_ < 0.0 || score > bestScore_ * kMinGain) {
    best_ = current_;
    bestScore_ = score;
  }
  const TunedSettings ran = current_;
  if (!advance()) finish();
  const bool changed = !(current_ == ran);
  discardStep_ = changed;
  return changed;
}

bool Autotuner::advance() {
  if (trials_ >= options_.maxTrials) return false;
  while (knob_ < kKnobCount) {
    if (value_ >= knobSize(knob_)) {
      ++knob_;
      value_ = 0;
      continue;
    }
    const TunedSettings candidate = withKnob(best_, knob_, value_++);
    if (measured(candidate) != nullptr) continue;
    current_ = candidate;
    return true;
  }
  return false;
}

void Autotuner::finish() {
  done_ = true;
  current_ = best_;
  if (log_) log_->write(best_, bestScore_, space_.allreduceAlgorithms);
  stepNames_.clear();
  samples_.clear();
}

size_t Autotuner::knobSize(size_t knob) const {
  switch (knob) {
    case kFusionThreshold:
      return space_.fusionThresholds.size();
    case kLargeTensor:
      return space_.largeTensorBytes.size();
    case kAlgorithmSmall:
    case kAlgorithmMedium:
    case kAlgorithmLarge:
      return space_.allreduceAlgorithms.size() < 2 ? 0 : space_.allreduceAlgorithms.size();
    case kCycleTime:
      return space_.cycleTimesUs.size();
    default:
      return 0;
  }
}

TunedSettings Autotuner::withKnob(TunedSettings base, size_t knob, size_t value) const {
  switch (knob) {
    case kFusionThreshold:
      base.fusionThresholdBytes = space_.fusionThresholds[value];
      break;
    case kLargeTensor:
      base.largeTensorBytes = space_.largeTensorBytes[value];
      break;
    case kAlgorithmSmall:
    case kAlgorithmMedium:
    case kAlgorithmLarge:
      base.allreduceAlgorithm[knob - kAlgorithmSmall] = space_.allreduceAlgorithms[value].id;
      break;
    case kCycleTime:
      base.cycleTimeUs = space_.cycleTimesUs[value];
      break;
    default:
      break;
  }
  return base;
}

const double* Autotuner::measured(const TunedSettings& s) const {
  for (const auto& [settings, score] : measured_) {
    if (settings == s) return &score;
  }
  return nullptr;
}

}  // namespace kolo::core
