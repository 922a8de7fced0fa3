#include "job_abort_watcher.h"

#include <fmt/format.h>

#include <atomic>
#include <thread>

#include "kolo/base/fault_injection.h"
#include "kolo/base/job_abort.h"
#include "kolo/base/kv_store.h"
#include "kolo/base/logging.h"
#include "kolo/base/thread_name.h"
#include "kolo/rendezvous/store_factory.h"
#include "store_thread_guard.h"

namespace kolo::core {

struct JobAbortWatcher::State {
  JobAbortWatcherOptions options;
  std::unique_ptr<KvStore> store;
  std::atomic<bool> stopping{false};
};

namespace {

void watch(const std::shared_ptr<JobAbortWatcher::State>& state) {
  const std::string abortKey = jobAbortKey(state->options.jobId);
  const std::string beatKey = jobHeartbeatKey(state->options.jobId, state->options.rank);
  while (!state->stopping.load()) {
    auto record =
        state->store->get(abortKey, Deadline::afterSeconds(state->options.heartbeatSeconds));
    if (state->stopping.load() || storeThreadsExiting()) return;
    if (record.hasValue()) {
      auto failure = PeerFailure::decode(record.value());
      Status status =
          failure ? failure->toStatus()
                  : makeStatus(Code::kRemoteError, "the job was aborted: {}", record.value());
      if (state->options.abort->raise(status)) {
        KOLO_LOG(kWarning, "abort", "rank {}: {}", state->options.rank, status.message());
      }
      return;
    }
    if (record.status().code() == Code::kTimeout) {
      // Only a live, scheduled process gets here: the heartbeat is the proof of that.
      Status beat = state->store->add(beatKey, 1).status();
      if (beat.isOk() || state->stopping.load()) continue;
      record = Expected<std::string>(beat);
    }
    if (faultSevered()) return;  // this rank cut its own connections: it is the failed one
    Status gone = makeStatus(Code::kRemoteError,
                             "the launcher's store ({}) stopped answering: {}; kolorun died or "
                             "this host lost its network",
                             state->store->describe(), record.status().message());
    if (state->options.abort->raise(gone))
      KOLO_LOG(kError, "abort", "rank {}: {}", state->options.rank, gone.message());
    return;
  }
}

}  // namespace

Expected<std::unique_ptr<JobAbortWatcher>> JobAbortWatcher::start(JobAbortWatcherOptions options) {
  if (!options.abort) {
    return Status(Code::kInvalidArgument, "JobAbortWatcher::start needs the job's abort token");
  }
  auto state = std::make_shared<State>();
  state->options = std::move(options);
  if (!(state->options.heartbeatSeconds > 0)) state->options.heartbeatSeconds = 1.0;
  KOLO_ASSIGN_OR_RETURN(state->store, openStore(state->options.storeUrl));
  // "open" makes kolorun hold this rank to its heartbeat until stop() writes "closed".
  KOLO_RETURN_IF_ERROR(
      state->store->set(jobHeartbeatKey(state->options.jobId, state->options.rank) + "/state",
                        fmt::format("open {}", state->options.heartbeatSeconds)));
  AbortToken& abort = *state->options.abort;
  abort.setWatched(true);
  std::weak_ptr<State> weak = state;
  abort.setPublisher([weak](const PeerFailure& failure) {
    auto s = weak.lock();
    if (!s) return;
    // First claim wins, whether kolorun's or a rank's; later verdicts are dropped.
    auto claim = s->store->add(jobAbortClaimKey(s->options.jobId), 1);
    if (claim.hasValue() && claim.value() == 1) {
      (void)s->store->set(jobAbortKey(s->options.jobId), failure.encode());
    }
  });
  enterStoreThread();  // its exit guard (store_thread_guard.h)
  std::thread([state]() mutable {
    nameThisThread("kolo-abort");
    watch(state);
    state.reset();  // the store connection closes before an exiting process may go on
    leaveStoreThread();
  }).detach();
  return std::unique_ptr<JobAbortWatcher>(new JobAbortWatcher(std::move(state)));
}

JobAbortWatcher::~JobAbortWatcher() {
  stop();
}

void JobAbortWatcher::stop() {
  if (!state_ || state_->stopping.exchange(true)) return;
  AbortToken& abort = *state_->options.abort;
  abort.setWatched(false);
  abort.setPublisher({});
  if (abort.aborted()) return;  // the store may be gone; nobody holds this rank to anything now
  // The watcher thread's get is on another pooled connection, so this set is not queued
  // behind it.
  Status s = state_->store->set(
      jobHeartbeatKey(state_->options.jobId, state_->options.rank) + "/state", "closed");
  if (!s.isOk()) KOLO_LOG(kDebug, "abort", "closing the heartbeat: {}", s.message());
}

}  // namespace kolo::core
