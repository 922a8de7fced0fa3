// ProcessSetRuntime: one process set of the Engine (the world is set 0). It owns the set's
// communicator, its TensorTable and the roles that serve it, and is what the Engine talks to:
//   Coordinator       the background loop: park until work or a peer's go, run cycles, stop
//   GoSignal          go/wake messages, so every member runs the same cycles and idle sets
//                     cost nothing
//   NegotiationCycle  cache votes, request lists, the Negotiator replica: the ordered
//                     responses of a cycle
//   ControlExchange   the allgathers of those control messages and their checksums
//   ResponseRunner    fusion planning and OpExecutor over the ordered responses
//   SetTuning         the settings every member runs a cycle with; the autotuner on rank 0
//   FailureAgreement  one verdict on a failure, the same on every surviving rank
//   StallMonitor      stall warnings and the stall abort
//   FlightRecording   the set's ops in the process's FlightRecorder
//   PeerExchange      point-to-point sends and receives, on a progress thread of their own
// Thread: caller threads (submit, requestShutdown, waitStopped); the roles run on the
// coordinator thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "control_exchange.h"
#include "coordinator.h"
#include "failure_agreement.h"
#include "flight_recording.h"
#include "go_signal.h"
#include "kolo/collectives/communicator.h"
#include "kolo/core/engine_config.h"
#include "negotiation_cycle.h"
#include "peer_exchange.h"
#include "pending_op.h"
#include "response_runner.h"
#include "set_identity.h"
#include "set_metrics.h"
#include "set_tuning.h"
#include "stall_monitor.h"
#include "tensor_table.h"

namespace kolo::core {

class Timeline;

class ProcessSetRuntime {
 public:
  ProcessSetRuntime(int32_t id, std::vector<int32_t> members, int32_t globalRank,
                    std::shared_ptr<Communicator> comm, const EngineConfig& config,
                    std::shared_ptr<Timeline> timeline);
  ProcessSetRuntime(const ProcessSetRuntime&) = delete;
  ProcessSetRuntime& operator=(const ProcessSetRuntime&) = delete;

  // Before start(): where this set records its ops (shared by the Engine's sets; may be null).
  void setFlightRecorder(std::shared_ptr<FlightRecorder> recorder) {
    recording_.setRecorder(std::move(recorder));
  }
  // Before start(): where the set counts its live metrics (null: none).
  void setMetrics(std::shared_ptr<SetMetrics> metrics) {
    metrics_ = std::move(metrics);
    negotiation_.setMetrics(metrics_.get());
    runner_.setMetrics(metrics_.get());
    stalls_.setMetrics(metrics_.get());
  }
  // Before start(): told when an op of this rank passes the stall warning (StallMonitor).
  void setStallListener(std::function<void()> listener) {
    stalls_.setListener(std::move(listener));
  }
  void start() { coordinator_.start(); }
  int32_t id() const { return set_.id; }
  const std::vector<int32_t>& members() const { return set_.members; }
  Communicator& comm() { return *comm_; }

  // Records the ops and wakes the coordinator; fails at once on duplicates, after a join on
  // this rank, or once the set failed or stopped.
  Status submit(const std::vector<PendingOpPtr>& ops) { return coordinator_.submit(ops); }
  // A send or receive: not negotiated, so the coordinator never sees it.
  Status submitPeer(PeerTransferPtr transfer) { return peers_.submit(std::move(transfer)); }
  // Tells the other members this rank is done; the coordinator stops once all are.
  void requestShutdown() { coordinator_.requestShutdown(); }
  // Waits for the coordinator to stop; past the deadline it is forced out (pending ops fail).
  // Pending sends and receives then fail with kAborted.
  Status waitStopped(Deadline deadline) {
    Status s = coordinator_.waitStopped(deadline);
    peers_.stop();
    return s;
  }

 private:
  // Declared in dependency order: the coordinator, declared last, stops its thread before
  // any role it uses is destroyed.
  const SetIdentity set_;
  std::shared_ptr<Communicator> comm_;
  std::shared_ptr<Timeline> timeline_;
  PeerExchange peers_;
  std::shared_ptr<SetMetrics> metrics_;
  TensorTable table_;
  FailureAgreement agreement_;
  FlightRecording recording_;
  GoSignal go_;
  ControlExchange exchange_;
  SetTuning tuning_;
  NegotiationCycle negotiation_;
  ResponseRunner runner_;
  StallMonitor stalls_;
  Coordinator coordinator_;
};

}  // namespace kolo::core
