// ArrivalSkew: for every collective of a process set, how long each member's request arrived
// after the first member's, approximated by the negotiation cycle in which it appeared (every
// member sees every member's request lists and cache votes, so the replicas measure the same
// thing on the same cycles, each with its own clock). A negotiated op counts from the cycle that
// carried a member's request; a cached op from the first cycle a member's vote held its bit
// while some other member's did not. Per member it keeps how often it was the last to arrive
// and the sum of its lags; summary() names the member that most often kept the others waiting.
// A cycle with request lists forgets the votes still waiting (an op may leave the cache path
// there), so such an op counts its earlier voters as arriving then: lags are never invented,
// only sometimes missed.
// Thread: the record methods on the coordinator; the counters are read on any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>


namespace kolo::core {

class ArrivalSkew {
 public:
  // When something was seen: nanoseconds on the phase clock's timeline
  // (PhaseClock::nowNanos(), cheaper than the steady clock; calibrated by the caller).
  using Stamp = int64_t;
  static constexpr Stamp kNotYet = 0;

  explicit ArrivalSkew(size_t members);

  // `member`'s request for `name` was in this cycle's lists.
  void requestSeen(const std::string& name, size_t member, Stamp now);
  // The negotiator answered `name`: every member has arrived.
  void requestComplete(const std::string& name, Stamp now);
  // This cycle's votes: each member's words and their AND (`count` words each), seen at `now`
  // (unset: read from the clock only if a vote waits or completes one that waited).
  void votesSeen(std::span<const uint64_t* const> memberWords, const uint64_t* anded, size_t count,
                 Stamp now = kNotYet);
  // The cycle had request lists: drop the votes still waiting.
  void forgetVotes();
  // After a stall abort: every pending op is gone.
  void forgetAll() {
    forgetVotes();
    byName_.clear();
  }

  size_t members() const { return last_.size(); }
  uint64_t measured() const { return measured_.load(std::memory_order_relaxed); }
  uint64_t timesLast(size_t member) const { return last_[member].load(std::memory_order_relaxed); }
  uint64_t lagNanos(size_t member) const { return lag_[member].load(std::memory_order_relaxed); }
  // "rank 1 arrived last in 19 of 20 collectives, on average 51.2 ms after the first rank",
  // with `worldRanks` naming the members; empty when no member was ever late.
  std::string summary(std::span<const int32_t> worldRanks) const;

 private:
  using Arrivals = std::vector<Stamp>;  // per member; kNotYet: not yet arrived
  void complete(Arrivals& arrivals, Stamp now);
  // A vote bit that waits: its row, made at the bit's first wait and reused after (no
  // allocation per op).
  Arrivals& waitingRow(size_t bit);

  std::unordered_map<std::string, Arrivals> byName_;
  // Per cache bit: the members' first votes while the bit waits (empty: never waited yet).
  std::vector<Arrivals> byBit_;
  std::vector<uint8_t> bitWaits_;  // per cache bit: its row holds a wait
  size_t waitingBits_ = 0;
  std::vector<std::atomic<uint64_t>> last_;
  std::vector<std::atomic<uint64_t>> lag_;
  std::atomic<uint64_t> measured_{0};
};

}  // namespace kolo::core
