// Coordinator: the background loop of one process set and its lifecycle. Its thread parks on
// the transport's doorbell until there is new local work or a peer started a cycle (GoSignal),
// never sleeping a fixed cycle; then it runs the cycle as named steps: negotiate
// (NegotiationCycle), run the responses (ResponseRunner), act on a stall abort (StallMonitor),
// settle. When the set stops, or fails (the verdict agreed by FailureAgreement), it fails what
// is still pending, so no handle is left waiting.
// A caller waiting on one of the set's handles may run the loop's iterations itself while the
// coordinator thread is parked (drive, caller_drive.h): both take the driver role (driveMutex_)
// around each iteration, so the loop's state is only ever touched by one thread at a time.
// Thread: start, submit, requestShutdown and waitStopped on caller threads; the loop on the
// coordinator thread it owns, or on a driving caller.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "caller_drive.h"
#include "failure_agreement.h"
#include "flight_recording.h"
#include "go_signal.h"
#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/collectives/doorbell.h"
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
  // What one loop iteration did: ran a cycle, found nothing to do (park), or ended the loop.
  enum class Step { kRan, kIdle, kExit };

  void run();
  // One iteration, driver role held: poll the peers' go, enter and run a cycle when there is
  // work. `epoch` and `onDevice` say what an idle driver parks on; the epoch is read only with
  // `readEpoch` (a spinning driver does not: each read pulls the doorbell's line from the peer
  // whose go rings it).
  Step iterate(Status& failure, uint32_t& epoch, size_t& onDevice, bool readEpoch = true);
  bool hasLocalWork() const;
  void park(uint32_t epoch, size_t onDevice, Clock::duration limit = Clock::duration::max());
  // The wait helper of this set's handles (coordinator_drive.cc, through the gate): a waiting
  // caller takes the driver role if it is free within a short spin and runs iterations until
  // `state` is done, its deadline passes or the loop ends; then it hands the role back.
  void drive(const OpState& state, Deadline deadline);
  bool takeDriverRole(const OpState& state, Deadline deadline);
  // Before the ops enter the table: their waiters may drive (host tensors only).
  void letCallersDrive(const std::vector<PendingOpPtr>& ops);
  // After the ops entered the table: whether to wake the coordinator thread for them. Not when
  // this thread's previous submit to the set was followed by its wait, which drove, just before
  // (it is about to wait and drive again), and the coordinator parks in short slices meanwhile,
  // which bounds the wait of an op nobody waits on by the cycle time.
  bool submitWakes() const;
  // The coordinator thread's park: in slices of the cycle time while callers drive, and then
  // on its own bell (quiet_, seen at `quietSeen`), not on the transport's, so the messages a
  // driving caller exchanges do not wake it (a futex wake per message on the sender, and on
  // the receiver a thread that takes a core from the driver only to find nothing to do).
  void parkCoordinator(uint32_t epoch, uint32_t quietSeen, size_t onDevice);
  // The slice of one park: the cycle time (or 50 ms when the transport can wake it), shorter
  // for stall checks, device polls and `limit`.
  std::chrono::microseconds parkSlice(size_t onDevice, Clock::duration limit) const;
  // The slice of a park while callers drive point-to-point transfers and nothing of this set
  // is in flight (kQuietParkSlice, at least the cycle time), shorter for stall checks and
  // device polls.
  std::chrono::microseconds quietParkSlice(size_t onDevice) const;
  // `slice`, at most the stall-check interval, and the device poll slice while `onDevice`.
  std::chrono::microseconds capSlice(std::chrono::microseconds slice, size_t onDevice) const;
  // Wakes the coordinator thread wherever it parks (and a driver parked on the transport).
  void wakeLoop();
  // The first CUDA tensor of the set: from then on only the coordinator thread runs cycles
  // (they make a device current on the thread that runs them, and a caller's thread keeps its
  // own). Returns once no caller drives.
  void keepCyclesOnCoordinator();
  void closeGate();
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
  const bool callerDrives_;               // KOLO_CALLER_DRIVES
  std::atomic<bool> deviceOps_{false};    // a CUDA tensor was submitted: callers no longer drive
  std::atomic<Clock::rep> lastDrive_{0};  // when a caller last handed the role back (Clock)
  std::atomic<bool> shortParks_{false};   // the coordinator parks in slices of the cycle time
  std::shared_ptr<DriveGate> gate_;
  LocalDoorbell quiet_;  // the coordinator thread's own bell while callers drive
  // The driver role. Held by the coordinator thread around each iteration (not while parked)
  // and by a driving caller; everything below is touched only by its holder.
  std::mutex driveMutex_;
  uint64_t cycle_ = 0;
  Clock::time_point nextPeerProbe_{};
  std::optional<Status> exit_;  // a driving caller ended the loop with this (failure or stop)
  bool loopEnded_ = false;      // finish() ran: nobody drives any more
  std::thread thread_;
};

}  // namespace kolo::core
