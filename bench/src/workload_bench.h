// `kolo-bench --workload`: one training step's gradient exchange replayed through the Kolo
// runtime. A step submits every tensor of the workload (allreduce average, float32) without
// waiting, in backward order, then waits for every handle; the step time is the slowest
// rank's, the figure is the median over steps. With --compare mpi the same bytes go through
// Open MPI both ways a framework would: one in-place MPI_Allreduce per tensor, and one flat
// MPI_Allreduce over a packed buffer (pack and unpack copies included and reported apart).
// Thread: the caller's (main) thread; the session's coordinator runs the collectives.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kolo/base/status.h"
#include "kolo/kolo.hpp"
#include "timeline_breakdown.h"
#include "gradient_arena.h"
#include "workload.h"

namespace kolo::bench {

class MpiJob;  // mpi_compare.h

struct WorkloadOptions {
  int iterations = 20;
  int warmup = 5;
  double timeoutSeconds = 120.0;  // deadline of each handle wait
  // The session's KOLO_TIMELINE file; rank 0 reads the breakdown from it after shutdown.
  std::string timelinePath;
};

struct WorkloadResult {
  std::string workload;
  // "allreduce" (runWorkload) or "sharded" (runShardedWorkload, sharded_workload.h): the
  // report's wording and its MPI strategies' names follow it.
  std::string mode = "allreduce";
  size_t tensors = 0;
  uint64_t elements = 0;
  uint64_t bytes = 0;
  int worldSize = 1;
  int iterations = 0;
  int warmup = 0;
  uint64_t fusionThresholdBytes = 0;
  uint64_t largeTensorBytes = 0;
  StepTimes kolo;
  uint64_t wrong = 0;  // elements of the checked step that differ, over every rank
  std::optional<StepTimes> mpiPerTensor;
  std::optional<StepTimes> mpiPacked;      // pack + MPI collective(s) + unpack
  std::optional<StepTimes> mpiPackCopies;  // the pack and unpack part of it
  // Filled by the caller from the timeline, after the session closed it.
  std::optional<TimelineBreakdown> breakdown;
  int timelineSteps = 0;         // steps the timeline covers (warmup, timed and the checked one)
  double localAllStepsMs = 0.0;  // this rank's wall time over those steps (differs by rank)
};

// The result's description of the run (workload, sizes, world, steps, the session's fusion
// settings), before anything is timed.
Expected<WorkloadResult> describeWorkloadRun(const Session& session, const Workload& workload,
                                             const WorkloadOptions& options);

// Runs warmup + timed steps, one checked step, then the MPI strategies when `mpi` is set.
// Every rank returns the same result.
Expected<WorkloadResult> runWorkload(const Session& session, const Workload& workload,
                                     const WorkloadOptions& options, MpiJob* mpi);

// The tensor names the workload submits: "<workload>.<tensor>" (the timeline's row names).
std::string workloadTensorPrefix(const Workload& workload);

// What rank 0 prints: the strategies' table, the ratio of Kolo to the faster MPI strategy,
// the breakdown (or how to get it), "# median step : X ms" and the out-of-bounds line.
std::string formatWorkloadReport(const WorkloadResult& result, const std::string& hosts,
                                 const std::string& transport);
nlohmann::json workloadJson(const WorkloadResult& result);

}  // namespace kolo::bench
