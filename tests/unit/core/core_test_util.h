// Builders shared by the runtime core protocol tests.
#pragma once

#include <string>
#include <vector>

#include "kolo/core/negotiator.h"
#include "kolo/core/request.h"
#include "kolo/core/response.h"

namespace kolo::core::testing {

inline Request allreduce(int32_t rank, std::string name, std::vector<int64_t> shape,
                         DataType dtype = DataType::kFloat32) {
  Request q;
  q.rank = rank;
  q.tensorName = std::move(name);
  q.op = OpType::kAllreduce;
  q.dtype = dtype;
  q.shape = std::move(shape);
  return q;
}

inline Request withOp(Request q, OpType op) {
  q.op = op;
  return q;
}

inline RequestList listOf(int32_t rank, std::vector<Request> requests) {
  RequestList l;
  l.rank = rank;
  for (auto& q : requests) q.rank = rank;
  l.requests = std::move(requests);
  return l;
}

inline std::vector<std::string> namesOf(const ResponseList& list) {
  std::vector<std::string> out;
  for (const auto& p : list.responses) {
    for (const auto& n : p.tensorNames) out.push_back(n);
  }
  return out;
}

}  // namespace kolo::core::testing
