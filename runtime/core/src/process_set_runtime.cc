#include "process_set_runtime.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "kolo/base/fault_injection.h"
#include "kolo/base/job_abort.h"
#include "kolo/base/logging.h"
#include "kolo/collectives/collectives.h"

namespace kolo::core {
namespace {

// Longest single park when the transport can be woken: only bounds how late a forced stop
// or a stall check is noticed; idle sets wake this rarely and do nothing.
constexpr auto kWakeableParkSlice = std::chrono::milliseconds(50);
// While CUDA work is in flight the coordinator checks its events this often: nothing wakes
// the doorbell when a GPU finishes.
constexpr auto kDevicePollSlice = std::chrono::microseconds(100);

std::span<const std::byte> asBytes(const uint64_t& v) {
  return {reinterpret_cast<const std::byte*>(&v), sizeof v};
}

}  // namespace

ProcessSetRuntime::ProcessSetRuntime(int32_t id, std::vector<int32_t> members, int32_t globalRank,
                                     std::shared_ptr<Communicator> comm, const EngineConfig& config,
                                     std::shared_ptr<Timeline> timeline)
    : id_(id),
      members_(std::move(members)),
      globalRank_(globalRank),
      comm_(std::move(comm)),
      config_(config),
      timeline_(std::move(timeline)),
      planner_(config.fusion),
      cache_(config.cacheCapacity),
      negotiator_(id, members_),
      executor_(*comm_, members_, pool_),
      stalls_(config.stallWarningSeconds, config.stallShutdownSeconds) {}

ProcessSetRuntime::~ProcessSetRuntime() {
  if (thread_.joinable()) {
    forceStop_.store(true);
    wakeCoordinator();
    thread_.join();
  }
}

void ProcessSetRuntime::start() {
  executor_.setFailureFilter([this](Status s) { return agreeOnFailure(std::move(s)); });
  canWake_ = comm_->transport().wake();
  goRecv_.resize(members_.size());
  for (size_t p = 0; p < members_.size(); ++p) {
    if (static_cast<int>(p) != comm_->rank()) postGo(p);
  }
  thread_ = std::thread([this] { run(); });
}

Status ProcessSetRuntime::submit(const std::vector<PendingOpPtr>& ops) {
  {
    std::lock_guard lock(stateMutex_);
    if (stopped_) {
      return failure_.isOk()
                 ? makeStatus(Code::kInvalidUsage, "process set {} has shut down", id_)
                 : failure_.withContext(fmt::format("process set {} failed earlier", id_));
    }
  }
  const bool isJoin = !ops.empty() && ops.front()->request.op == OpType::kJoin;
  if (joinPending_.load(std::memory_order_acquire)) {
    return makeStatus(Code::kInvalidUsage,
                      "rank {} has joined process set {}: submit '{}' after the join completes",
                      globalRank_, id_, ops.empty() ? "" : ops.front()->request.tensorName);
  }
  if (isJoin) joinPending_.store(true, std::memory_order_release);
  Status s = table_.add(ops);
  if (!s.isOk()) {
    if (isJoin) joinPending_.store(false, std::memory_order_release);
    return s;
  }
  wakeCoordinator();
  return Status::ok();
}

void ProcessSetRuntime::requestShutdown() {
  shutdownRequested_.store(true, std::memory_order_release);
  wakeCoordinator();
}

Status ProcessSetRuntime::waitStopped(Deadline deadline) {
  {
    std::unique_lock lock(stateMutex_);
    // The coordinator sets stopped_ last; poll in short sleeps rather than add a second
    // condition variable to a path that runs once per session.
    while (!stopped_ && !deadline.expired()) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      lock.lock();
    }
  }
  Status result;
  {
    std::lock_guard lock(stateMutex_);
    if (!stopped_) {
      result = makeStatus(Code::kTimeout,
                          "rank {}: process set {} did not shut down in time: some members never "
                          "called shutdown",
                          globalRank_, id_);
    }
  }
  forceStop_.store(true);
  wakeCoordinator();
  if (thread_.joinable()) thread_.join();
  return result;
}

void ProcessSetRuntime::wakeCoordinator() {
  if (canWake_) comm_->transport().wake();
}

bool ProcessSetRuntime::hasLocalWork() const {
  return retryNeeded_ || table_.hasIncoming() ||
         (shutdownRequested_.load(std::memory_order_acquire) && !shutdownSent_);
}

void ProcessSetRuntime::postGo(size_t peer) {
  GoSlot& slot = goRecv_[peer];
  slot.value = 0;
  slot.request =
      comm_->peer(static_cast<int>(peer))
          .postRecv(kGoTag, {reinterpret_cast<std::byte*>(&slot.value), sizeof slot.value});
}

Status ProcessSetRuntime::pollGo(uint64_t& target) {
  for (size_t p = 0; p < goRecv_.size(); ++p) {
    GoSlot& slot = goRecv_[p];
    // A receive can complete in the same call that re-posts it (the message already waited),
    // so drain each peer until its receive is pending.
    while (slot.request && slot.request->test()) {
      Status s = slot.request->status();
      if (!s.isOk()) {
        return s.withContext(
            fmt::format("process set {}: waiting for cycles of rank {}", id_, members_[p]));
      }
      target = std::max(target, slot.value);
      postGo(p);
    }
  }
  return Status::ok();
}

Status ProcessSetRuntime::sendGo(uint64_t cycle) {
  reapSends();
  for (size_t p = 0; p < members_.size(); ++p) {
    if (static_cast<int>(p) == comm_->rank()) continue;
    GoSend send{std::make_unique<uint64_t>(cycle), nullptr};
    send.request = comm_->peer(static_cast<int>(p)).postSend(kGoTag, asBytes(*send.value));
    goSend_.push_back(std::move(send));
  }
  reapSends();
  return Status::ok();
}

void ProcessSetRuntime::reapSends() {
  std::erase_if(goSend_, [](GoSend& s) {
    if (!s.request->test()) return false;
    if (!s.request->status().isOk()) {
      KOLO_LOG(kDebug, "coordinator", "{}", s.request->status().toString());
    }
    return true;
  });
}

void ProcessSetRuntime::run() {
  Status failure;
  while (!forceStop_.load(std::memory_order_acquire)) {
    if (jobAborted()) {
      failure = jobAbortStatus();
      break;
    }
    checkStalls();
    const size_t onDevice = executor_.pollDevice();
    uint64_t target = cycle_;
    const uint32_t epoch = comm_->transport().activityEpoch();
    failure = pollGo(target);
    if (!failure.isOk()) break;
    const bool mine = hasLocalWork();
    if (!mine && target <= cycle_) {
      auto slice =
          canWake_ ? std::chrono::duration_cast<std::chrono::microseconds>(kWakeableParkSlice)
                   : std::chrono::microseconds(static_cast<int64_t>(config_.cycleTimeMs * 1000.0));
      slice = std::min(
          slice, std::chrono::duration_cast<std::chrono::microseconds>(stalls_.checkInterval()));
      if (onDevice > 0) slice = std::min(slice, kDevicePollSlice);
      comm_->transport().waitForActivity(epoch, slice);
      continue;
    }
    if (target > cycle_ + 1) {
      failure = makeStatus(Code::kInternal,
                           "process set {}: rank {} is in cycle {} but a peer started cycle {}",
                           id_, globalRank_, cycle_, target);
      break;
    }
    // A peer's go for the next cycle means it already told everyone; otherwise this rank
    // starts the cycle and must tell them.
    if (target <= cycle_) {
      failure = sendGo(cycle_ + 1);
      if (!failure.isOk()) break;
    }
    ++cycle_;
    bool stop = false;
    failure = runCycle();
    if (!failure.isOk()) break;
    {
      std::lock_guard lock(stateMutex_);
      stop = stopped_;
    }
    if (stop) break;
  }
  if (failure.isOk() && forceStop_.load()) {
    failure = makeStatus(Code::kAborted, "rank {}: process set {} was stopped", globalRank_, id_);
  }
  if (!failure.isOk()) failure = agreeOnFailure(failure);
  finish(failure);
}

Status ProcessSetRuntime::agreeOnFailure(Status local) {
  // One second covers kolorun's reaction (it reaps a dead or stopped rank within milliseconds)
  // and stays inside the liveness promise: failure + 1 s. Waited once per set.
  constexpr auto kAgreement = std::chrono::seconds(1);
  // kRemoteError: a verdict this rank published itself (corrupt message); another may have won.
  const bool partialView = local.code() == Code::kIoError || local.code() == Code::kTimeout ||
                           local.code() == Code::kRemoteError;
  if (!jobAborted() && partialView && jobAbortWatched() && !faultSevered() && !agreementWaited_) {
    agreementWaited_ = true;
    const Deadline deadline = Deadline::after(kAgreement);
    while (!jobAborted() && !deadline.expired()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // The record, without this rank's wait context, so every survivor's message is the same.
  return jobAborted() ? jobAbortStatus() : local;
}

void ProcessSetRuntime::recordDrawn(PendingOp& op) {
  if (!recorder_) return;
  uint64_t bytes = dataTypeSize(op.request.dtype);
  for (int64_t d : op.request.shape) bytes *= static_cast<uint64_t>(std::max<int64_t>(d, 0));
  if (op.request.op == OpType::kBarrier || op.request.op == OpType::kJoin) bytes = 0;
  op.flightId = recorder_->add(id_, op.request.tensorName, opTypeName(op.request.op), bytes,
                               fmt::format("{}", globalRank_));
}

void ProcessSetRuntime::recordArrivals() {
  if (!recorder_) return;
  for (const PendingTensor& t : negotiator_.pendingTensors()) {
    PendingOpPtr local = table_.find(t.name);
    if (!local || local->flightId == 0) continue;
    recorder_->update(local->flightId, FlightRecorder::State::kNegotiating,
                      fmt::format("{} (missing {})", fmt::join(t.submittedRanks, ","),
                                  fmt::join(t.missingRanks, ",")));
  }
}

void ProcessSetRuntime::record(const PendingOpPtr& op, FlightRecorder::State state,
                               const Status& status) {
  if (!recorder_ || !op || op->flightId == 0) return;
  recorder_->update(op->flightId, state,
                    state == FlightRecorder::State::kRunning ? std::string("all") : std::string(),
                    status.isOk() ? std::string() : status.toString());
}

void ProcessSetRuntime::checkStalls() {
  const Clock::time_point now = Clock::now();
  if (!stalls_.due(now)) return;
  const StallInspector::Findings f = stalls_.inspect(table_.snapshot(), negotiator_, now);
  if (f.retry) retryNeeded_ = true;
  if (f.abort && !stallAbortLocal_) {
    stallAbortLocal_ = true;
    retryNeeded_ = true;
  }
}

void ProcessSetRuntime::abortStalled() {
  const Status aborted(Code::kAborted, stalls_.abortMessage(negotiator_));
  KOLO_LOG(kError, "stall", "rank {}: {}", globalRank_, aborted.message());
  for (const PendingOpPtr& op : table_.takeDrawn()) op->state->complete(aborted);
  unsent_.clear();
  // Every member resets in the same cycle, so the replicas stay identical.
  negotiator_ = Negotiator(id_, members_);
  joinedLocal_ = false;
  joinPending_.store(false, std::memory_order_release);
}

void ProcessSetRuntime::finish(const Status& status) {
  // Work already on the GPU finishes (or, after a failure, fails) before the set reports it
  // stopped, so no handle is left pending.
  executor_.drainDevice(status.isOk() ? comm_->opDeadline() : Deadline::afterSeconds(0));
  {
    std::lock_guard lock(stateMutex_);
    if (!status.isOk() && failure_.isOk()) failure_ = status;
    stopped_ = true;
  }
  for (GoSlot& slot : goRecv_) {
    if (slot.request && !slot.request->test()) slot.request->cancel();
    slot.request.reset();
  }
  reapSends();
  for (GoSend& s : goSend_) {
    if (!s.request->test()) s.request->cancel();
  }
  goSend_.clear();
  const Status aborted =
      status.isOk()
          ? makeStatus(Code::kAborted, "rank {}: the session shut down before the op completed",
                       globalRank_)
          : status;
  for (const PendingOpPtr& op : table_.close()) {
    record(op, FlightRecorder::State::kFailed, aborted);
    op->state->complete(aborted.withContext(op->request.tensorName));
  }
  unsent_.clear();
  if (!status.isOk() && recorder_) {
    Status dumped =
        recorder_->dump(fmt::format("process set {} failed: {}", id_, status.toString()));
    if (!dumped.isOk()) KOLO_LOG(kWarning, "flight", "{}", dumped.message());
  }
}

}  // namespace kolo::core
