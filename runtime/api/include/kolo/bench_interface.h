// What Kolo's benchmarks (bench/, kolo-bench) may reach below kolo.hpp, and why. Everything
// else they use is public: kolo.hpp's Session, Tensor and Handle for the runtime path (so a
// row times what a framework sees: submit, negotiation or cache hit, fusion, collective,
// handle ready), and the collectives' public headers (kolo/collectives/*) for the sweeps that
// call one collective on a Communicator directly. A program has no use for the three things
// below; a benchmark needs them:
//   - a Session over a Communicator it already connected: kolo-bench times the raw
//     collectives and the runtime path in one world, and --sweep-fusion opens a fresh runtime
//     per setting on the same world instead of restarting the processes;
//   - the coordinator cycle time, which --sweep-fusion varies next to the fusion threshold;
//   - autotuning for one session (--autotune times a default and a tuned session in one run);
//   - the settings the session runs with, which the reports print.
// Nothing here is part of the C ABI or the adapters' API (tests/lint/check_layering.sh keeps
// adapters/ off it).
// Thread: any, as kolo.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "kolo/kolo.hpp"

namespace kolo {

class Communicator;  // kolo/collectives/communicator.h

struct BenchSessionConfig {
  SessionConfig session;              // unset fields keep the KOLO_* environment's values
  std::optional<double> cycleTimeMs;  // KOLO_CYCLE_TIME
  std::optional<bool> autotune;       // KOLO_AUTOTUNE
};

// A Session that owns `world` from now on: every exchange on it must go through the session
// until shutdown() returns (the coordinator is then idle, and the communicator may serve a
// next session or direct collectives again).
Expected<Session> openBenchSession(std::shared_ptr<Communicator> world,
                                   const BenchSessionConfig& config = {});

struct BenchSessionSettings {
  uint64_t fusionThresholdBytes = 0;  // 0: no fusion
  uint64_t largeTensorBytes = 0;      // at or above: reduced in place, never packed
  double cycleTimeMs = 0.0;
  std::string timelinePath;  // empty: no timeline
  // With autotuning: the most steps it can take before it settles (AutotuneOptions::maxSteps);
  // 0 without.
  int64_t autotuneStepBound = 0;
};
// kInvalidUsage for a session that was never initialized or was moved from.
Expected<BenchSessionSettings> benchSessionSettings(const Session& session);

}  // namespace kolo
