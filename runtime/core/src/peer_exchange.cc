#include "peer_exchange.h"

#include <algorithm>

#include "kolo/base/cpu_contention.h"
#include "kolo/base/logging.h"
#include "kolo/base/thread_name.h"
#include "recent_drive.h"

namespace kolo::core {
namespace {

// Longest park with transfers pending: only bounds how late a deadline or a lost peer is seen
// (the doorbell wakes the thread for every message).
constexpr auto kParkSlice = std::chrono::milliseconds(10);
// Rounds without progress before parking, where waiters spin (about 2-4 ms): a peer on another
// core answers within microseconds, a large message within a millisecond or two, and a parked
// waiter is woken late (0.1 to 0.6 ms after its bytes came on the 2-core VM measured; with 200
// rounds a 1 MiB TCP ping-pong parked on most messages). (A time budget instead, SpinBudget's,
// left 32 KiB over TCP 1.3-1.4 x slower on a 2-core VM where the waits count as contended: its
// 16 rounds plus 10 us outlast the contended 16 rounds, and there the spinner holds the core
// its peer needs.)
constexpr int kSpinRounds = 2000;
// On a contended machine (kolo/base/cpu_contention.h) only these before parking.
constexpr int kContendedSpinRounds = 16;

// Rounds between the clock reads of a busy loop (deadlines, lost-peer probes): those are
// seconds away, and four clock reads a round were a sixth of a shared-memory 8-byte
// ping-pong's time. A round after a park always reads it.
constexpr int kRoundsPerClock = 16;

// The progress thread's park while callers drive (RecentDrive): how late a transfer nobody
// waits on starts. Each slice that ends with nothing left for it doubles the next, up to
// kMaxDriverSlice; one that finds such a transfer goes back to kDriverSlice. So a caller whose
// guessed waits come true (a ping-pong) is not preempted every millisecond by a thread that
// finds nothing to do (on 2 cores that cost a 1 MiB TCP ping-pong about a fifth), while one
// whose submits are not followed by waits (an isend, then compute) keeps the short bound after
// at most one long slice.
constexpr auto kDriverSlice = std::chrono::milliseconds(1);
constexpr auto kMaxDriverSlice = std::chrono::milliseconds(16);
// Submits this close together after one guessed to be waited on are guessed so too (an irecv
// and an isend, then a wait on both): the second woke the progress thread, which then raced
// the waiting caller for the same transfers (in a 4 MiB TCP ping-pong it wrote half the
// payloads, at 47 % of a core). A wrong guess costs at most the driver slice, as for the first.
constexpr auto kSubmitBurst = std::chrono::microseconds(50);

Status shutDown(const PeerTransfer& t) {
  return makeStatus(Code::kAborted, "{}: the session shut down before it completed", t.describe());
}

}  // namespace

bool PeerExchange::startOnCaller(PeerTransfer& t) {
  if (comm_.abortToken().aborted()) return false;  // the progress thread names the verdict
  // A send's header and eager payload leave together (one write on TCP).
  Channel& channel = comm_.peer(t.peer());
  channel.beginBatch();
  t.start(comm_);
  // The oldest of its key: a send posts its eager payload; a receive whose frames are there
  // goes through its phases.
  while (t.advance(comm_) && !t.done()) {
  }
  channel.endBatch();
  // What the batch held is written now: a send whose frames all left finishes here.
  while (!t.done() && t.advance(comm_)) {
  }
  return t.done();
}

Status PeerExchange::submit(PeerTransferPtr transfer) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || stopped_) {
      return makeStatus(Code::kInvalidUsage, "{}: process set {} has shut down",
                        transfer->describe(), set_.id);
    }
    if (transfer->enter(book_) && startOnCaller(*transfer)) return Status::ok();
    transfer->setWaitHelper({[](void* gate, const OpState& state, Deadline deadline) {
                               static_cast<PeerWaitGate*>(gate)->visit([&](PeerExchange& exchange) {
                                 exchange.drive(state, deadline);
                               });
                             },
                             gate_});
    queued_.push_back(std::move(transfer));
    if (!thread_.joinable()) {
      thread_ = std::thread([this] {
        LogRankScope logRank(set_.globalRank);
        nameThisThread("kolo-p2p");
        run();
      });
    }
    if (!submitWakes()) return Status::ok();
  }
  cv_.notify_all();
  comm_.transport().wake();
  return Status::ok();
}

bool PeerExchange::submitWakes() {
  const bool waitsNext = RecentDrive::waitsNext(this, kSubmitBurst);
  // Only while the progress thread parks in slices (set under mutex_, so it cannot be in an
  // unbounded wait that this submit would leave unwoken).
  return !waitsNext || !sliceParks_;
}

void PeerExchange::stop() {
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopping_ = true;
    thread = std::move(thread_);
  }
  stopRequested_.store(true);
  cv_.notify_all();
  comm_.transport().wake();
  gate_->close();
  if (thread.joinable()) thread.join();
  std::deque<PeerTransferPtr> left;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    left.swap(queued_);
  }
  std::lock_guard drive(driveMutex_);
  for (PeerTransferPtr& t : active_) t->fail(shutDown(*t));
  for (PeerTransferPtr& t : left) t->fail(shutDown(*t));
  active_.clear();
}

void PeerExchange::drive(const OpState& state, Deadline deadline) {
  {
    std::lock_guard lock(mutex_);
    ++drivers_;
  }
  IdleState idle;
  bool look = true;  // read the clock this round
  for (int round = 1; !state.done() && !stopRequested_.load(); ++round) {
    if (look && deadline.expired()) break;
    const bool moved = step(look);
    look = round % kRoundsPerClock == 0;
    if (moved) {
      idle = {};
      continue;
    }
    if (state.done()) break;
    look = idleWait(idle, deadline) || look;
  }
  // The progress thread takes over what is left; with nothing left a wake would only make it
  // look and park again (a futex wake and a task switch per transfer). It parks in driver
  // slices (kDriverSlice, growing while it finds nothing) once it has seen a drive, and the
  // first drive after a long park wakes it once so that it does.
  bool wake = true;
  const Clock::time_point now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    --drivers_;
    lastDrive_ = now;
    wake = !queued_.empty() || activeCount_.load() > 0 || !sliceParks_;
  }
  RecentDrive::drove(this, now);
  RecentDrive::drovePeers(now);
  if (wake) cv_.notify_all();
}

void PeerExchange::takeQueued() {
  std::lock_guard lock(mutex_);
  while (!queued_.empty()) {
    active_.push_back(std::move(queued_.front()));
    queued_.pop_front();
    if (!active_.back()->started()) active_.back()->start(comm_);
  }
}

bool PeerExchange::step(bool look) {
  std::lock_guard drive(driveMutex_);
  takeQueued();
  const bool moved = advanceAll();
  checkFailures(look);
  std::erase_if(active_, [](const PeerTransferPtr& t) { return t->done(); });
  activeCount_.store(active_.size());
  return moved;
}

bool PeerExchange::idleWait(IdleState& idle, const Deadline& limit) {
  // TCP: read what arrived on this thread rather than wait for the io thread to be
  // scheduled; then spin a little (no sched_yield: on a loaded machine it gives the core
  // away for far longer than a peer takes to answer), then park on the doorbell.
  if (comm_.transport().pollIncoming()) return false;
  if (++idle.rounds == 1) {
    idle.rounds = kSpinRounds - CpuContention::spinRounds(kSpinRounds, kContendedSpinRounds) + 1;
  }
  if (idle.rounds < kSpinRounds) return false;
  // The epoch is read only once the spin is over, and one more round looks before the park:
  // what arrived before the read is found by that round, what arrives after moves the epoch.
  // A spinning round that read it would pull the doorbell's line away from the sender, whose
  // ring then waits for it back (about a tenth of a shared-memory 8-byte message).
  if (!idle.epoch) {
    idle.epoch = comm_.transport().activityEpoch();
    return false;
  }
  const auto slice = std::min<Clock::duration>(kParkSlice, limit.remaining());
  comm_.transport().waitForActivity(*idle.epoch,
                                    std::chrono::duration_cast<std::chrono::microseconds>(slice));
  idle.epoch.reset();
  return true;
}

void PeerExchange::run() {
  IdleState idle;
  bool look = true;
  Clock::duration slice = kDriverSlice;
  for (int round = 1;; ++round) {
    {
      std::unique_lock lock(mutex_);
      // Parked while nothing is pending or a waiter drives: in driver slices while
      // callers drove lately (their submits may not wake it, submitWakes), else until woken.
      const auto ready = [this] {
        return stopping_ || (drivers_ == 0 && (!queued_.empty() || activeCount_.load() > 0));
      };
      sliceParks_ = lastDrive_ != Clock::time_point{} && Clock::now() - lastDrive_ <= kWaiterWindow;
      if (sliceParks_) {
        const Clock::time_point parked = Clock::now();
        if (!cv_.wait_for(lock, slice, ready)) {
          slice = std::min<Clock::duration>(2 * slice, kMaxDriverSlice);  // nothing for it
          continue;
        }
        // Work nobody drove, found only when the slice ended: a wrong guess (submitWakes).
        if (Clock::now() - parked >= slice) slice = kDriverSlice;
      } else {
        cv_.wait(lock, ready);
        slice = kDriverSlice;
      }
      if (stopping_) return;
    }
    const bool moved = step(look);
    look = round % kRoundsPerClock == 0;
    if (moved || activeCount_.load() == 0) {
      idle = {};
      continue;
    }
    look = idleWait(idle, Deadline::never()) || look;
  }
}

bool PeerExchange::advanceAll() {
  // (direction, peer, tag) of transfers still matching: a later transfer of the same key may
  // not overtake them, or its payload would go out (or be received) ahead of theirs.
  waiting_.clear();
  bool moved = false;
  for (PeerTransferPtr& t : active_) {
    const PeerBook::Key key = t->key();
    if (t->matching() && waiting_.contains(key)) continue;
    moved = t->advance(comm_) || moved;
    if (t->matching()) waiting_.insert(key);
  }
  return moved;
}

bool PeerExchange::WaitingKeys::contains(const PeerBook::Key& key) const {
  if (many_.empty()) return std::find(few_.begin(), few_.end(), key) != few_.end();
  return many_.count(key) != 0;
}

void PeerExchange::WaitingKeys::insert(const PeerBook::Key& key) {
  if (many_.empty() && few_.size() < kFew) {
    few_.push_back(key);
    return;
  }
  if (many_.empty()) many_.insert(few_.begin(), few_.end());
  many_.insert(key);
}

void PeerExchange::WaitingKeys::clear() {
  few_.clear();
  many_.clear();
}

void PeerExchange::checkFailures(bool look) {
  if (active_.empty()) return;
  if (comm_.abortToken().aborted()) {
    for (PeerTransferPtr& t : active_)
      t->fail(comm_.abortToken().status().withContext(t->describe()));
    return;
  }
  if (!look) return;
  const Clock::time_point now = Clock::now();
  for (PeerTransferPtr& t : active_) {
    if (!t->done() && now >= t->deadline().at()) {
      t->fail(makeStatus(Code::kTimeout,
                         "{}: rank {} did not complete it within {} s (KOLO_TIMEOUT_SECONDS)",
                         t->describe(), t->peer(), comm_.options().timeoutSeconds));
    }
  }
  if (now < nextPeerProbe_) return;
  nextPeerProbe_ = now + Communicator::kPeerProbeInterval;
  const int lost = comm_.transport().lostPeer();
  if (lost < 0) return;
  for (PeerTransferPtr& t : active_) {
    if (t->done() || t->peer() != lost) continue;
    t->fail(makeStatus(Code::kIoError, "{}: rank {} exited (its process is gone)", t->describe(),
                       lost));
  }
}

}  // namespace kolo::core
