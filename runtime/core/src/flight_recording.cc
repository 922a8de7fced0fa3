#include "flight_recording.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <string>

#include "kolo/base/logging.h"

namespace kolo::core {

void FlightRecording::drawn(PendingOp& op) {
  if (!recorder_) return;
  uint64_t bytes = dataTypeSize(op.request.dtype);
  for (int64_t d : op.request.shape) bytes *= static_cast<uint64_t>(std::max<int64_t>(d, 0));
  if (op.request.op == OpType::kBarrier || op.request.op == OpType::kJoin) bytes = 0;
  op.flightId = recorder_->add(set_.id, op.request.tensorName, opTypeName(op.request.op), bytes,
                               fmt::format("{}", set_.globalRank));
}

void FlightRecording::arrivals(const Negotiator& negotiator, const TensorTable& table) {
  if (!recorder_) return;
  for (const PendingTensor& t : negotiator.pendingTensors()) {
    PendingOpPtr local = table.find(t.name);
    if (!local || local->flightId == 0) continue;
    recorder_->update(local->flightId, FlightRecorder::State::kNegotiating,
                      fmt::format("{} (missing {})", fmt::join(t.submittedRanks, ","),
                                  fmt::join(t.missingRanks, ",")));
  }
}

void FlightRecording::update(const PendingOpPtr& op, FlightRecorder::State state,
                             const Status& status) {
  if (!recorder_ || !op) return;
  if (op->flightId == 0) {
    // An op the set failed before drawing it into a cycle still shows in the record.
    if (state != FlightRecorder::State::kFailed) return;
    drawn(*op);
  }
  recorder_->update(op->flightId, state,
                    state == FlightRecorder::State::kRunning ? std::string("all") : std::string(),
                    status.isOk() ? std::string() : status.toString());
}

void FlightRecording::dump(const Status& failure) {
  if (!recorder_) return;
  Status dumped =
      recorder_->dump(fmt::format("process set {} failed: {}", set_.id, failure.toString()),
                      /*nativeStacks=*/false);
  if (!dumped.isOk()) KOLO_LOG(kWarning, "flight", "{}", dumped.message());
}

}  // namespace kolo::core
