// PeerExchange: the point-to-point sends and receives of one process set. They are not
// negotiated: only the two ranks involved take part, so they bypass the coordinator and run on
// a progress thread of their own (started by the first transfer), which posts each
// PeerTransfer on the set's channels and advances it, parked on the transport's doorbell while
// nothing moves. Collectives in progress on the coordinator thread therefore never hold a
// transfer up, nor does a transfer hold them up.
// Transfers of the same direction, peer and tag leave their matching phase in posting order,
// which is what makes messages of one (peer, tag) match in order (as MPI and torch define it).
// Failures end only the transfers they concern: a peer whose process is gone (probed every
// Communicator::kPeerProbeInterval) fails the transfers with that peer, a transfer that did not
// finish within the communicator's timeout fails with kTimeout, and the job's abort verdict or
// stop() fails every transfer.
// Fast path: a transfer whose (direction, peer, tag) has nothing pending in the exchange takes
// its first steps on the caller's thread, under the exchange's mutex: it posts its header (a
// send, its eager payload too), and a receive whose header (and eager payload) already arrived
// completes right there. An eager send whose shape the receiver accepted last time on that
// (peer, tag) is agreed (PeerTransfer::enter) and completes at once, without a reply; only
// what is left goes to the progress thread. Keys with something pending take the queue, so a
// later transfer never overtakes an earlier one of its key.
// Thread: submit/stop on caller threads; the transfers on the progress thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "peer_book.h"
#include "peer_transfer.h"
#include "set_identity.h"

namespace kolo::core {

class PeerExchange {
 public:
  PeerExchange(Communicator& comm, const SetIdentity& set) : comm_(comm), set_(set) {}
  ~PeerExchange() { stop(); }
  PeerExchange(const PeerExchange&) = delete;
  PeerExchange& operator=(const PeerExchange&) = delete;

  // Queues the transfer and wakes the progress thread (starting it the first time); fails
  // once the exchange stopped.
  Status submit(PeerTransferPtr transfer);
  // Fails every transfer still pending with kAborted and joins the thread. Idempotent.
  void stop();

 private:
  // The caller's thread, mutex_ held, nothing of the key pending before it: the first steps.
  // True if the transfer finished there.
  bool startOnCaller(PeerTransfer& t);
  void run();
  // Takes newly submitted transfers; false once stopping.
  bool takeQueued(std::vector<PeerTransferPtr>& active);
  // Advances every transfer in order; true if any moved.
  bool advanceAll(std::vector<PeerTransferPtr>& active);
  // Lost peers, deadlines and the job's abort verdict.
  void checkFailures(std::vector<PeerTransferPtr>& active);

  Communicator& comm_;
  const SetIdentity& set_;
  std::mutex mutex_;
  std::condition_variable cv_;
  PeerBook book_;                       // outlives the transfers
  std::deque<PeerTransferPtr> queued_;  // guarded by mutex_
  bool stopping_ = false;               // guarded by mutex_
  bool stopped_ = false;                // guarded by mutex_
  std::thread thread_;                  // started by the first submit (guarded by mutex_)
  Clock::time_point nextPeerProbe_{};   // progress thread only
};

}  // namespace kolo::core
