#include "response_runner.h"

#include <algorithm>
#include <string>

#include "kolo/base/fault_injection.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/phase_clock.h"
#include "timeline.h"

namespace kolo::core {

ResponseRunner::ResponseRunner(const SetIdentity& set, Communicator& comm, SetTuning& tuning,
                               TensorTable& table, FlightRecording& recording,
                               FailureAgreement& agreement, Timeline* timeline)
    : set_(set),
      comm_(comm),
      tuning_(tuning),
      tuningVersion_(tuning.version()),
      table_(table),
      recording_(recording),
      timeline_(timeline),
      planner_(plannerOptions()),
      executor_(comm, set.members, pool_) {
  executor_.setFailureFilter([&agreement](Status s) { return agreement.agree(std::move(s)); });
}

Status ResponseRunner::run(const std::vector<Response>& ordered) {
  if (ordered.empty()) return Status::ok();
  const Clock::time_point cycleStart = Clock::now();
  applyTuning();
  const BatchOps ops = takeOps(ordered);
  const std::vector<FusedBatch> batches = planner_.plan(ordered);
  // The phase clock runs on this thread while someone reads it, and only around the batches
  // (the negotiation's own exchanges are not read): every batch for an open timeline, the
  // large ones and a sample of the small ones for metrics alone (PhaseSampler).
  const bool clockAll = timeline_ && timeline_->active();
  struct ClockOff {
    ~ClockOff() { PhaseClock::setEnabled(false); }
  } clockOff;
  for (size_t b = 0; b < batches.size(); ++b) {
    const bool clocked = clockAll || (metrics_ && phaseSampler_.clock(batches[b].totalBytes));
    PhaseClock::setEnabled(clocked);
    const PhaseTotals phasesBefore = PhaseClock::totals();
    const Clock::time_point start = Clock::now();
    for (const FusedEntry& e : batches[b].entries) {
      recording_.update(ops[e.response][e.tensor], FlightRecorder::State::kRunning);
    }
    // Numbers the batch's tensors for KOLO_FAULT_INJECT in the order every rank runs them.
    FaultOpScope faultOp(set_.globalRank, opTypeName(batches[b].op),
                         static_cast<int64_t>(batches[b].entries.size()));
    Status s = executor_.run(batches[b], ordered, ops);
    for (const FusedEntry& e : batches[b].entries) {
      recording_.update(ops[e.response][e.tensor],
                        s.isOk() ? FlightRecorder::State::kDone : FlightRecorder::State::kFailed,
                        s);
    }
    const Clock::time_point end = Clock::now();
    const PhaseTotals phases = clocked ? PhaseClock::totals().since(phasesBefore) : PhaseTotals{};
    if (metrics_) {
      metrics_->recordBatch(batches[b], ops, start, end, s.isOk(), clocked ? &phases : nullptr);
    }
    if (timeline_) {
      timeline_->batch(set_.id, batches[b], ordered, start, end, executor_.lastPhases().packed,
                       executor_.lastPhases().reduced, clocked ? &phases : nullptr);
      if (timeline_->active()) timeline_->traffic(set_.id, set_.members, linkTraffic(comm_));
    }
    if (!s.isOk()) {
      failBatches(batches, b + 1, ops, s);
      return s;
    }
  }
  tuning_.observe(ordered, cycleStart);
  return Status::ok();
}

void ResponseRunner::applyTuning() {
  if (tuning_.version() == tuningVersion_) return;
  tuningVersion_ = tuning_.version();
  planner_ = FusionPlanner(plannerOptions());
  executor_.setAllreduceAlgorithms(tuning_.allreduceAlgorithms());
}

FusionOptions ResponseRunner::plannerOptions() {
  FusionOptions options = tuning_.fusionOptions();
  // Large tensors join fused allreduces where every size's allreduce runs on the shm arena.
  const AllreduceAlgorithms algorithms = tuning_.allreduceAlgorithms();
  options.largeAllreduceJoins = std::all_of(
      algorithms.byClass.begin(), algorithms.byClass.end(), [&](std::string_view name) {
        return coll::allreduceRunsOnArena(comm_, options.largeTensorBytes, name) &&
               coll::allreduceRunsOnArena(comm_, options.thresholdBytes, name);
      });
  return options;
}

BatchOps ResponseRunner::takeOps(const std::vector<Response>& ordered) {
  BatchOps ops(ordered.size());
  for (size_t i = 0; i < ordered.size(); ++i) {
    const Response& p = ordered[i];
    ops[i].resize(p.tensorNames.size());
    for (size_t t = 0; t < p.tensorNames.size(); ++t) {
      PendingOpPtr op = table_.take(p.tensorNames[t]);
      if (op) op->taken = true;
      ops[i][t] = std::move(op);
    }
    if (p.isError()) {
      const Status error(p.errorCode, p.errorMessage);
      for (const PendingOpPtr& op : ops[i]) {
        recording_.update(op, FlightRecorder::State::kFailed, error);
        if (op) op->state->complete(error);
      }
    }
  }
  return ops;
}

void ResponseRunner::failBatches(const std::vector<FusedBatch>& batches, size_t from,
                                 const BatchOps& ops, const Status& status) {
  for (size_t rest = from; rest < batches.size(); ++rest) {
    for (const FusedEntry& e : batches[rest].entries) {
      if (const PendingOpPtr& op = ops[e.response][e.tensor]) {
        recording_.update(op, FlightRecorder::State::kFailed, status);
        op->state->complete(status);
      }
    }
  }
}

}  // namespace kolo::core
