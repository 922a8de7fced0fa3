// AbortToken: one job's verdict that it has failed, owned by the objects of that job rather than
// by the process. The Engine's world communicator creates it; every communicator of the job
// (process sets, node and cross subgroups, the shared-memory arena) holds the same token, and
// the job's JobAbortWatcher raises it when kolorun's record (docs/RELIABILITY.md) arrives.
// Several jobs in one process (engines in sequence, ranks as threads in tests) each have their
// own token, so aborting one leaves the others running.
//
// raise() is first-wins; every wait of the collectives checks aborted() each time it parks, so
// pending ops end within a park slice (<= 50 ms) of the verdict.
// Thread: any.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>

#include "kolo/base/job_abort.h"
#include "kolo/base/status.h"

namespace kolo {

class AbortToken {
 public:
  bool aborted() const { return aborted_.load(std::memory_order_acquire); }
  // The first status raised; OK when none was.
  Status status() const;
  // First wins; later calls are ignored. Returns true when this call set it.
  bool raise(const Status& status);

  // A watcher of kolorun's record serves this job: on a local failure the coordinator waits
  // briefly for the record rather than report its own partial view.
  void setWatched(bool watched) { watched_.store(watched); }
  bool watched() const { return watched_.load(); }
  // Where publish() sends a failure a rank diagnosed itself (a peer's corrupt control message):
  // set by the watcher while it runs; empty otherwise.
  void setPublisher(std::function<void(const PeerFailure&)> publisher);
  // False when nobody publishes (not launched by kolorun).
  bool publish(const PeerFailure& failure) const;

 private:
  std::atomic<bool> aborted_{false};
  std::atomic<bool> watched_{false};
  mutable std::mutex mutex_;
  Status status_;                                      // guarded by mutex_
  std::function<void(const PeerFailure&)> publisher_;  // guarded by mutex_
};

}  // namespace kolo
