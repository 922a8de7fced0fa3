// FlagWaiter: how an arena rank waits for its peers' flag words to reach a target.
// The check is inline and costs a few loads when the flags are already there. Otherwise it
// spins with _mm_pause for up to 20 us (a peer on another core answers in well under that;
// the budget shrinks while spinning keeps failing, i.e. while the peer shares our core), then
// sched_yield()s, then parks on the arena's futex word with a short timeout, so an
// oversubscribed rank (8 ranks on 2 cores) does not burn the core its peers need.
// Publishers wake sleepers only when the sleeper count is non-zero: no syscall on the fast path.
// While parked, each missing peer's pid is probed with kill(pid, 0), so a dead peer becomes
// kIoError within ~100 ms rather than a timeout.
// Thread: the arena caller's; the bell word is shared by every rank's process.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kolo/base/abort_token.h"
#include "kolo/base/deadline.h"
#include "kolo/base/status.h"
#include "transport/shm/shm_segment.h"

namespace kolo::shm {

// The same counter in every rank's control block: at(q) is rank q's copy.
struct FlagArray {
  std::byte* base;  // flag of rank 0
  size_t stride;    // bytes between ranks' flags
  std::atomic<uint64_t>& at(int rank) const {
    return *reinterpret_cast<std::atomic<uint64_t>*>(base + size_t(rank) * stride);
  }
};

// Names what was awaited, for error messages: "allreduce chunk 3: rank 1 did not stage its
// data". `chunk` < 0 omits the chunk.
struct WaitStage {
  const char* op;
  int64_t chunk;
  const char* verb;
};

// An extra condition that also ends a wait (the pipelined allreduce waits for its next step
// but returns as soon as any other step becomes possible).
struct WaitEscape {
  bool (*ready)(const void* context) = nullptr;
  const void* context = nullptr;
  bool operator()() const { return ready != nullptr && ready(context); }
};

class FlagWaiter {
 public:
  FlagWaiter(ShmSegment& segment, int rank, int size);

  // Publishes `value` into this rank's flag (release) and wakes parked peers if there are any.
  void publish(std::atomic<uint64_t>& flag, uint64_t value) {
    flag.store(value, std::memory_order_release);
    wakeSleepers();
  }
  void wakeSleepers() {
    // Pairs with the fence in park(): either the sleeper sees our store before it sleeps,
    // or we see its sleeper count and wake it.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (bell_->sleepers.load(std::memory_order_relaxed) != 0) wakeAll();
  }

  // A raised token ends every later wait with its status (the job was declared failed).
  void watchAbort(std::shared_ptr<const AbortToken> token) { abort_ = std::move(token); }

  // Waits until every rank's flag (or only `onlyRank`'s when >= 0) is >= target, or `escape`
  // holds. Errors name the ranks whose flag is missing.
  Status waitAll(FlagArray flags, uint64_t target, Deadline deadline, WaitStage stage,
                 int onlyRank = -1, WaitEscape escape = {}) {
    if (onlyRank >= 0) {
      if (flags.at(onlyRank).load(std::memory_order_acquire) >= target) return Status::ok();
    } else if (allReached(flags, target)) {
      return Status::ok();
    }
    return waitSlow(flags, target, deadline, stage, onlyRank, escape);
  }

  // The longest spin before a wait parks: long when every rank has a core of its own.
  int64_t maxSpinNs() const { return maxSpinNs_; }

  // True when every rank's flag is >= target (acquire, so their data is visible).
  bool allReached(FlagArray flags, uint64_t target) const {
    for (int q = 0; q < size_; ++q) {
      if (flags.at(q).load(std::memory_order_acquire) < target) return false;
    }
    return true;
  }

 private:
  Status waitSlow(FlagArray flags, uint64_t target, Deadline deadline, WaitStage stage,
                  int onlyRank, WaitEscape escape);
  bool reached(FlagArray flags, uint64_t target, int onlyRank) const;
  void wakeAll();
  void park(FlagArray flags, uint64_t target, int onlyRank, WaitEscape escape);
  Status checkPeersAlive(FlagArray flags, uint64_t target, int onlyRank, WaitStage stage);

  ShmSegment& segment_;
  ArenaBell* bell_;
  int rank_;
  int size_;
  // Bounds of the adaptive spin; wider when every rank of the host can have a core of its own.
  int64_t minSpinNs_;
  int64_t maxSpinNs_;
  int64_t spinBudgetNs_;
  std::shared_ptr<const AbortToken> abort_;  // null until a Communicator adopts the arena
};

}  // namespace kolo::shm
