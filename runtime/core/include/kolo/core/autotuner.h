// Autotuner (KOLO_AUTOTUNE=1, alias HOROVOD_AUTOTUNE): searches, during the first steps of a
// real job, for the TunedSettings that run the job's collectives fastest, then keeps them.
//
// Measuring. A step is recognised the way Horovod counts them: it ends when a tensor name
// comes back that the current step already ran (a training step submits every gradient once).
// A sample is KOLO_AUTOTUNE_STEPS_PER_SAMPLE steps; its score is the bytes the steps ran divided
// by their wall time (bytes per second; higher is better). The first
// KOLO_AUTOTUNE_WARMUP_SAMPLES samples of the job are discarded. A trial runs one setting for
// KOLO_AUTOTUNE_SAMPLES_PER_TRIAL samples and scores it with their median, which a single slow
// step (a page fault, a descheduled rank) cannot move. The step in which a setting changes is
// discarded too: it ran partly under the previous setting.
//
// Searching. Coordinate descent over a small grid per knob, in a fixed order: the fusion
// threshold, the large-tensor cutoff, the allreduce algorithm of each size class (small,
// medium, large), then the cycle time (only where the transport cannot wake the coordinator,
// the one case it matters). The first trial runs the configured setting; each knob then tries
// each of its values with the other knobs at their best so far and keeps the best; a value
// replaces the best so far only when it scores kMinGain (5 %) higher, so a difference within the
// noise of a few steps does not move the job off the configured setting. A setting already measured
// is not run again. After one pass, or after KOLO_AUTOTUNE_MAX_TRIALS trials, the best setting
// stays and measuring stops. As in Horovod, a knob the user set in the environment
// (KOLO_FUSION_THRESHOLD, KOLO_FUSION_LARGE_TENSOR, KOLO_CYCLE_TIME, a KOLO_ALLREDUCE_ALGO other
// than auto, or their aliases) is not tuned. The search is deterministic given the scores, and
// bounded: at most maxSteps() steps.
//
// Horovod's autotuner fits a Gaussian process over the fusion threshold and cycle time; with a
// handful of knobs of a few values each, a grid visits every value for a comparable number of
// steps, needs no noise model, and its choice is easy to read back from the log.
// Thread: one (the coordinator's; plain class without threads or clocks of its own).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "kolo/core/autotune_log.h"
#include "kolo/core/response.h"
#include "kolo/core/tuned_settings.h"

namespace kolo::core {

// The knobs the user fixed by setting them in the environment; the tuner leaves them alone.
struct FixedKnobs {
  bool fusionThreshold = false;     // KOLO_FUSION_THRESHOLD
  bool largeTensor = false;         // KOLO_FUSION_LARGE_TENSOR
  bool cycleTime = false;           // KOLO_CYCLE_TIME
  bool allreduceAlgorithm = false;  // KOLO_ALLREDUCE_ALGO other than auto
};

struct AutotuneOptions {
  bool enabled = false;  // KOLO_AUTOTUNE
  std::string logPath;   // KOLO_AUTOTUNE_LOG; empty: no log
  FixedKnobs fixed;
  int warmupSamples = 3;
  int stepsPerSample = 10;
  int samplesPerTrial = 3;
  int maxTrials = 30;

  static AutotuneOptions fromEnv();
  // The most steps tuning can take: the warmup samples, then per trial one discarded step and
  // its samples.
  int64_t maxSteps() const;
};

// The values each knob may take. The configured value is always among them.
struct AutotuneSpace {
  std::vector<uint64_t> fusionThresholds;
  std::vector<uint64_t> largeTensorBytes;
  std::vector<AllreduceCandidate> allreduceAlgorithms;  // "auto" first; fewer than 2: not tuned
  std::vector<uint32_t> cycleTimesUs;                   // empty: not tuned

  // Kolo's grids around `configured`: thresholds 0 (no fusion), 256K, 1M, 4M, 16M, 64M; cutoffs
  // 64K, 256K, 1M, 4M, 16M; cycle times 0.5, 1, 2, 5 ms when `tuneCycleTime`. A knob in
  // `fixed` keeps only its configured value.
  static AutotuneSpace standard(const TunedSettings& configured,
                                std::vector<AllreduceCandidate> algorithms, bool tuneCycleTime,
                                const FixedKnobs& fixed = {});
};

class Autotuner {
 public:
  // How much higher a score must be to replace the best so far.
  static constexpr double kMinGain = 1.05;

  // `log` may be empty (no KOLO_AUTOTUNE_LOG).
  Autotuner(const AutotuneOptions& options, const TunedSettings& configured, AutotuneSpace space,
            std::optional<AutotuneLog> log);

  // One cycle's responses, which began running at `startSeconds` (any monotonic clock, in
  // seconds). Returns true when the setting to run changed (a new trial, or the final choice).
  bool observe(std::span<const Response> responses, double startSeconds);

  // The setting every member should run now.
  const TunedSettings& current() const { return current_; }
  bool done() const { return done_; }
  // Steps seen so far (counted until the tuner is done).
  int64_t steps() const { return steps_; }
  int trials() const { return trials_; }
  // The chosen setting's score (bytes per second), once done.
  double bestScore() const { return bestScore_; }
  const AutotuneSpace& space() const { return space_; }

 private:
  bool endStep(double now);
  bool endSample(double score);
  bool endTrial(double score);
  // Moves to the next setting not measured yet; false when the search is over.
  bool advance();
  size_t knobSize(size_t knob) const;
  TunedSettings withKnob(TunedSettings base, size_t knob, size_t value) const;
  const double* measured(const TunedSettings& s) const;
  void finish();

  AutotuneOptions options_;
  AutotuneSpace space_;
  std::optional<AutotuneLog> log_;
  TunedSettings current_;
  TunedSettings best_;
  double bestScore_ = -1.0;
  std::vector<std::pair<TunedSettings, double>> measured_;
  size_t knob_ = 0;   // coordinate descent position: knob, then value
  size_t value_ = 0;  // the next value of knob_ to try
  bool done_ = false;

  // Step and sample accounting.
  std::unordered_set<std::string> stepNames_;
  bool stepOpen_ = false;
  double stepStart_ = 0.0;
  uint64_t stepBytes_ = 0;
  bool discardStep_ = false;
  int warmupLeft_ = 0;
  int sampleSteps_ = 0;
  uint64_t sampleBytes_ = 0;
  double sampleSeconds_ = 0.0;
  std::vector<double> samples_;
  int64_t steps_ = 0;
  int trials_ = 0;
};

}  // namespace kolo::core
