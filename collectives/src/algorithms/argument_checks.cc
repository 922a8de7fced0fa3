// Argument checks shared by every collective entry point: a bad argument fails at once with
// kInvalidArgument naming it, before any rank sends a byte.
#include "algorithms/internal.h"

namespace kolo::coll {

Status checkBuffer(const void* buffer, size_t count, const char* name) {
  if (buffer == nullptr && count != 0) {
    return makeStatus(Code::kInvalidArgument, "{} is null but {} elements/bytes were requested",
                      name, count);
  }
  return Status::ok();
}

Status checkCounts(std::span<const size_t> counts, int worldSize, const char* name) {
  if (counts.size() != static_cast<size_t>(worldSize)) {
    return makeStatus(Code::kInvalidArgument, "{} has {} entries, expected one per rank ({})", name,
                      counts.size(), worldSize);
  }
  return Status::ok();
}

Status checkDataType(DataType type, ReduceOp op) {
  if (dataTypeSize(type) == 0) {
    return makeStatus(Code::kInvalidArgument, "unknown data type {}", static_cast<int>(type));
  }
  if (op == ReduceOp::kAdasum) {
    return makeStatus(Code::kInvalidArgument, "op adasum is supported by allreduce only");
  }
  if (static_cast<int>(op) > static_cast<int>(ReduceOp::kProduct)) {
    return makeStatus(Code::kInvalidArgument, "unknown reduce op {}", static_cast<int>(op));
  }
  return Status::ok();
}

}  // namespace kolo::coll
