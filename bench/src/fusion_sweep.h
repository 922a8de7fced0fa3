// `kolo-bench --workload W --sweep-fusion`: replays the workload once per (fusion threshold,
// coordinator cycle time) setting and reports the fastest. Each setting gets a fresh session
// (openBenchSession, kolo/bench_interface.h) on the same world communicator: the runtime has no
// global state, and shutdown leaves the communicator idle, so no process restarts between
// settings. The timeline is off during a sweep: one file per setting would overwrite the last.
// Thread: the caller's (main) thread; each session's coordinator runs its collectives.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/bench_interface.h"
#include "kolo/collectives/communicator.h"
#include "workload_bench.h"

namespace kolo::bench {

struct FusionSetting {
  uint64_t thresholdBytes = 0;
  double cycleTimeMs = 1.0;
};

struct FusionSweepPoint {
  FusionSetting setting;
  StepTimes times;
  uint64_t wrong = 0;
};

struct FusionSweepResult {
  std::string workload;
  size_t tensors = 0;
  uint64_t bytes = 0;
  int worldSize = 1;
  int iterations = 0;
  int warmup = 0;
  uint64_t largeTensorBytes = 0;
  std::vector<FusionSweepPoint> points;  // thresholds outer, cycle times inner
};

// Every threshold x cycle time, in that order; `base` supplies every other knob.
std::vector<FusionSetting> fusionGrid(std::span<const uint64_t> thresholds,
                                      std::span<const double> cycleTimesMs);

Expected<FusionSweepResult> runFusionSweep(const std::shared_ptr<Communicator>& world,
                                           const BenchSessionConfig& base, const Workload& workload,
                                           const WorkloadOptions& options,
                                           std::span<const FusionSetting> grid);

// Index of the lowest median step (the first on ties); points must not be empty.
size_t bestFusionPoint(std::span<const FusionSweepPoint> points);
// Wrong elements over every setting.
uint64_t fusionSweepWrong(const FusionSweepResult& result);

// A row per setting (median, p99, GB/s, against the best), then "# best : ..." and the
// out-of-bounds line.
std::string formatFusionSweep(const FusionSweepResult& result, const std::string& hosts,
                              const std::string& transport);
nlohmann::json fusionSweepJson(const FusionSweepResult& result);

}  // namespace kolo::bench
