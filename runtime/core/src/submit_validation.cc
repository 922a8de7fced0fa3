#include "submit_validation.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cmath>

namespace kolo::core {

namespace {

// Ops whose result has rows only the negotiation sizes (allgather, alltoall, reducescatter).
bool isRowOp(OpType op) {
  return op == OpType::kAllgather || op == OpType::kAlltoall || op == OpType::kReducescatter;
}

// op=adasum: allreduce only, floating-point CPU tensors, a power-of-two process set (the
// collective checks the last two again; here the error comes before any negotiation).
Status validateAdasum(const Request& q, const std::vector<int32_t>& members) {
  if (q.reduceOp != ReduceOp::kAdasum) return Status::ok();
  const auto op = opTypeName(q.op);
  if (q.op != OpType::kAllreduce && q.op != OpType::kReducescatter) return Status::ok();
  if (q.op != OpType::kAllreduce) {
    return makeStatus(Code::kInvalidArgument, "{} '{}': op adasum is supported by allreduce only",
                      op, q.tensorName);
  }
  if (!isFloatingPoint(q.dtype)) {
    return makeStatus(Code::kInvalidArgument,
                      "allreduce '{}': op adasum needs a floating-point tensor, got {}",
                      q.tensorName, dataTypeName(q.dtype));
  }
  if (q.device != kCpuDevice) {
    return makeStatus(Code::kInvalidArgument,
                      "allreduce '{}': op adasum is supported for CPU tensors only", q.tensorName);
  }
  if (!std::has_single_bit(members.size())) {
    return makeStatus(Code::kInvalidArgument,
                      "allreduce '{}': op adasum needs a power-of-two number of ranks (as "
                      "Horovod), the process set has {}",
                      q.tensorName, members.size());
  }
  return Status::ok();
}

// A caller output for a row op's result (Tensor::outputBytes): a host buffer that is there.
// Whether its size is the result's only the negotiation tells (OpExecutor checks it then).
Status validateCallerOutput(const Request& q, const Tensor& t) {
  if (!isRowOp(q.op) || t.outputBytes == 0) return Status::ok();
  if (t.output == nullptr) {
    return makeStatus(Code::kInvalidArgument, "{} '{}': output is null but outputBytes is {}",
                      opTypeName(q.op), q.tensorName, t.outputBytes);
  }
  if (q.device != kCpuDevice) {
    return makeStatus(Code::kInvalidArgument,
                      "{} '{}': a caller output (outputBytes) is supported for host tensors only",
                      opTypeName(q.op), q.tensorName);
  }
  return Status::ok();
}

}  // namespace

Status validateSubmission(const Request& q, const Tensor& t, const std::vector<int32_t>& members) {
  const std::string& name = q.tensorName;
  const auto op = opTypeName(q.op);
  if (name.empty()) {
    return makeStatus(Code::kInvalidArgument, "{}: the tensor name is empty", op);
  }
  if (static_cast<uint8_t>(q.dtype) > static_cast<uint8_t>(DataType::kInt16)) {
    return makeStatus(Code::kInvalidArgument, "{} '{}': unknown dtype code {}", op, name,
                      static_cast<int>(q.dtype));
  }
  if (static_cast<uint8_t>(q.reduceOp) > static_cast<uint8_t>(ReduceOp::kAdasum)) {
    return makeStatus(Code::kInvalidArgument, "{} '{}': unknown reduce op code {}", op, name,
                      static_cast<int>(q.reduceOp));
  }
  KOLO_RETURN_IF_ERROR(validateAdasum(q, members));
  KOLO_RETURN_IF_ERROR(validateCallerOutput(q, t));
  int64_t elements = 1;
  for (int64_t d : q.shape) {
    int64_t bytes = 0;
    if (d < 0 || __builtin_mul_overflow(elements, d, &elements) ||
        __builtin_mul_overflow(elements, static_cast<int64_t>(dataTypeSize(q.dtype)), &bytes)) {
      return makeStatus(Code::kInvalidArgument, "{} '{}': invalid shape [{}]", op, name,
                        fmt::join(q.shape, ", "));
    }
  }
  const bool needsData = q.op != OpType::kBarrier && q.op != OpType::kJoin;
  if (needsData && elements > 0 && t.data == nullptr) {
    return makeStatus(Code::kInvalidArgument, "{} '{}': data is null for {} elements", op, name,
                      elements);
  }
  if (isRowOp(q.op) && q.shape.empty()) {
    return makeStatus(Code::kInvalidArgument,
                      "{} '{}': needs a tensor with at least one dimension (got a scalar)", op,
                      name);
  }
  if (!std::isfinite(q.prescale) || !std::isfinite(q.postscale)) {
    return makeStatus(Code::kInvalidArgument, "{} '{}': scale factors must be finite (got {}/{})",
                      op, name, q.prescale, q.postscale);
  }
  if (q.op == OpType::kBroadcast &&
      std::find(members.begin(), members.end(), q.rootRank) == members.end()) {
    return makeStatus(Code::kInvalidArgument,
                      "broadcast '{}': root rank {} is not a member of the process set (ranks {})",
                      name, q.rootRank, fmt::join(members, ","));
  }
  if (q.op == OpType::kAlltoall && !q.splits.empty()) {
    if (q.splits.size() != members.size()) {
      return makeStatus(Code::kInvalidArgument,
                        "alltoall '{}': {} splits for a process set of {} ranks", name,
                        q.splits.size(), members.size());
    }
    int64_t sum = 0;
    for (int64_t s : q.splits) {
      if (s < 0) {
        return makeStatus(Code::kInvalidArgument, "alltoall '{}': negative split {}", name, s);
      }
      sum += s;
    }
    if (sum != q.shape[0]) {
      return makeStatus(Code::kInvalidArgument,
                        "alltoall '{}': splits add up to {} but shape[0] is {}", name, sum,
                        q.shape[0]);
    }
  } else if (q.op == OpType::kAlltoall && q.shape[0] % static_cast<int64_t>(members.size()) != 0) {
    return makeStatus(Code::kInvalidArgument,
                      "alltoall '{}' without splits: shape[0] = {} is not divisible by {} ranks",
                      name, q.shape[0], members.size());
  }
  return Status::ok();
}

}  // namespace kolo::core
