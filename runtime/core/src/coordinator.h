// Coordinator: the background loop of one process set and its lifecycle. Its thread parks on
// the transport's doorbell until there is new local work or a peer started a cycle (GoSignal),
// never sleeping a fixed cycle; then it runs the cycle as named steps: negotiate
// (NegotiationCycle), run the responses (ResponseRunner), act on a stall abort (StallMonitor),
// settle. When the set stops, or fails (the verdict agreed by FailureAgreement), it fails what
// is still pending, so no handle is left waiting.
// Thread: start, submit, requestShutdown and waitStopped on caller threads; the loop on the
// coordinator thread it owns.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "failure_agreement.h"
#include "flight_recording.h"
#include "go_signal.h"
#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "negotiation_cycle.h"
#include "pending_op.h"
#include "response_runner.h"
#include "set_identity.h"
#include "set_lifecycle.h"
#include "set_tuning.h"
#include "stall_monitor.h"
#include "tensor_table.h"

namespace kolo::core {

// The roles a coordinator drives, owned by its ProcessSetRuntime.
struct CoordinatorRoles {
  TensorTable& table;
  GoSignal& go;
  NegotiationCycle& negotiation;
  ResponseRunner& runner;
  StallMonitor& stalls;
  FailureAgreement& agreement;
  FlightRecording& recording;
  SetTuning& tuning;  // the cycle time of parks on transports without wake-ups
};

class Coordinator {
 public:
  Coordinator(const SetIdentity& set, Communicator& comm, CoordinatorRoles roles);
  ~Coordinator();  // a running loop is forced out
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  void start();
  // Records the ops and wakes the loop; fails at once on duplicates, after a join on this
  // rank, or once the set failed or stopped.
  Status submit(const std::vector<PendingOpPtr>& ops);
  // Tells the other members this rank is done; the loop stops once all are.
  void requestShutdown();
  // Waits for the loop to stop; past the deadline it is forced out (pending ops fail).
  Status waitStopped(Deadline deadline);

 private:
  void run();
  bool hasLocalWork() const;
  void park(uint32_t epoch, size_t onDevice);
  // A peer's lost process (Communicator::checkPeers) while ops are pending; probed at most
  // every Communicator::kPeerProbeInterval.
  Status checkPeers();
  // Joins cycle cycle_ + 1, announcing it unless a peer's go for it already arrived.
  Status enterCycle(uint64_t target);
  Status runCycle();
  void checkStalls();
  void abortStalled();
  void finish(const Status& status);
  void stop();

  const SetIdentity& set_;
  Communicator& comm_;
  TensorTable& table_;
  GoSignal& go_;
  NegotiationCycle& negotiation_;
  ResponseRunner& runner_;
  StallMonitor& stalls_;
  FailureAgreement& agreement_;
  FlightRecording& recording_;
  SetTuning& tuning_;
  SetLifecycle lifecycle_;
  uint64_t cycle_ = 0;  // coordinator thread only
  Clock::time_point nextPeerProbe_{};
  std::thread thread_;
};

}  // namespace kolo::core
