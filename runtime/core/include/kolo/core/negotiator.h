// Negotiator: the readiness table of one process set. Every member runs its own replica: each
// cycle the coordinator feeds it every member's RequestList, allgathered (addRequests), and
// asks for what became ready (computeResponses). The replicas see the same lists in the same
// cycles and the table is deterministic, so every member computes the same answer and no rank
// has to broadcast a decision. A name is ready once every member has submitted it (a joined
// member counts as submitted for allreduce and barrier); the answer is validated across ranks
// and comes out in one deterministic order: by the cycle in which names became ready, ties by
// name, so it does not depend on the order in which ranks or their requests arrived.
// Thread: coordinator (plain class, no locking, no clock; the stall inspector times it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/core/request.h"
#include "kolo/core/response.h"

namespace kolo::core {

// A name that is waiting for some ranks (for the stall inspector).
struct PendingTensor {
  std::string name;
  OpType op = OpType::kAllreduce;
  std::vector<int32_t> submittedRanks;  // global ranks, ascending
  std::vector<int32_t> missingRanks;    // global ranks, ascending
};

class Negotiator {
 public:
  // `members`: global ranks of the process set, in set order (the world: 0..size-1).
  Negotiator(int32_t processSetId, std::vector<int32_t> members);
  static Negotiator forWorld(int32_t size);

  // Records the requests of global rank `rank`. A malformed request (not a member, wrong
  // process set, empty name, negative dimension, a name this rank already has pending, a
  // second join) is skipped and reported; the others are still recorded. The Engine rejects
  // all of these at submit time, so an error here means a corrupt or foreign peer.
  Status addRequests(int32_t rank, const RequestList& list);

  // Everything that became ready since the last call, in the deterministic order, followed
  // by the join response once every member has joined. Sets `shutdown` once every member
  // has asked to shut down.
  ResponseList computeResponses();

  std::vector<PendingTensor> pendingTensors() const;  // ordered by name
  // Some member submitted `name` and it is still waiting for the others.
  bool isPending(const std::string& name) const { return table_.count(name) != 0; }
  std::vector<int32_t> joinedRanks() const;           // global ranks, ascending
  const std::vector<int32_t>& members() const { return members_; }
  int32_t processSetId() const { return processSetId_; }

 private:
  struct Entry {
    std::vector<std::optional<Request>> byMember;  // index: position in members_
    int submitted = 0;
    OpType op = OpType::kAllreduce;  // of the first submitter; used for join accounting
  };

  std::optional<size_t> memberIndex(int32_t rank) const;
  Status addOne(size_t member, const Request& request);
  // Every member has submitted, or has joined and the op lets joined ranks count.
  bool isReady(const Entry& entry) const;
  // Every member that has not joined has submitted an op that cannot run past a joined rank.
  bool isBlockedByJoin(const Entry& entry) const;
  Response respond(const std::string& name, const Entry& entry) const;
  Response respondToGroup(const std::vector<std::string>& names) const;

  int32_t processSetId_;
  std::vector<int32_t> members_;
  std::unordered_map<std::string, Entry> table_;
  std::vector<bool> joined_;
  int joinedCount_ = 0;
  int32_t lastJoinedRank_ = -1;
  std::string joinName_;
  std::vector<bool> shutdown_;
  int shutdownCount_ = 0;
};

}  // namespace kolo::core
