#include "peer_exchange.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "kolo/base/cpu_contention.h"
#include "kolo/base/logging.h"

namespace kolo::core {
namespace {

// Longest park with transfers pending: only bounds how late a deadline or a lost peer is seen
// (the doorbell wakes the thread for every message).
constexpr auto kParkSlice = std::chrono::milliseconds(10);
// Rounds without progress before parking: a peer on another core answers within microseconds.
constexpr int kSpinRounds = 200;
// On a contended machine (kolo/base/cpu_contention.h) only these before parking.
constexpr int kContendedSpinRounds = 16;

}  // namespace

bool PeerExchange::startOnCaller(PeerTransfer& t) {
  if (comm_.abortToken().aborted()) return false;  // the progress thread names the verdict
  t.start(comm_);
  // The oldest of its key: a send posts its eager payload; a receive whose frames are there
  // goes through its phases.
  while (t.advance(comm_) && !t.done()) {
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
    queued_.push_back(std::move(transfer));
    if (!thread_.joinable()) {
      thread_ = std::thread([this] {
        LogRankScope logRank(set_.globalRank);
        run();
      });
    }
  }
  cv_.notify_one();
  comm_.transport().wake();
  return Status::ok();
}

void PeerExchange::stop() {
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopping_ = true;
    thread = std::move(thread_);
  }
  cv_.notify_one();
  comm_.transport().wake();
  if (thread.joinable()) thread.join();
  std::deque<PeerTransferPtr> left;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    left.swap(queued_);
  }
  for (PeerTransferPtr& t : left) {
    t->fail(
        makeStatus(Code::kAborted, "{}: the session shut down before it completed", t->describe()));
  }
}

bool PeerExchange::takeQueued(std::vector<PeerTransferPtr>& active) {
  std::unique_lock lock(mutex_);
  if (active.empty()) cv_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
  if (stopping_) return false;
  while (!queued_.empty()) {
    active.push_back(std::move(queued_.front()));
    queued_.pop_front();
    if (!active.back()->started()) active.back()->start(comm_);
  }
  return true;
}

void PeerExchange::run() {
  std::vector<PeerTransferPtr> active;
  int idleRounds = 0;
  while (takeQueued(active)) {
    const uint32_t epoch = comm_.transport().activityEpoch();
    const bool moved = advanceAll(active);
    checkFailures(active);
    std::erase_if(active, [](const PeerTransferPtr& t) { return t->done(); });
    if (moved || active.empty()) {  // empty: takeQueued waits for the next transfer
      idleRounds = 0;
      continue;
    }
    // TCP: read what arrived on this thread rather than wait for the io thread to be
    // scheduled; then spin a little (no sched_yield: on a loaded machine it gives the core
    // away for far longer than a peer takes to answer), then park on the doorbell.
    if (comm_.transport().pollIncoming()) continue;
    if (++idleRounds == 1) {
      idleRounds = kSpinRounds - CpuContention::spinRounds(kSpinRounds, kContendedSpinRounds) + 1;
    }
    if (idleRounds < kSpinRounds) continue;
    if (!active.empty()) comm_.transport().waitForActivity(epoch, kParkSlice);
  }
  for (PeerTransferPtr& t : active) {
    t->fail(
        makeStatus(Code::kAborted, "{}: the session shut down before it completed", t->describe()));
  }
}

bool PeerExchange::advanceAll(std::vector<PeerTransferPtr>& active) {
  // (direction, peer, tag) of transfers still matching: a later transfer of the same key may
  // not overtake them, or its payload would go out (or be received) ahead of theirs.
  std::set<std::tuple<bool, int, int32_t>> waiting;
  bool moved = false;
  for (PeerTransferPtr& t : active) {
    const auto key = std::make_tuple(t->isSend(), t->peer(), t->tag());
    if (t->matching() && waiting.count(key) != 0) continue;
    moved = t->advance(comm_) || moved;
    if (t->matching()) waiting.insert(key);
  }
  return moved;
}

void PeerExchange::checkFailures(std::vector<PeerTransferPtr>& active) {
  if (active.empty()) return;
  if (comm_.abortToken().aborted()) {
    for (PeerTransferPtr& t : active)
      t->fail(comm_.abortToken().status().withContext(t->describe()));
    return;
  }
  for (PeerTransferPtr& t : active) {
    if (!t->done() && t->deadline().expired()) {
      t->fail(makeStatus(Code::kTimeout,
                         "{}: rank {} did not complete it within {} s (KOLO_TIMEOUT_SECONDS)",
                         t->describe(), t->peer(), comm_.options().timeoutSeconds));
    }
  }
  const Clock::time_point now = Clock::now();
  if (now < nextPeerProbe_) return;
  nextPeerProbe_ = now + Communicator::kPeerProbeInterval;
  const int lost = comm_.transport().lostPeer();
  if (lost < 0) return;
  for (PeerTransferPtr& t : active) {
    if (t->done() || t->peer() != lost) continue;
    t->fail(makeStatus(Code::kIoError, "{}: rank {} exited (its process is gone)", t->describe(),
                       lost));
  }
}

}  // namespace kolo::core
