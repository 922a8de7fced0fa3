#include "tensor_agreement.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <utility>
#include <vector>

namespace kolo::core::detail {
namespace {

std::vector<int64_t> trailingDims(const Request& q) {
  if (q.shape.empty()) return {};
  return std::vector<int64_t>(q.shape.begin() + 1, q.shape.end());
}

int64_t product(std::span<const int64_t> dims) {
  return std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<>());
}

// Compares one field across the ranks that submitted; on disagreement returns
// "<field> mismatch: ranks [0,2] sent A, rank [1] sent B" with groups in order of their
// lowest rank. Values are compared typed and only formatted on the (rare) error path.
template <typename Get, typename Format>
std::optional<std::string> checkField(std::string_view field,
                                      std::span<const std::optional<Request>> byMember,
                                      std::span<const int32_t> members, Get get, Format format) {
  const Request* first = nullptr;
  bool differs = false;
  for (const auto& q : byMember) {
    if (!q) continue;
    if (!first) {
      first = &*q;
    } else if (!(get(*q) == get(*first))) {
      differs = true;
      break;
    }
  }
  if (!differs) return std::nullopt;

  struct Group {
    const Request* sample;
    std::vector<int32_t> ranks;
  };
  std::vector<Group> groups;
  for (size_t i = 0; i < byMember.size(); ++i) {
    if (!byMember[i]) continue;
    const Request& q = *byMember[i];
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const Group& g) { return get(*g.sample) == get(q); });
    if (it == groups.end()) {
      groups.push_back({&q, {members[i]}});
    } else {
      it->ranks.push_back(members[i]);
    }
  }
  std::string out = fmt::format("{} mismatch: ", field);
  for (size_t g = 0; g < groups.size(); ++g) {
    if (g) out += ", ";
    out += fmt::format("{} {} sent {}", groups[g].ranks.size() == 1 ? "rank" : "ranks",
                       formatRanks(groups[g].ranks), format(*groups[g].sample));
  }
  return out;
}

std::optional<std::string> firstMismatch(OpType op,
                                         std::span<const std::optional<Request>> byMember,
                                         std::span<const int32_t> members) {
  auto check = [&](std::string_view field, auto get, auto format) {
    return checkField(field, byMember, members, get, format);
  };
  auto shapeText = [](const Request& q) { return formatShape(q.shape); };
  auto number = [](auto v) { return fmt::format("{}", v); };

  std::vector<std::optional<std::string>> found;
  found.push_back(check(
      "dtype", [](const Request& q) { return q.dtype; },
      [](const Request& q) { return std::string(dataTypeName(q.dtype)); }));
  switch (op) {
    case OpType::kAllreduce:
    case OpType::kReducescatter:
    case OpType::kBroadcast:
      found.push_back(check(
          "shape", [](const Request& q) { return q.shape; }, shapeText));
      break;
    case OpType::kAllgather:
    case OpType::kAlltoall:
      found.push_back(check(
          "rank or trailing dimensions", [](const Request& q) { return trailingDims(q); },
          shapeText));
      break;
    case OpType::kBarrier:
    case OpType::kJoin:
      return std::nullopt;
  }
  if (op == OpType::kAllreduce || op == OpType::kReducescatter) {
    found.push_back(check(
        "reduce op", [](const Request& q) { return q.reduceOp; },
        [](const Request& q) { return std::string(reduceOpName(q.reduceOp)); }));
    found.push_back(check(
        "prescale factor", [](const Request& q) { return q.prescale; },
        [&](const Request& q) { return number(q.prescale); }));
    found.push_back(check(
        "postscale factor", [](const Request& q) { return q.postscale; },
        [&](const Request& q) { return number(q.postscale); }));
  }
  if (op == OpType::kBroadcast) {
    found.push_back(check(
        "root rank", [](const Request& q) { return q.rootRank; },
        [&](const Request& q) { return number(q.rootRank); }));
  }
  found.push_back(check(
      "device", [](const Request& q) { return q.device; },
      [](const Request& q) { return deviceName(q.device); }));
  if (op == OpType::kAllreduce) {
    found.push_back(check(
        "group", [](const Request& q) { return std::pair(q.groupId, q.groupSize); },
        [](const Request& q) {
          return q.groupId == kNoGroup ? std::string("no group")
                                       : fmt::format("group {} of {}", q.groupId, q.groupSize);
        }));
  }
  for (auto& f : found) {
    if (f) return f;
  }
  return std::nullopt;
}

// Per-rank sizes of an allgather (shape[0] of each rank) or alltoall (each rank's splits).
std::optional<std::string> perRankSizes(OpType op, std::span<const std::optional<Request>> byMember,
                                        std::span<const int32_t> members,
                                        std::vector<int64_t>& sizes) {
  const int64_t n = static_cast<int64_t>(members.size());
  for (size_t i = 0; i < byMember.size(); ++i) {
    if (!byMember[i]) {
      return fmt::format("{} cannot run while rank [{}] has joined", opTypeName(op), members[i]);
    }
    const Request& q = *byMember[i];
    if (q.shape.empty()) {
      return fmt::format("{} needs at least one dimension, rank [{}] sent a scalar", opTypeName(op),
                         members[i]);
    }
    if (op == OpType::kAllgather) {
      sizes.push_back(q.shape[0]);
      continue;
    }
    if (q.splits.empty()) {
      if (q.shape[0] % n != 0) {
        return fmt::format(
            "alltoall without splits needs shape[0] divisible by {} ranks, rank [{}] sent {}", n,
            members[i], formatShape(q.shape));
      }
      sizes.insert(sizes.end(), members.size(), q.shape[0] / n);
      continue;
    }
    if (static_cast<int64_t>(q.splits.size()) != n) {
      return fmt::format("alltoall splits of rank [{}] have {} entries for {} ranks", members[i],
                         q.splits.size(), n);
    }
    int64_t total = 0;
    for (int64_t s : q.splits) {
      if (s < 0) {
        return fmt::format("alltoall splits of rank [{}] contain the negative entry {}", members[i],
                           s);
      }
      total += s;
    }
    if (total != q.shape[0]) {
      return fmt::format("alltoall splits of rank [{}] add up to {} but shape[0] is {}", members[i],
                         total, q.shape[0]);
    }
    sizes.insert(sizes.end(), q.splits.begin(), q.splits.end());
  }
  return std::nullopt;
}

bool isMember(std::span<const int32_t> members, int32_t rank) {
  return std::find(members.begin(), members.end(), rank) != members.end();
}

}  // namespace

std::string formatRanks(std::span<const int32_t> ranks) {
  return fmt::format("[{}]", fmt::join(ranks, ","));
}

std::string formatShape(std::span<const int64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

Response errorResponse(OpType op, std::vector<std::string> names, Code code, std::string message) {
  Response p;
  p.op = op;
  p.tensorNames = std::move(names);
  p.errorCode = code;
  p.errorMessage = std::move(message);
  return p;
}

Response agreeOnTensor(const std::string& name, std::span<const std::optional<Request>> byMember,
                       std::span<const int32_t> members, int32_t processSetId) {
  const Request* first = nullptr;
  for (const auto& q : byMember) {
    if (q && !first) first = &*q;
  }
  auto fail = [&](Code code, const std::string& what) {
    return errorResponse(first->op, {name}, code, fmt::format("tensor '{}': {}", name, what));
  };

  if (auto m = checkField(
          "op", byMember, members, [](const Request& q) { return q.op; },
          [](const Request& q) { return std::string(opTypeName(q.op)); })) {
    return fail(Code::kMismatch, *m);
  }
  const OpType op = first->op;
  if (auto m = firstMismatch(op, byMember, members)) return fail(Code::kMismatch, *m);

  Response p;
  p.op = op;
  p.tensorNames = {name};
  p.dtype = first->dtype;
  p.reduceOp = first->reduceOp;
  p.rootRank = first->rootRank;
  p.device = first->device;
  p.prescale = first->prescale;
  p.postscale = first->postscale;
  p.processSetId = processSetId;
  p.groupId = first->groupId;
  switch (op) {
    case OpType::kBroadcast:
      if (!isMember(members, first->rootRank)) {
        return fail(Code::kInvalidArgument,
                    fmt::format("broadcast root {} is not a member of process set {} (ranks {})",
                                first->rootRank, processSetId, formatRanks(members)));
      }
      [[fallthrough]];
    case OpType::kAllreduce:
    case OpType::kReducescatter:
      p.tensorElements = {first->elementCount()};
      break;
    case OpType::kAllgather:
    case OpType::kAlltoall:
      if (auto m = perRankSizes(op, byMember, members, p.tensorSizes)) {
        return fail(Code::kInvalidArgument, *m);
      }
      p.tensorElements = {product(std::span(first->shape).subspan(1))};
      break;
    case OpType::kBarrier:
    case OpType::kJoin:
      break;
  }
  return p;
}

std::string groupMismatch(const Response& part, const Response& first,
                          const std::string& firstName) {
  const std::string& name = part.tensorNames.front();
  auto differs = [&](std::string_view field, const std::string& mine, const std::string& theirs) {
    return fmt::format("tensor '{}' has {} {} but tensor '{}' has {}", name, field, mine,
                       firstName, theirs);
  };
  if (part.op != first.op) {
    return differs("op", std::string(opTypeName(part.op)), std::string(opTypeName(first.op)));
  }
  if (part.dtype != first.dtype) {
    return differs("dtype", std::string(dataTypeName(part.dtype)),
                   std::string(dataTypeName(first.dtype)));
  }
  if (part.reduceOp != first.reduceOp) {
    return differs("reduce op", std::string(reduceOpName(part.reduceOp)),
                   std::string(reduceOpName(first.reduceOp)));
  }
  if (part.device != first.device) {
    return differs("device", deviceName(part.device), deviceName(first.device));
  }
  if (part.prescale != first.prescale || part.postscale != first.postscale) {
    return differs("scale factors", fmt::format("{}/{}", part.prescale, part.postscale),
                   fmt::format("{}/{}", first.prescale, first.postscale));
  }
  return {};
}

}  // namespace kolo::core::detail
