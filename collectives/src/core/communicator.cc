#include "kolo/collectives/communicator.h"

#include <sched.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kolo/base/cpu_contention.h"
#include "kolo/base/fault_injection.h"
#include "kolo/collectives/phase_clock.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo {

Communicator::Communicator(std::shared_ptr<Transport> transport, std::shared_ptr<ShmArena> arena,
                           CommunicatorOptions options)
    : transport_(std::move(transport)), arena_(std::move(arena)), options_(std::move(options)) {
  if (!options_.abort) options_.abort = std::make_shared<AbortToken>();
  if (arena_) arena_->watchAbort(options_.abort);
  PhaseClock::calibrate();  // opDeadline's interval clock (once per process)
}

Deadline Communicator::opDeadline() const {
  constexpr uint64_t kReuseNanos = 1'000'000;
  const int64_t now = PhaseClock::ticks();
  const int64_t last = deadlineTicks_.load(std::memory_order_acquire);
  if (last != 0 && now >= last && PhaseClock::nanos(static_cast<uint64_t>(now - last)) < kReuseNanos) {
    return Deadline::at(Clock::time_point(Clock::duration(deadlineAt_.load(std::memory_order_relaxed))));
  }
  const Deadline fresh = Deadline::afterSeconds(options_.timeoutSeconds);
  // Two threads may both refresh; either pair is a valid deadline (the at-most-1-ms rule).
  deadlineTicks_.store(0, std::memory_order_relaxed);
  deadlineAt_.store(fresh.at().time_since_epoch().count(), std::memory_order_relaxed);
  deadlineTicks_.store(now, std::memory_order_release);
  return fresh;
}

Communicator::~Communicator() = default;

bool Communicator::firstChoice(uint64_t choiceKey) const {
  if (std::find(loggedChoices_.begin(), loggedChoices_.end(), choiceKey) != loggedChoices_.end()) {
    return false;
  }
  loggedChoices_.push_back(choiceKey);
  return true;
}

void Communicator::attachSubgroups(HostLayout layout, std::unique_ptr<Communicator> node,
                                   std::unique_ptr<Communicator> cross) {
  layout_ = std::move(layout);
  node_ = std::move(node);
  cross_ = std::move(cross);
  lastChoices_ = {};
}

void Communicator::shareSubgroupsOf(const Communicator& other) {
  layout_ = other.layout_;
  node_ = other.node_;
  cross_ = other.cross_;
  lastChoices_ = {};
}

namespace {

// The requests of one waitAll: which finished, how many are left, the first failure.
struct PendingRequests {
  explicit PendingRequests(std::span<const TransferRequestPtr> all)
      : requests(all), done(all.size(), false), remaining(all.size()) {}
  // Tests every pending request; true when one finished.
  bool sweep() {
    bool progressed = false;
    for (size_t i = 0; i < requests.size(); ++i) {
      if (done[i]) continue;
      if (!requests[i]) {
        done[i] = true;
        --remaining;
        continue;
      }
      if (requests[i]->test()) {
        done[i] = true;
        --remaining;
        progressed = true;
        if (first.isOk() && !requests[i]->status().isOk()) first = requests[i]->status();
      }
    }
    return progressed;
  }
  std::span<const TransferRequestPtr> requests;
  std::vector<bool> done;
  size_t remaining;
  Status first;
};

// "recv of 8 B from rank 2 (tag 0x1); send of ...": the requests a timed-out wait still had.
std::string describePending(std::span<const TransferRequestPtr> requests,
                            const std::vector<bool>& done) {
  std::string pending;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (done[i]) continue;
    if (!pending.empty()) pending += "; ";
    pending += requests[i]->describe();
  }
  return pending;
}

}  // namespace

int Communicator::jobRank(int r) const {
  return static_cast<size_t>(r) < options_.worldRanks.size()
             ? options_.worldRanks[static_cast<size_t>(r)]
             : r;
}

Status Communicator::checkPeers(std::string_view waitingFor) const {
  const int lost = transport_->lostPeer();
  if (lost < 0) return Status::ok();
  return makeStatus(Code::kIoError,
                    "rank {}: rank {} exited (its process is gone) while waiting for {}",
                    jobRank(rank()), jobRank(lost), waitingFor);
}

Status Communicator::idleVerdict(Clock::time_point& nextPeerProbe,
                                 const std::function<std::string()>& waitingFor) const {
  // The job was declared failed elsewhere (docs/RELIABILITY.md).
  if (abortToken().aborted()) return abortToken().status();
  if (faultSevered()) {
    return makeStatus(Code::kIoError,
                      "rank {}: this rank dropped its connections (fault injection drop_conn)",
                      rank());
  }
  // The first idle moment only starts the clock: most waits end well before a probe is due.
  const Clock::time_point now = Clock::now();
  const bool first = nextPeerProbe == Clock::time_point{};
  if (first || now < nextPeerProbe) {
    if (first) nextPeerProbe = now + kPeerProbeInterval;
    return Status::ok();
  }
  nextPeerProbe = now + kPeerProbeInterval;
  return transport_->lostPeer() < 0 ? Status::ok() : checkPeers(waitingFor());
}

Status Communicator::waitAll(std::span<const TransferRequestPtr> requests, Deadline deadline) {
  ScopedPhase phase(Phase::kTransfer);  // what arrives is also moved in here (pollIncoming)
  // Spin a little (a peer on another core answers within microseconds), then yield, then park
  // on the doorbell so an idle or oversubscribed rank does not steal a core.
  constexpr int kSpinRounds = 2000;
  constexpr int kYieldRounds = 50;
  // About the first 32 socket polls of a TCP wait: a small reply already under way.
  constexpr int kContendedSpinRounds = 64;
  int spinRounds = kSpinRounds;
  PendingRequests pending(requests);
  constexpr int kMaxEmptyPolls = 32;
  int idleRounds = 0;
  int emptyPolls = 0;
  Clock::time_point nextPeerProbe{};
  Status& first = pending.first;
  const std::vector<bool>& done = pending.done;
  // The activity epoch is read only by a round that may end parked: what arrived before the
  // read is found by that round's sweep, what arrives after moves the epoch. A spinning round
  // that read it would pull the doorbell's line away from the sender, whose ring then waits
  // for it back.
  uint32_t epoch = 0;
  bool epochRead = false;
  while (pending.remaining > 0) {
    epochRead = idleRounds + 1 >= spinRounds;
    if (epochRead) epoch = transport_->activityEpoch();
    const bool progressed = pending.sweep();
    if (!first.isOk()) break;
    if (pending.remaining == 0) break;
    if (progressed) {
      idleRounds = 0;
      continue;
    }
    // What arrived is moved in here rather than by the transport's io thread (TCP). Polls that
    // find nothing use up a small budget; then the spin is plain loads again and leaves the
    // core to the threads that are moving the bytes, unless the io thread left the reading to
    // the callers (callersRead): then only this poll moves them.
    if ((emptyPolls < kMaxEmptyPolls || transport_->callersRead()) && (idleRounds & 1) == 0) {
      emptyPolls = transport_->pollIncoming() ? 0 : emptyPolls + 1;
    }
    if (deadline.expired()) {
      first = makeStatus(Code::kTimeout, "rank {}: timed out after {:.3g} s waiting for {}",
                         jobRank(rank()), options_.timeoutSeconds, describePending(requests, done));
      break;
    }
    // A contended machine (kolo/base/cpu_contention.h) spins only briefly and never yields.
    if (++idleRounds == 1) spinRounds = CpuContention::spinRounds(kSpinRounds, kContendedSpinRounds);
    if (idleRounds < spinRounds) continue;
    // Checked only once spinning failed: whether what this wait expects can still come.
    Status verdict = idleVerdict(nextPeerProbe, [&] { return describePending(requests, done); });
    if (!verdict.isOk()) {
      // A peer that sent what this wait expects and then exited, between the tests above and
      // the probe, is not a failure: what it sent is here. Look once more before blaming it
      // (not after an abort or this rank's own fault, which end the wait as they are).
      // Only a complete success overrides the verdict: a request that failed meanwhile (its
      // connection lost) keeps the verdict, which names the failed rank, as the error.
      if (!abortToken().aborted() && !faultSevered()) {
        (void)transport_->pollIncoming();
        pending.sweep();
        if (pending.remaining == 0 && first.isOk()) break;
      }
      first = std::move(verdict);
      break;
    }
    if (spinRounds == kSpinRounds && idleRounds < kSpinRounds + kYieldRounds) {
      sched_yield();
      continue;
    }
    if (!epochRead) continue;  // the next round reads it before its sweep
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline.remaining());
    transport_->waitForActivity(
        epoch, std::min<std::chrono::microseconds>(left, std::chrono::milliseconds(50)));
  }
  if (!first.isOk()) {
    for (size_t i = 0; i < requests.size(); ++i) {
      if (!done[i] && requests[i]) requests[i]->cancel();
    }
  }
  return first;
}

}  // namespace kolo
