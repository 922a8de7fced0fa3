// JobAbortWatcher: a rank's link to kolorun's verdicts. One thread per process (while a session
// launched by kolorun is open) blocks on the store's "<job>/abort" key; when kolorun (or the
// rank that was told to drop its connections) writes the record, raising the job's AbortToken makes
// every pending and later op of every process set fail with the same kRemoteError naming the failed
// rank. Between waits it beats "<job>/heartbeat/<rank>", which kolorun watches for ranks it
// cannot waitpid() (remote hosts). A store that stops answering means kolorun is gone: the
// watcher then aborts the job too, so ranks do not outlive their launcher.
//
// Why a thread rather than the coordinator: the coordinator may be blocked inside a collective
// waiting for a stopped peer; only a separate thread can learn about it. It sleeps in a blocking
// get, so it costs nothing between heartbeats.
// Thread: start/stop on the Engine's thread; the watcher runs detached (its state is shared),
// so stop() never waits for a get in flight.
#pragma once

#include <memory>
#include <string>

#include "kolo/base/abort_token.h"
#include "kolo/base/status.h"

namespace kolo::core {

struct JobAbortWatcherOptions {
  std::string storeUrl;  // KOLO_STORE
  std::string jobId;     // KOLO_JOB_ID (without the session generation)
  int rank = 0;
  double heartbeatSeconds = 1.0;      // KOLO_HEARTBEAT_SECONDS
  std::shared_ptr<AbortToken> abort;  // the job's token (the world communicator's); required
};

class JobAbortWatcher {
 public:
  // Opens a store connection of its own (the Engine's may be busy in a long get).
  static Expected<std::unique_ptr<JobAbortWatcher>> start(JobAbortWatcherOptions options);
  ~JobAbortWatcher();  // stop()
  JobAbortWatcher(const JobAbortWatcher&) = delete;
  JobAbortWatcher& operator=(const JobAbortWatcher&) = delete;

  // Marks this rank's heartbeat closed (a finished session is not a frozen rank) and lets the
  // thread end at its next wakeup.
  void stop();

  struct State;

 private:
  explicit JobAbortWatcher(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace kolo::core
