#include "coordinator.h"

#include <algorithm>

#include "blocked_threads.h"
#include "kolo/base/logging.h"
#include "kolo/base/thread_name.h"

namespace kolo::core {
namespace {

// Longest single park when the transport can be woken: only bounds how late a forced stop
// or a stall check is noticed; idle sets wake this rarely and do nothing.
constexpr auto kWakeableParkSlice = std::chrono::milliseconds(50);
// While CUDA work is in flight the coordinator checks its events this often: nothing wakes
// the doorbell when a GPU finishes.
constexpr auto kDevicePollSlice = std::chrono::microseconds(100);
// Longest park while callers drive point-to-point transfers and nothing of this set is in
// flight: only a local submit (which rings the bell) gives it work then, and a peer's cycle for
// an op waits for this rank's submit of it anyway. Each earlier wake (one per cycle time) took
// a core from a caller moving a message: on 2 cores, a 1 MiB TCP ping-pong lost a tenth.
constexpr auto kQuietParkSlice = std::chrono::milliseconds(20);

}  // namespace

Coordinator::Coordinator(const SetIdentity& set, Communicator& comm, CoordinatorRoles roles)
    : set_(set),
      comm_(comm),
      table_(roles.table),
      go_(roles.go),
      negotiation_(roles.negotiation),
      runner_(roles.runner),
      stalls_(roles.stalls),
      agreement_(roles.agreement),
      recording_(roles.recording),
      tuning_(roles.tuning),
      callerDrives_(callerDrivesFromEnv()),
      gate_(std::make_shared<DriveGate>(this)) {}

Coordinator::~Coordinator() {
  if (thread_.joinable()) stop();
  closeGate();
}

void Coordinator::start() {
  go_.start();
  thread_ = std::thread([this] {
    LogRankScope logRank(set_.globalRank);  // several engines in one process log as themselves
    nameThisThread("kolo-coord");
    run();
  });
}

Status Coordinator::submit(const std::vector<PendingOpPtr>& ops) {
  KOLO_RETURN_IF_ERROR(lifecycle_.open(set_.id));
  const bool isJoin = !ops.empty() && ops.front()->request.op == OpType::kJoin;
  if (lifecycle_.joinPending()) {
    return makeStatus(Code::kInvalidUsage,
                      "rank {} has joined process set {}: submit '{}' after the join completes",
                      set_.globalRank, set_.id, ops.empty() ? "" : ops.front()->request.tensorName);
  }
  if (isJoin) lifecycle_.setJoinPending(true);
  if (callerDrives_) letCallersDrive(ops);
  Status s = table_.add(ops);
  if (!s.isOk()) {
    if (isJoin) lifecycle_.setJoinPending(false);
    return s;
  }
  if (submitWakes()) wakeLoop();
  return Status::ok();
}

void Coordinator::requestShutdown() {
  lifecycle_.requestShutdown();
  wakeLoop();
}

Status Coordinator::waitStopped(Deadline deadline) {
  Status result;
  if (!lifecycle_.waitStopped(deadline)) {
    result = makeStatus(Code::kTimeout,
                        "rank {}: process set {} did not shut down in time: some members never "
                        "called shutdown",
                        set_.globalRank, set_.id);
  }
  stop();
  return result;
}

void Coordinator::stop() {
  lifecycle_.forceStop();
  wakeLoop();
  if (thread_.joinable()) thread_.join();
}

bool Coordinator::hasLocalWork() const {
  return table_.hasIncoming() || negotiation_.wantsCycle(lifecycle_.shutdownRequested());
}

void Coordinator::run() {
  Status failure;
  std::unique_lock role(driveMutex_);
  for (;;) {
    if (exit_) {  // a driving caller's iteration ended the loop
      failure = *exit_;
      break;
    }
    if (lifecycle_.forcedStop()) break;
    uint32_t epoch = 0;
    size_t onDevice = 0;
    const uint32_t quietSeen = quiet_.bell().epoch();  // before looking for work
    const Step step = iterate(failure, epoch, onDevice);
    if (step == Step::kExit) break;
    if (step == Step::kIdle) {
      // Parked without the driver role, so a waiting caller can take it meanwhile.
      role.unlock();
      parkCoordinator(epoch, quietSeen, onDevice);
      role.lock();
    }
  }
  if (failure.isOk() && lifecycle_.forcedStop()) {
    failure =
        makeStatus(Code::kAborted, "rank {}: process set {} was stopped", set_.globalRank, set_.id);
  }
  if (!failure.isOk()) failure = agreement_.agree(failure);
  finish(failure);
  loopEnded_ = true;
}

Coordinator::Step Coordinator::iterate(Status& failure, uint32_t& epoch, size_t& onDevice,
                                       bool readEpoch) {
  if (comm_.abortToken().aborted()) {
    failure = comm_.abortToken().status();
    return Step::kExit;
  }
  checkStalls();
  onDevice = runner_.pollDevice();
  uint64_t target = cycle_;
  if (readEpoch) epoch = comm_.transport().activityEpoch();
  failure = go_.poll(target);
  if (!failure.isOk()) return Step::kExit;
  if (!hasLocalWork() && target <= cycle_) {
    failure = checkPeers();
    return failure.isOk() ? Step::kIdle : Step::kExit;
  }
  failure = enterCycle(target);
  if (!failure.isOk()) return Step::kExit;
  failure = runCycle();
  if (!failure.isOk() || lifecycle_.stopped()) return Step::kExit;
  return Step::kRan;
}

std::chrono::microseconds Coordinator::capSlice(std::chrono::microseconds slice,
                                                size_t onDevice) const {
  slice = std::min(slice,
                   std::chrono::duration_cast<std::chrono::microseconds>(stalls_.checkInterval()));
  if (onDevice > 0) slice = std::min(slice, std::chrono::microseconds(kDevicePollSlice));
  return slice;
}

std::chrono::microseconds Coordinator::quietParkSlice(size_t onDevice) const {
  return capSlice(std::chrono::duration_cast<std::chrono::microseconds>(
                      std::max<Clock::duration>(kQuietParkSlice, tuning_.cycleTime())),
                  onDevice);
}

std::chrono::microseconds Coordinator::parkSlice(size_t onDevice, Clock::duration limit) const {
  auto slice = capSlice(
      go_.canWake() ? std::chrono::duration_cast<std::chrono::microseconds>(kWakeableParkSlice)
                    : tuning_.cycleTime(),
      onDevice);
  if (limit < slice) {
    slice =
        std::chrono::duration_cast<std::chrono::microseconds>(std::max<Clock::duration>(limit, {}));
  }
  return slice;
}

void Coordinator::park(uint32_t epoch, size_t onDevice, Clock::duration limit) {
  comm_.transport().waitForActivity(epoch, parkSlice(onDevice, limit));
}

void Coordinator::wakeLoop() {
  go_.wake();
  quiet_.bell().ring();
}

Status Coordinator::checkPeers() {
  // An op some peer never submitted waits for that peer's next request; if the peer's process
  // is gone and nothing else moves, only this probe ends the wait.
  const Clock::time_point now = Clock::now();
  if (now < nextPeerProbe_) return Status::ok();
  nextPeerProbe_ = now + Communicator::kPeerProbeInterval;
  const size_t pending = table_.inFlight();
  if (pending == 0) return Status::ok();
  return comm_.checkPeers(
      fmt::format("{} op(s) of process set {} to be negotiated", pending, set_.id));
}

Status Coordinator::enterCycle(uint64_t target) {
  if (target > cycle_ + 1) {
    return makeStatus(Code::kInternal,
                      "process set {}: rank {} is in cycle {} but a peer started cycle {}", set_.id,
                      set_.globalRank, cycle_, target);
  }
  // A peer's go for the next cycle means it already told everyone; otherwise this rank
  // starts the cycle and must tell them.
  if (target <= cycle_) go_.send(cycle_ + 1);
  ++cycle_;
  return Status::ok();
}

Status Coordinator::runCycle() {
  // A frozen peer keeps the coordinator here; the flight recorder then shows its native stack.
  BlockedInKolo blocked(BlockedInKolo::Kind::kCoordinator, {}, set_.id);
  std::vector<Response> ordered;
  NegotiationCycle::Outcome outcome;
  KOLO_RETURN_IF_ERROR(negotiation_.run(cycle_, lifecycle_.shutdownRequested(),
                                        stalls_.takeAbortVote(), ordered, outcome));
  if (outcome.shutdown) lifecycle_.markStopped();
  if (outcome.joinCompleted) lifecycle_.setJoinPending(false);
  KOLO_RETURN_IF_ERROR(runner_.run(ordered));
  if (outcome.stallAbort) abortStalled();
  negotiation_.settle();
  return Status::ok();
}

void Coordinator::checkStalls() {
  if (stalls_.check(table_, negotiation_.negotiator())) negotiation_.requestRetry();
}

void Coordinator::abortStalled() {
  stalls_.abort(table_, negotiation_.negotiator());
  // Every member resets in the same cycle, so the replicas stay identical.
  negotiation_.reset();
  lifecycle_.setJoinPending(false);
}

void Coordinator::finish(const Status& status) {
  // Work already on the GPU finishes (or, after a failure, fails) before the set reports it
  // stopped, so no handle is left pending.
  runner_.drainDevice(status.isOk() ? comm_.opDeadline() : Deadline::afterSeconds(0));
  lifecycle_.markStopped(status);
  go_.cancel();
  const Status aborted =
      status.isOk()
          ? makeStatus(Code::kAborted, "rank {}: the session shut down before the op completed",
                       set_.globalRank)
          : status;
  for (const PendingOpPtr& op : table_.close()) {
    recording_.update(op, FlightRecorder::State::kFailed, aborted);
    op->state->complete(aborted.withContext(op->request.tensorName));
  }
  negotiation_.abandon();
  if (!status.isOk()) recording_.dump(status);
}

}  // namespace kolo::core
