// Communicator: a group of ranks, a Channel to each peer, (when every rank shares one host) a
// shared-memory arena for direct algorithms, and (when the ranks span hosts) two subgroups that
// hierarchical algorithms compose: the node group (the ranks on this host, over shm with its
// arena) and the cross group (the ranks with this local rank on the other hosts).
// Collectives take a Communicator and never see tensor names, the coordinator or the store.
// Thread: one collective at a time per Communicator, on the caller's thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/abort_token.h"
#include "kolo/base/deadline.h"
#include "kolo/base/status.h"
#include "kolo/collectives/algorithm_policy.h"
#include "kolo/collectives/host_layout.h"
#include "kolo/collectives/transport.h"

namespace kolo::coll {
struct AlgorithmEntry;
}  // namespace kolo::coll

namespace kolo {

class ShmArena;  // collectives/src/transport/shm: same-host direct algorithms

struct CommunicatorOptions {
  // Upper bound on one collective; a silent peer becomes kTimeout naming it.
  double timeoutSeconds = 300.0;
  // KOLO_*_ALGO and KOLO_HIERARCHICAL_* as parsed when the world was built (default: auto).
  coll::SelectionPolicy algorithms;
  // The job's failure verdict, shared by every communicator of one job (subgroups, process
  // sets, the arena). Null: the Communicator makes a token of its own.
  std::shared_ptr<AbortToken> abort;
  // A subgroup's members' ranks in the job, in subgroup order, so its messages name the ranks
  // users know (empty: this communicator's ranks are the job's).
  std::vector<int> worldRanks;
};

enum class Subgroup {
  kNode,   // ranks on this rank's host, in local-rank order
  kCross,  // ranks with this rank's local rank, one per host that has it, in host order
};

class Communicator {
 public:
  Communicator(std::shared_ptr<Transport> transport, std::shared_ptr<ShmArena> arena,
               CommunicatorOptions options);
  ~Communicator();

  int rank() const { return transport_->rank(); }
  int size() const { return transport_->size(); }
  Transport& transport() { return *transport_; }
  Channel& peer(int r) { return transport_->channel(r); }
  // Non-null when every rank of this communicator maps one shared-memory arena.
  ShmArena* arena() const { return arena_.get(); }
  const CommunicatorOptions& options() const { return options_; }
  // Raised once the job failed (kolorun's verdict): every wait of this communicator then ends
  // with its status.
  AbortToken& abortToken() const { return *options_.abort; }

  // Null unless attachSubgroups() was called (connectWorld does when the ranks span hosts).
  Communicator* subgroup(Subgroup which) const {
    return which == Subgroup::kNode ? node_.get() : cross_.get();
  }
  // Where every rank of this communicator runs; null when unknown (no subgroups).
  const HostLayout* hostLayout() const { return layout_ ? &*layout_ : nullptr; }
  // `node` must have layout.localSize ranks with rank layout.localRank, `cross` layout.crossSize
  // ranks with rank layout.crossRank.
  void attachSubgroups(HostLayout layout, std::unique_ptr<Communicator> node,
                       std::unique_ptr<Communicator> cross);
  // Uses `other`'s subgroups too (the runtime's world process set runs over a view of the
  // world's transport but the same hosts). Only one of the two may run collectives on them.
  void shareSubgroupsOf(const Communicator& other);
  // timeoutSeconds from now. A steady-clock read is a good part of a small collective on some
  // machines, so an op that starts within 1 ms of the one that last read it (on the
  // time-stamp counter, PhaseClock::ticks) reuses that deadline: at most 1 ms early, of a
  // timeout of seconds. Any thread.
  Deadline opDeadline() const;

  // Every rank calls collectives in the same order, so the n-th collective gets the same tag
  // base everywhere; an algorithm adds its step number (< 2^20) to it.
  uint64_t beginCollective() { return (++sequence_) << 20; }

  // True the first time `choiceKey` is seen on this communicator: the selector logs each
  // (collective, size class, algorithm) once per communicator, not once per op.
  bool firstChoice(uint64_t choiceKey) const;
  // The selector's last choice for `kind` when it was made for exactly `bytes` (the choice is a
  // pure function of the two and of this communicator's fixed facts), else null; and the
  // record of a new choice. Cleared when the subgroups change. Thread: the collectives' caller.
  const coll::AlgorithmEntry* lastChoice(coll::CollectiveKind kind, size_t bytes) const {
    const ChoiceMemo& m = lastChoices_[static_cast<size_t>(kind)];
    return m.entry != nullptr && m.bytes == bytes ? m.entry : nullptr;
  }
  void noteChoice(coll::CollectiveKind kind, size_t bytes, const coll::AlgorithmEntry* entry) const {
    lastChoices_[static_cast<size_t>(kind)] = {bytes, entry};
  }

  // Waits until every request finished or the deadline passed. Spins briefly, then parks on
  // the transport's doorbell. Returns the first failure; on timeout cancels what is pending
  // and returns kTimeout naming each pending request (and so each silent peer).
  Status waitAll(std::span<const TransferRequestPtr> requests, Deadline deadline);
  Status waitAll(std::span<const TransferRequestPtr> requests) {
    return waitAll(requests, opDeadline());
  }
  // kIoError naming the first peer whose process is known to be gone (Transport::lostPeer)
  // and `waitingFor`; ok when none is. For waiters outside waitAll (the runtime's coordinator
  // parked on a negotiation some peer never joined).
  Status checkPeers(std::string_view waitingFor) const;
  // The job rank of communicator rank `r` (options().worldRanks; `r` itself without them).
  int jobRank(int r) const;
  // How often a parked wait asks the transport about lost peers.
  static constexpr std::chrono::milliseconds kPeerProbeInterval{100};

 private:
  // Why a wait that stopped progressing must end now: the job was declared failed, this rank
  // dropped its connections (fault injection), or (probed every kPeerProbeInterval) a peer's
  // process is gone. Ok otherwise.
  Status idleVerdict(Clock::time_point& nextPeerProbe,
                     const std::function<std::string()>& waitingFor) const;

  std::shared_ptr<Transport> transport_;
  std::shared_ptr<ShmArena> arena_;
  CommunicatorOptions options_;
  uint64_t sequence_ = 0;
  mutable std::atomic<int64_t> deadlineTicks_{0};  // PhaseClock::ticks() at the last read
  mutable std::atomic<Clock::rep> deadlineAt_{0};  // the deadline then read
  mutable std::vector<uint64_t> loggedChoices_;
  struct ChoiceMemo {
    size_t bytes = 0;
    const coll::AlgorithmEntry* entry = nullptr;
  };
  mutable std::array<ChoiceMemo, coll::kCollectiveKindCount> lastChoices_{};
  std::optional<HostLayout> layout_;
  std::shared_ptr<Communicator> node_;
  std::shared_ptr<Communicator> cross_;
};

}  // namespace kolo
