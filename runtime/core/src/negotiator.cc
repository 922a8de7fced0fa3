#include "kolo/core/negotiator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "tensor_agreement.h"

namespace kolo::core {
namespace {

// Joined ranks contribute zeros to an allreduce and have nothing to wait for in a barrier;
// every other op needs data (or a buffer) from every member.
bool joinedRankCounts(OpType op) {
  return op == OpType::kAllreduce || op == OpType::kBarrier;
}

bool zerosAreNeutral(ReduceOp op) {
  return op == ReduceOp::kSum || op == ReduceOp::kAverage;
}

const Request& firstPresent(const std::vector<std::optional<Request>>& byMember) {
  for (const auto& q : byMember) {
    if (q) return *q;
  }
  std::abort();  // entries are created by a submission, so one is always present
}

int32_t groupOf(const Request& q) {
  const bool groups = q.op == OpType::kAllreduce || q.op == OpType::kAllgather ||
                      q.op == OpType::kReducescatter;
  return groups ? q.groupId : kNoGroup;
}

}  // namespace

Negotiator::Negotiator(int32_t processSetId, std::vector<int32_t> members)
    : processSetId_(processSetId),
      members_(std::move(members)),
      joined_(members_.size(), false),
      shutdown_(members_.size(), false) {}

Negotiator Negotiator::forWorld(int32_t size) {
  std::vector<int32_t> members(static_cast<size_t>(std::max(size, 0)));
  for (int32_t r = 0; r < size; ++r) members[static_cast<size_t>(r)] = r;
  return Negotiator(kWorldProcessSet, std::move(members));
}

std::optional<size_t> Negotiator::memberIndex(int32_t rank) const {
  auto it = std::find(members_.begin(), members_.end(), rank);
  if (it == members_.end()) return std::nullopt;
  return static_cast<size_t>(it - members_.begin());
}

Status Negotiator::addRequests(int32_t rank, const RequestList& list) {
  auto member = memberIndex(rank);
  if (!member) {
    return makeStatus(Code::kInvalidArgument,
                      "rank {} is not a member of process set {} (ranks {}); dropped its {} "
                      "requests",
                      rank, processSetId_, detail::formatRanks(members_), list.requests.size());
  }
  if (list.shutdown && !shutdown_[*member]) {
    shutdown_[*member] = true;
    ++shutdownCount_;
  }
  Status firstError;
  size_t errors = 0;
  for (const Request& q : list.requests) {
    Status s = addOne(*member, q);
    if (!s.isOk() && errors++ == 0) firstError = std::move(s);
  }
  if (errors > 1) {
    return makeStatus(firstError.code(), "{} (and {} more rejected requests from rank {})",
                      firstError.message(), errors - 1, rank);
  }
  return firstError;
}

Status Negotiator::addOne(size_t member, const Request& q) {
  const int32_t rank = members_[member];
  if (q.tensorName.empty()) {
    return makeStatus(Code::kInvalidArgument, "rank {} submitted a {} with an empty name", rank,
                      opTypeName(q.op));
  }
  if (q.processSetId != processSetId_) {
    return makeStatus(Code::kInvalidArgument,
                      "rank {} sent tensor '{}' of process set {} to the negotiator of process "
                      "set {}",
                      rank, q.tensorName, q.processSetId, processSetId_);
  }
  int64_t elements = 1;
  for (int64_t d : q.shape) {
    if (d < 0 || __builtin_mul_overflow(elements, d, &elements)) {
      return makeStatus(Code::kInvalidArgument, "rank {} sent tensor '{}' with invalid shape {}",
                        rank, q.tensorName, detail::formatShape(q.shape));
    }
  }
  if (groupOf(q) != kNoGroup && q.groupSize < 1) {
    return makeStatus(Code::kInvalidArgument,
                      "rank {} sent tensor '{}' in group {} with group size {}", rank, q.tensorName,
                      q.groupId, q.groupSize);
  }
  if (q.op == OpType::kJoin) {
    if (joined_[member]) {
      return makeStatus(Code::kInvalidUsage, "rank {} joined process set {} twice", rank,
                        processSetId_);
    }
    joined_[member] = true;
    ++joinedCount_;
    lastJoinedRank_ = rank;
    if (joinName_.empty()) joinName_ = q.tensorName;
    return Status::ok();
  }
  auto [it, inserted] = table_.try_emplace(q.tensorName);
  Entry& entry = it->second;
  if (inserted) {
    entry.byMember.resize(members_.size());
    entry.op = q.op;
  } else if (entry.byMember[member]) {
    return makeStatus(Code::kInvalidUsage,
                      "rank {} submitted tensor '{}' again before its previous {} completed", rank,
                      q.tensorName, opTypeName(entry.op));
  }
  entry.byMember[member] = q;
  ++entry.submitted;
  return Status::ok();
}

bool Negotiator::isReady(const Entry& entry) const {
  if (entry.submitted == static_cast<int>(members_.size())) return true;
  if (!joinedRankCounts(entry.op)) return false;
  for (size_t m = 0; m < members_.size(); ++m) {
    if (!entry.byMember[m] && !joined_[m]) return false;
  }
  return true;
}

bool Negotiator::isBlockedByJoin(const Entry& entry) const {
  if (joinedCount_ == 0 || joinedRankCounts(entry.op)) return false;
  bool absentJoined = false;
  for (size_t m = 0; m < members_.size(); ++m) {
    if (entry.byMember[m]) continue;
    if (!joined_[m]) return false;
    absentJoined = true;
  }
  return absentJoined;
}

Response Negotiator::respond(const std::string& name, const Entry& entry) const {
  std::vector<int32_t> absent;
  for (size_t m = 0; m < members_.size(); ++m) {
    if (!entry.byMember[m]) absent.push_back(members_[m]);
  }
  const Request& first = firstPresent(entry.byMember);
  if (!absent.empty() && !joinedRankCounts(first.op)) {
    return detail::errorResponse(
        first.op, {name}, Code::kInvalidUsage,
        fmt::format("tensor '{}': {} cannot run while {} {} {} joined; only allreduce and barrier "
                    "proceed past a joined rank",
                    name, opTypeName(first.op), absent.size() == 1 ? "rank" : "ranks",
                    detail::formatRanks(absent), absent.size() == 1 ? "has" : "have"));
  }
  Response p = detail::agreeOnTensor(name, entry.byMember, members_, processSetId_);
  if (!p.isError() && !absent.empty() && p.op == OpType::kAllreduce &&
      !zerosAreNeutral(p.reduceOp)) {
    return detail::errorResponse(
        p.op, {name}, Code::kInvalidUsage,
        fmt::format("tensor '{}': allreduce with reduce op {} cannot run while {} {} {} joined "
                    "(a joined rank contributes zeros)",
                    name, reduceOpName(p.reduceOp), absent.size() == 1 ? "rank" : "ranks",
                    detail::formatRanks(absent), absent.size() == 1 ? "has" : "have"));
  }
  return p;
}

Response Negotiator::respondToGroup(const std::vector<std::string>& names) const {
  std::vector<Response> parts;
  for (const auto& name : names) {
    parts.push_back(respond(name, table_.at(name)));
    if (parts.back().isError()) {
      Response& failed = parts.back();
      return detail::errorResponse(parts.front().op, names, failed.errorCode,
                                   std::move(failed.errorMessage));
    }
  }
  Response merged = parts.front();
  merged.tensorElements.clear();
  merged.tensorSizes.clear();
  for (const Response& part : parts) {
    if (std::string why = detail::groupMismatch(part, merged, names.front()); !why.empty()) {
      return detail::errorResponse(merged.op, names, Code::kMismatch,
                                   fmt::format("group {}: {}", merged.groupId, why));
    }
    merged.tensorElements.push_back(part.tensorElements.front());
    // Allgather: each name's per-rank rows, name-major, as Response::tensorSizes says.
    merged.tensorSizes.insert(merged.tensorSizes.end(), part.tensorSizes.begin(),
                              part.tensorSizes.end());
  }
  merged.tensorNames = names;
  return merged;
}

ResponseList Negotiator::computeResponses() {
  std::vector<std::string> ready;
  for (const auto& [name, entry] : table_) {
    if (isReady(entry) || isBlockedByJoin(entry)) ready.push_back(name);
  }
  // Names that become ready in the same cycle are tied; sorting them makes the answer
  // independent of hash order and of the order ranks' lists were added.
  std::sort(ready.begin(), ready.end());

  ResponseList out;
  std::map<int32_t, std::vector<std::string>> groups;  // group id -> its ready names
  for (const auto& name : ready) {
    const Entry& entry = table_.at(name);
    int32_t group = groupOf(firstPresent(entry.byMember));
    if (group != kNoGroup) {
      groups[group].push_back(name);
    } else {
      out.responses.push_back(respond(name, entry));
    }
  }
  for (auto& [group, names] : groups) {
    const int32_t expected = firstPresent(table_.at(names.front()).byMember).groupSize;
    if (static_cast<int32_t>(names.size()) < expected) continue;  // wait for the rest
    if (static_cast<int32_t>(names.size()) > expected) {
      out.responses.push_back(detail::errorResponse(
          firstPresent(table_.at(names.front()).byMember).op, names, Code::kInvalidArgument,
          fmt::format("group {}: {} tensors are ready but the group was declared with {}", group,
                      names.size(), expected)));
      continue;
    }
    out.responses.push_back(respondToGroup(names));
  }
  std::stable_sort(out.responses.begin(), out.responses.end(),
                   [](const Response& a, const Response& b) {
                     return a.tensorNames.front() < b.tensorNames.front();
                   });
  for (const Response& p : out.responses) {
    for (const auto& name : p.tensorNames) table_.erase(name);
  }

  if (joinedCount_ == static_cast<int>(members_.size()) && !members_.empty()) {
    Response join;
    join.op = OpType::kJoin;
    join.tensorNames = {joinName_};
    join.rootRank = lastJoinedRank_;
    join.processSetId = processSetId_;
    out.responses.push_back(std::move(join));
    std::fill(joined_.begin(), joined_.end(), false);
    joinedCount_ = 0;
    lastJoinedRank_ = -1;
    joinName_.clear();
  }
  out.shutdown = shutdownCount_ == static_cast<int>(members_.size()) && !members_.empty();
  return out;
}

std::vector<PendingTensor> Negotiator::pendingTensors() const {
  std::vector<PendingTensor> out;
  for (const auto& [name, entry] : table_) {
    PendingTensor t{name, entry.op, {}, {}};
    for (size_t m = 0; m < members_.size(); ++m) {
      (entry.byMember[m] ? t.submittedRanks : t.missingRanks).push_back(members_[m]);
    }
    std::sort(t.submittedRanks.begin(), t.submittedRanks.end());
    std::sort(t.missingRanks.begin(), t.missingRanks.end());
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(),
            [](const PendingTensor& a, const PendingTensor& b) { return a.name < b.name; });
  return out;
}

std::vector<int32_t> Negotiator::joinedRanks() const {
  std::vector<int32_t> out;
  for (size_t m = 0; m < members_.size(); ++m) {
    if (joined_[m]) out.push_back(members_[m]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace kolo::core
