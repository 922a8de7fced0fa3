#include "set_tuning.h"

#include <algorithm>

#include "kolo/base/logging.h"
#include "kolo/collectives/algorithm_registry.h"

namespace kolo::core {
namespace {

double seconds(Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

SetTuning::SetTuning(const SetIdentity& set, const Communicator& comm, const GoSignal& go,
                     const EngineConfig& config)
    : set_(set),
      comm_(comm),
      go_(go),
      options_(config.autotune),
      tunes_(config.autotune.enabled && set.id == kWorldProcessSet && comm.rank() == 0),
      fusionBase_(config.fusion) {
  configured_.fusionThresholdBytes = config.fusion.thresholdBytes;
  configured_.largeTensorBytes = config.fusion.largeTensorBytes;
  configured_.cycleTimeUs =
      static_cast<uint32_t>(std::clamp(config.cycleTimeMs * 1000.0, 1.0, 4.0e9));
  applied_ = configured_;
  for (const coll::AlgorithmEntry& e : coll::algorithmsFor(coll::CollectiveKind::kAllreduce)) {
    known_.push_back({static_cast<uint8_t>(e.id), e.name});
  }
}

void SetTuning::startTuner() {
  // The candidates: auto, then every allreduce algorithm that can run on this set. canRun looks
  // only at world-wide facts (a shared arena, subgroups), the same on every member.
  std::vector<AllreduceCandidate> candidates = {{0, "auto"}};
  const coll::SelectionContext ctx = coll::selectionContext(comm_, size_t{1} << 20);
  for (const coll::AlgorithmEntry& e : coll::algorithmsFor(coll::CollectiveKind::kAllreduce)) {
    if (coll::canRun(e, ctx)) candidates.push_back({static_cast<uint8_t>(e.id), e.name});
  }
  std::optional<AutotuneLog> log;
  if (!options_.logPath.empty()) {
    auto opened = AutotuneLog::open(options_.logPath);
    if (opened) {
      log = std::move(opened.value());
    } else {
      KOLO_LOG(kWarning, "autotune", "{}; tuning without a log", opened.status().toString());
    }
  }
  AutotuneSpace space =
      AutotuneSpace::standard(configured_, std::move(candidates), !go_.canWake(), options_.fixed);
  tuner_ = std::make_unique<Autotuner>(options_, configured_, std::move(space), std::move(log));
  KOLO_LOG(kInfo, "autotune",
           "tuning process set {} from {}: {} warmup samples, {} steps per sample, {} samples per "
           "trial, at most {} trials ({} steps)",
           set_.id, describeTunedSettings(configured_, known_), options_.warmupSamples,
           options_.stepsPerSample, options_.samplesPerTrial, options_.maxTrials,
           options_.maxSteps());
}

TunedSettingsWords SetTuning::proposal() {
  if (!tunes_) return {};
  if (!tuner_) startTuner();
  return encodeTunedSettings(tuner_->current());
}

void SetTuning::receive(const TunedSettingsWords& words, uint64_t cycle) {
  const TunedSettings next = decodeTunedSettings(words).value_or(configured_);
  if (next == applied_) return;
  applied_ = next;
  ++version_;
  KOLO_LOG(kDebug, "autotune", "process set {} cycle {}: applying {}", set_.id, cycle,
           describeTunedSettings(applied_, known_));
}

void SetTuning::observe(std::span<const Response> ordered, Clock::time_point start) {
  if (!tuner_ || tuner_->done()) return;
  tuner_->observe(ordered, seconds(start));
  if (tuner_->done() && !reportedDone_) {
    reportedDone_ = true;
    KOLO_LOG(kInfo, "autotune",
             "process set {} settled after {} trials ({} steps): {} (score {:.4g} bytes/s)",
             set_.id, tuner_->trials(), tuner_->steps(),
             describeTunedSettings(tuner_->current(), known_), tuner_->bestScore());
  }
}

FusionOptions SetTuning::fusionOptions() const {
  FusionOptions o = fusionBase_;
  o.thresholdBytes = applied_.fusionThresholdBytes;
  o.largeTensorBytes = applied_.largeTensorBytes;
  return o;
}

AllreduceAlgorithms SetTuning::allreduceAlgorithms() const {
  AllreduceAlgorithms a;
  for (size_t c = 0; c < kTunedSizeClasses; ++c) {
    const uint8_t id = applied_.allreduceAlgorithm[c];
    if (id == 0) continue;
    for (const AllreduceCandidate& k : known_) {
      if (k.id == id) a.byClass[c] = k.name;
    }
  }
  return a;
}

}  // namespace kolo::core
