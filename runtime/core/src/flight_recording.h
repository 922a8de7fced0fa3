// FlightRecording: what one process set tells the process's FlightRecorder about its ops: an
// entry when the coordinator draws an op into a cycle, who had submitted it while it waits in
// negotiation, then running, done or failed; and the dump when the set fails. Every call is a
// no-op without a recorder.
// Thread: coordinator.
#pragma once

#include <cstdint>
#include <memory>

#include "flight_recorder.h"
#include "kolo/base/status.h"
#include "kolo/core/negotiator.h"
#include "pending_op.h"
#include "set_identity.h"
#include "tensor_table.h"

namespace kolo::core {

class FlightRecording {
 public:
  explicit FlightRecording(const SetIdentity& set) : set_(set) {}

  // Before the coordinator starts (shared by the Engine's sets; may be null).
  void setRecorder(std::shared_ptr<FlightRecorder> recorder) { recorder_ = std::move(recorder); }

  // The op entered a cycle: gives it its entry (op.flightId).
  void drawn(PendingOp& op);
  // For this rank's ops still waiting in negotiation: which ranks have and lack them.
  void arrivals(const Negotiator& negotiator, const TensorTable& table);
  void update(const PendingOpPtr& op, FlightRecorder::State state, const Status& status = {});
  // The set failed with `failure`: writes the recorder's file.
  void dump(const Status& failure);

 private:
  const SetIdentity& set_;
  std::shared_ptr<FlightRecorder> recorder_;
};

}  // namespace kolo::core
