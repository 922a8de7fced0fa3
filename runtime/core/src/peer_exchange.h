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
// A caller waiting on a transfer's handle drives the transfers itself (drive(), through its
// WaiterGate) instead of waiting for the progress thread to wake it, which stands aside
// meanwhile; a caller that just drove and submits again does not wake it either
// (submitWakes), as the coordinator's callers do not wake theirs.
// Thread: submit/stop on caller threads; the transfers on the progress thread or a waiter.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "peer_book.h"
#include "peer_transfer.h"
#include "set_identity.h"
#include "waiter_gate.h"

namespace kolo::core {

class PeerExchange;

// What a waiter's handle holds to reach the exchange (waiter_gate.h), closed by stop().
using PeerWaitGate = WaiterGate<PeerExchange>;

class PeerExchange {
 public:
  PeerExchange(Communicator& comm, const SetIdentity& set)
      : comm_(comm), set_(set), gate_(std::make_shared<PeerWaitGate>(this)) {}
  ~PeerExchange() { stop(); }
  PeerExchange(const PeerExchange&) = delete;
  PeerExchange& operator=(const PeerExchange&) = delete;

  // Takes the transfer's first steps on the calling thread when nothing of its key is pending
  // (it may finish there), else queues it; wakes the progress thread (starting it the first
  // time) for what is left. Fails once the exchange stopped.
  Status submit(PeerTransferPtr transfer);
  // Fails every transfer still pending with kAborted and joins the thread. Idempotent.
  void stop();

 private:
  // The caller's thread, mutex_ held, nothing of the key pending before it: the first steps.
  // True if the transfer finished there.
  bool startOnCaller(PeerTransfer& t);
  // A waiter on one of this exchange's handles (OpState's wait helper, through the gate):
  // drives every transfer itself until its state is done, the deadline passes or the exchange
  // stops, while the progress thread stands aside, so the waiter sees its data without a
  // thread hop.
  void drive(const OpState& state, Deadline deadline);
  // Whether a submit (mutex_ held) wakes the progress thread: not when this thread drove the
  // exchange just before and has not submitted since (it is about to wait and drive again) while
  // the progress thread parks in short slices (which bounds the start of a transfer nobody
  // waits on).
  bool submitWakes();
  void run();
  // One round over the transfers (progress thread or a driving waiter): takes the queued ones,
  // advances every one in order, applies failures, drops the finished. True if any moved.
  // `look`: deadlines and lost peers are checked this round (they read the clock).
  bool step(bool look);
  // A driving loop's idle rounds since it last moved something, and the activity epoch read
  // for its next park (only once the spin is over).
  struct IdleState {
    int rounds = 0;
    std::optional<uint32_t> epoch;
  };
  // Spins (contention-aware) or parks on the doorbell, at most until `limit`, after a round
  // that moved nothing. True if it parked.
  bool idleWait(IdleState& idle, const Deadline& limit);
  // Takes newly submitted transfers (mutex_ held).
  void takeQueued();
  // Advances every transfer in order; true if any moved.
  bool advanceAll();
  // The job's abort verdict; with `look`, deadlines and lost peers too.
  void checkFailures(bool look);

  Communicator& comm_;
  const SetIdentity& set_;
  std::shared_ptr<PeerWaitGate> gate_;
  std::mutex mutex_;
  std::condition_variable cv_;
  PeerBook book_;                       // outlives the transfers
  std::deque<PeerTransferPtr> queued_;  // guarded by mutex_
  bool stopping_ = false;               // guarded by mutex_
  bool stopped_ = false;                // guarded by mutex_
  int drivers_ = 0;                     // waiters driving (guarded by mutex_)
  Clock::time_point lastDrive_{};       // when a waiter last stopped driving (guarded by mutex_)
  bool sliceParks_ = false;             // the progress thread parks in slices (guarded by mutex_)
  std::atomic<size_t> activeCount_{0};
  std::atomic<bool> stopRequested_{false};
  std::thread thread_;  // started by the first queued transfer (guarded by mutex_)
  // Whoever drives (the progress thread or one waiter at a time) holds driveMutex_.
  std::mutex driveMutex_;
  std::vector<PeerTransferPtr> active_;  // guarded by driveMutex_
  // The keys advanceAll found still matching this round: a few, looked up linearly without
  // allocating (the vector keeps its capacity); past kFew (many receives posted ahead) a set,
  // so a round stays O(n log n).
  class WaitingKeys {
   public:
    bool contains(const PeerBook::Key& key) const;
    void insert(const PeerBook::Key& key);
    void clear();

   private:
    static constexpr size_t kFew = 16;
    std::vector<PeerBook::Key> few_;
    std::set<PeerBook::Key> many_;
  };
  WaitingKeys waiting_;  // advanceAll's scratch, under driveMutex_
  Clock::time_point nextPeerProbe_{};   // guarded by driveMutex_
};

}  // namespace kolo::core
