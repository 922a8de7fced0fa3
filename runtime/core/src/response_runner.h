// ResponseRunner: the execution step of a cycle. It takes this rank's op for every response
// of the ordered list out of the TensorTable, fails the ops of error responses, lets
// FusionPlanner group the rest into batches and runs them on OpExecutor, which completes the
// handles. Work on a GPU completes later, from pollDevice(). While metrics or the timeline are
// on, the phase clock (kolo/collectives/phase_clock.h) splits each batch's time into copy,
// reduce, transfer and other for both. The fusion options and allreduce
// algorithms are SetTuning's applied settings of the cycle; the tuning rank's SetTuning is
// shown every cycle it ran.
// Thread: coordinator.
#pragma once

#include <vector>

#include "failure_agreement.h"
#include "flight_recording.h"
#include "kolo/collectives/communicator.h"
#include "kolo/core/fusion_buffer_pool.h"
#include "kolo/core/fusion_planner.h"
#include "kolo/core/response.h"
#include "op_executor.h"
#include "phase_sampler.h"
#include "set_identity.h"
#include "set_metrics.h"
#include "set_tuning.h"
#include "tensor_table.h"

namespace kolo::core {

class Timeline;

class ResponseRunner {
 public:
  // A failed host collective's status goes through `agreement` before its ops complete with
  // it. `timeline` may be null.
  ResponseRunner(const SetIdentity& set, Communicator& comm, SetTuning& tuning, TensorTable& table,
                 FlightRecording& recording, FailureAgreement& agreement, Timeline* timeline);

  // Runs the cycle's responses in order. A non-OK return means a collective failed: the
  // members may no longer be in step, so the ops of the later batches fail with it and the
  // caller stops the set.
  Status run(const std::vector<Response>& ordered);

  // How many batches are still on a GPU (their ops complete here).
  size_t pollDevice() { return executor_.pollDevice(); }
  // Before the coordinator starts: counts every batch into `metrics` (may be null).
  void setMetrics(SetMetrics* metrics) { metrics_ = metrics; }
  // Before the set stops: waits for work on a GPU until the deadline, then fails the rest.
  void drainDevice(Deadline deadline) { executor_.drainDevice(deadline); }

 private:
  // This rank's op for each (response, tensor); the ops of error responses fail here.
  BatchOps takeOps(const std::vector<Response>& ordered);
  // Takes SetTuning's settings when they changed since the last cycle.
  void applyTuning();
  // The tuning's fusion options, with largeAllreduceJoins where this set's allreduces run on
  // the shm arena.
  FusionOptions plannerOptions();
  void failBatches(const std::vector<FusedBatch>& batches, size_t from, const BatchOps& ops,
                   const Status& status);

  const SetIdentity& set_;
  Communicator& comm_;
  SetTuning& tuning_;
  uint64_t tuningVersion_ = 0;
  TensorTable& table_;
  FlightRecording& recording_;
  Timeline* timeline_;
  SetMetrics* metrics_ = nullptr;
  FusionBufferPool pool_;  // before executor_, which borrows it
  FusionPlanner planner_;
  OpExecutor executor_;
  PhaseSampler phaseSampler_;
};

}  // namespace kolo::core
