#include <fmt/format.h>

#include "kolo/core/request.h"
#include "kolo/core/response.h"

namespace kolo::core {

std::string_view opTypeName(OpType op) {
  switch (op) {
    case OpType::kAllreduce:
      return "allreduce";
    case OpType::kAllgather:
      return "allgather";
    case OpType::kBroadcast:
      return "broadcast";
    case OpType::kAlltoall:
      return "alltoall";
    case OpType::kReducescatter:
      return "reducescatter";
    case OpType::kBarrier:
      return "barrier";
    case OpType::kJoin:
      return "join";
  }
  return "unknown";
}

std::string deviceName(int32_t device) {
  return device == kCpuDevice ? std::string("cpu") : fmt::format("gpu:{}", device);
}

int64_t Request::elementCount() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool Request::sameSignature(const Request& other) const {
  return tensorName == other.tensorName && op == other.op && dtype == other.dtype &&
         shape == other.shape && reduceOp == other.reduceOp && rootRank == other.rootRank &&
         device == other.device && prescale == other.prescale && postscale == other.postscale &&
         processSetId == other.processSetId && groupId == other.groupId &&
         groupSize == other.groupSize && splits == other.splits;
}

uint64_t Response::tensorBytes(size_t i) const {
  if (i >= tensorElements.size() || tensorElements[i] < 0) return 0;
  return static_cast<uint64_t>(tensorElements[i]) * dataTypeSize(dtype);
}

}  // namespace kolo::core
