// SetTuning: the autotuner's place in a process set. Every member holds the settings the set
// runs with (applied()); the set's rank 0 of the world set, when KOLO_AUTOTUNE=1, also holds the
// Autotuner. Each cycle rank 0's vote carries its proposal() (ControlExchange), every member
// receive()s rank 0's words after the votes are gathered, and so all of them switch in the same
// cycle, before its responses are planned: fusion and algorithms stay identical on every rank
// and results stay exact. Rank 0 alone measures (its clock, its scores) and so alone decides;
// the other members only apply. Without autotuning rank 0 sends zeros and every member keeps
// its own configuration. Only the world set is tuned; other sets keep the configuration.
// Thread: coordinator.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "go_signal.h"
#include "kolo/collectives/communicator.h"
#include "kolo/core/autotuner.h"
#include "kolo/core/engine_config.h"
#include "kolo/core/response.h"
#include "kolo/core/tuned_settings.h"
#include "set_identity.h"

namespace kolo::core {

class SetTuning {
 public:
  // `go` tells (once started) whether the transport can wake the coordinator; only where it
  // cannot does the cycle time matter, and only there is it tuned.
  SetTuning(const SetIdentity& set, const Communicator& comm, const GoSignal& go,
            const EngineConfig& config);

  // What this rank's vote carries: the tuner's setting on the tuning rank (which builds its
  // tuner on the first call, on the coordinator thread), zeros elsewhere.
  TunedSettingsWords proposal();
  // Rank 0's words of cycle `cycle`: the settings every member runs from this cycle on.
  void receive(const TunedSettingsWords& words, uint64_t cycle);
  // After a cycle's responses ran (they began at `start`); the tuning rank measures.
  void observe(std::span<const Response> ordered, Clock::time_point start);

  const TunedSettings& applied() const { return applied_; }
  // Grows each time applied() changes, so users re-read it only then.
  uint64_t version() const { return version_; }
  FusionOptions fusionOptions() const;
  AllreduceAlgorithms allreduceAlgorithms() const;
  std::chrono::microseconds cycleTime() const {
    return std::chrono::microseconds(applied_.cycleTimeUs);
  }

 private:
  void startTuner();

  const SetIdentity& set_;
  const Communicator& comm_;
  const GoSignal& go_;
  AutotuneOptions options_;
  bool tunes_ = false;  // the world set's rank 0 with KOLO_AUTOTUNE=1
  TunedSettings configured_;
  FusionOptions fusionBase_;
  std::vector<AllreduceCandidate> known_;  // every allreduce algorithm, for names
  std::unique_ptr<Autotuner> tuner_;       // the tuning rank only
  TunedSettings applied_;
  uint64_t version_ = 0;
  bool reportedDone_ = false;
};

}  // namespace kolo::core
