// NegotiationCycle: decides, identically on every member of a process set, which responses
// the set runs in one cycle, and in which order. It owns the set's ResponseCache and its
// Negotiator replica.
//
// (1) The ops submitted since the last cycle are drawn from the TensorTable. Each cache
// candidate becomes a bit of this rank's cache vote or, when it is not a hit, a request of its
// RequestList. (2) ControlExchange allgathers every member's vote words, ANDed locally: in
// steady state that is the whole negotiation. (3) Only if some member has uncached requests,
// the lists are allgathered and every member feeds them to its own Negotiator replica; the
// negotiator is deterministic, so the replicas agree and no rank broadcasts a decision.
// Cache hits, then the negotiated responses, form the ordered list that ResponseRunner runs.
// The votes also carry rank 0's tuned settings, which every member applies (SetTuning) before
// the cycle's responses run.
// Thread: coordinator.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "control_exchange.h"
#include "flight_recording.h"
#include "kolo/core/negotiator.h"
#include "kolo/core/response_cache.h"
#include "pending_op.h"
#include "set_identity.h"
#include "kolo/collectives/phase_clock.h"
#include "set_metrics.h"
#include "set_tuning.h"
#include "tensor_table.h"

namespace kolo::core {

class Timeline;

class NegotiationCycle {
 public:
  // `timeline` may be null.
  NegotiationCycle(const SetIdentity& set, size_t cacheCapacity, TensorTable& table,
                   ControlExchange& exchange, SetTuning& tuning, FlightRecording& recording,
                   Timeline* timeline)
      : set_(set),
        table_(table),
        exchange_(exchange),
        tuning_(tuning),
        recording_(recording),
        timeline_(timeline),
        cache_(cacheCapacity),
        negotiator_(set.id, set.members) {}

  // What a cycle decided besides its responses.
  struct Outcome {
    bool stallAbort = false;     // some member found an op past the stall shutdown time
    bool shutdown = false;       // every member has asked to shut down
    bool joinCompleted = false;  // the join's response is among the responses
  };
  // Negotiates cycle `cycle`: `ordered` receives the responses every member runs, in one
  // order. `shutdownRequested`: this rank's caller asked to shut down; `stallAbortVote`: this
  // rank found an op past the stall shutdown time.
  Status run(uint64_t cycle, bool shutdownRequested, bool stallAbortVote,
             std::vector<Response>& ordered, Outcome& outcome);
  // After the cycle's responses ran: forgets the candidates that completed; one that stopped
  // being a hit asks for another cycle.
  void settle();

  // This rank needs a cycle even without new submissions.
  bool wantsCycle(bool shutdownRequested) const {
    return retryNeeded_ || (shutdownRequested && !shutdownSent_);
  }
  void requestRetry() { retryNeeded_ = true; }
  // After a stall abort, on every member in the same cycle, so the replicas stay identical.
  void reset();
  // The set stopped.
  void abandon() { unsent_.clear(); }
  const Negotiator& negotiator() const { return negotiator_; }
  // Before the coordinator starts: counts every cycle into `metrics` (may be null).
  void setMetrics(SetMetrics* metrics) {
    if (metrics != nullptr) PhaseClock::calibrate();  // the cycle's duration is in its ticks
    metrics_ = metrics;
  }

 private:
  // Ops drawn this cycle, by kind, for KOLO_FAULT_INJECT's phase=negotiation.
  using DrawnKinds = std::vector<std::pair<OpType, int64_t>>;
  const DrawnKinds& drawIncoming();  // into drawnKinds_
  void splitCandidates(CacheVote& vote, RequestList& list, bool shutdownRequested);
  // ANDs every member's vote words; appends the common cache hits' responses to `hits` and
  // fills listSizes_.
  void combineVotes(std::vector<Response>& hits, bool& anyList, bool& stallAbort);
  Status negotiateLists(uint64_t cycle, std::span<const std::byte> mine,
                        const std::vector<size_t>& listSizes, std::vector<Response>& ordered,
                        Outcome& outcome);
  Status addList(size_t member, std::span<const std::byte> sealed, uint64_t cycle);
  // Live metrics: which members' cache votes arrived before the others'.
  void recordVoteArrivals(const std::vector<uint64_t>& anded, bool anyList);

  const SetIdentity& set_;
  TensorTable& table_;
  ControlExchange& exchange_;
  SetTuning& tuning_;
  FlightRecording& recording_;
  Timeline* timeline_;
  SetMetrics* metrics_ = nullptr;
  std::vector<const uint64_t*> voteWords_;  // recordVoteArrivals' scratch, kept across cycles
  ResponseCache cache_;
  Negotiator negotiator_;
  std::vector<PendingOpPtr> unsent_;  // cache candidates, looked up again every cycle
  // Kept from cycle to cycle so that a cycle of cache hits allocates none of them: this
  // rank's vote (then the combined one), its words (then the AND of every member's), the
  // members' list sizes, and splitCandidates' scratch.
  CacheVote vote_;
  std::vector<uint64_t> words_;
  std::vector<size_t> listSizes_;
  std::vector<PendingOpPtr> keep_;
  std::vector<PendingOpPtr> incoming_;  // drawIncoming's, traded with the table's
  DrawnKinds drawnKinds_;
  bool retryNeeded_ = false;          // an unsent op stopped being a hit: run another cycle
  bool joinedLocal_ = false;          // this rank's join was drawn and has not completed
  bool shutdownSent_ = false;
};

}  // namespace kolo::core
