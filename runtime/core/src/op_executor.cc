#include "op_executor.h"

#include <algorithm>
#include <cstring>

#include "kolo/base/fault_injection.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/phase_clock.h"
#include "kolo/collectives/reduce.h"
#include "row_shapes.h"

namespace kolo::core {
namespace {

void completeAll(const FusedBatch& b, const BatchOps& ops, const Status& status) {
  for (const FusedEntry& e : b.entries) {
    const PendingOpPtr& op = ops[e.response][e.tensor];
    if (op) op->state->complete(status.isOk() ? op->outputError : status);
  }
}

}  // namespace

OpExecutor::~OpExecutor() = default;

size_t OpExecutor::pollDevice() {
  return device_ ? device_->poll() : 0;
}

void OpExecutor::drainDevice(Deadline deadline) {
  if (device_) device_->drain(deadline);
}

void OpExecutor::unpack(const FusedBatch& b, const BatchOps& ops, const std::byte* base) {
  ScopedPhase phase(Phase::kCopy);
  for (const FusedEntry& e : b.entries) {
    const PendingOpPtr& op = ops[e.response][e.tensor];
    if (op && e.bytes > 0) std::memcpy(op->output(), base + e.offset, e.bytes);
  }
}

int OpExecutor::localIndex(int32_t globalRank) const {
  auto it = std::find(members_.begin(), members_.end(), globalRank);
  return it == members_.end() ? -1 : static_cast<int>(it - members_.begin());
}

Status OpExecutor::run(const FusedBatch& b, std::span<const Response> responses,
                       const BatchOps& ops) {
  if (b.device != kCpuDevice && b.op != OpType::kBarrier && b.op != OpType::kJoin) {
    if (!device_) device_ = std::make_unique<DeviceExecutor>(comm_, members_);
    return device_->run(b, responses, ops, *this);
  }
  phases_ = {};
  Status s;
  switch (b.op) {
    case OpType::kAllreduce:
      s = allreduce(b, responses, ops);
      break;
    case OpType::kBroadcast:
      s = broadcast(b, responses, ops);
      break;
    case OpType::kAllgather:
      s = allgather(b, responses, ops);
      break;
    case OpType::kReducescatter:
      s = reducescatter(b, responses, ops);
      break;
    case OpType::kAlltoall: {
      const Response& p = responses[b.entries.front().response];
      const PendingOpPtr& op = ops[b.entries.front().response][0];
      if (!op) {
        return makeStatus(Code::kInternal, "rank {} has no op for {} '{}'", comm_.rank(),
                          opTypeName(p.op), p.tensorNames.front());
      }
      s = alltoall(p, op);
      if (!s.isOk() && failureFilter_) s = failureFilter_(s);
      op->state->complete(s.isOk() ? op->outputError : s);
      return s;
    }
    case OpType::kBarrier:
      // Negotiation already proved that every member reached the barrier.
      completeAll(b, ops, Status::ok());
      return Status::ok();
    case OpType::kJoin:
      for (const FusedEntry& e : b.entries) {
        const PendingOpPtr& op = ops[e.response][e.tensor];
        if (!op) continue;
        op->state->mutableResult().lastJoinedRank = responses[e.response].rootRank;
        op->state->complete(Status::ok());
      }
      return Status::ok();
  }
  if (!s.isOk() && failureFilter_) s = failureFilter_(s);
  completeAll(b, ops, s);
  return s;
}

Status OpExecutor::allreduce(const FusedBatch& b, std::span<const Response> responses,
                             const BatchOps& ops) {
  const size_t typeSize = dataTypeSize(b.dtype);
  if (!b.needsPacking) {
    const FusedEntry& e = b.entries.front();
    const PendingOpPtr& op = ops[e.response][e.tensor];
    const size_t count = e.bytes / typeSize;
    if (!op) {  // joined: contribute zeros, drop the result
      std::vector<std::byte> zeros(e.bytes);
      return coll::allreduce(comm_, zeros.data(), zeros.data(), count, b.dtype, b.reduceOp,
                             algorithms_.forBytes(e.bytes));
    }
    const void* in = op->tensor.data;
    void* out = op->output();
    if (b.prescale != 1.0) {
      if (out != in && count > 0) {
        ScopedPhase phase(Phase::kCopy);
        std::memcpy(out, in, e.bytes);
      }
      scaleBuffer(b.dtype, out, count, b.prescale);
      in = out;
    }
    KOLO_RETURN_IF_ERROR(
        coll::allreduce(comm_, in, out, count, b.dtype, b.reduceOp, algorithms_.forBytes(e.bytes)));
    if (b.postscale != 1.0) scaleBuffer(b.dtype, out, count, b.postscale);
    return Status::ok();
  }
  faultPoint(FaultPhase::kFusionCopy);
  if (b.prescale == 1.0) {
    if (std::optional<Status> s = allreduceInPlace(b, ops)) return *s;
  }
  KOLO_ASSIGN_OR_RETURN(FusionBuffer buffer, pool_.acquire(b.device, b.totalBytes));
  std::byte* base = buffer.data();
  uint64_t filled = 0;
  {
    ScopedPhase phase(Phase::kCopy);
    for (const FusedEntry& e : b.entries) {
      // Alignment gaps are zeroed so the reduction never sees stale bytes (NaNs, traps).
      if (e.offset > filled) std::memset(base + filled, 0, e.offset - filled);
      const PendingOpPtr& op = ops[e.response][e.tensor];
      if (op && e.bytes > 0) std::memcpy(base + e.offset, op->tensor.data, e.bytes);
      if (!op) std::memset(base + e.offset, 0, e.bytes);
      filled = e.offset + e.bytes;
    }
  }
  const size_t count = b.totalBytes / typeSize;
  if (b.prescale != 1.0) scaleBuffer(b.dtype, base, count, b.prescale);
  phases_.packed = Clock::now();
  KOLO_RETURN_IF_ERROR(coll::allreduce(comm_, base, base, count, b.dtype, b.reduceOp,
                                       algorithms_.forBytes(b.totalBytes)));
  phases_.reduced = Clock::now();
  if (b.postscale != 1.0) scaleBuffer(b.dtype, base, count, b.postscale);
  unpack(b, ops, base);
  (void)responses;
  return Status::ok();
}

std::optional<Status> OpExecutor::allreduceInPlace(const FusedBatch& b, const BatchOps& ops) {
  const size_t typeSize = dataTypeSize(b.dtype);
  std::vector<ShmArena::Segment> segments;
  segments.reserve(b.entries.size());
  size_t joinedBytes = 0;
  for (const FusedEntry& e : b.entries) {
    if (!ops[e.response][e.tensor]) joinedBytes += e.bytes;
  }
  // A joined rank contributes zeros and drops the result.
  std::vector<std::byte> zeros(joinedBytes);
  size_t zerosUsed = 0;
  size_t bytes = 0;
  for (const FusedEntry& e : b.entries) {
    const PendingOpPtr& op = ops[e.response][e.tensor];
    const size_t count = e.bytes / typeSize;
    if (op) {
      segments.push_back({op->tensor.data, op->output(), count});
    } else {
      segments.push_back({zeros.data() + zerosUsed, zeros.data() + zerosUsed, count});
      zerosUsed += e.bytes;
    }
    bytes += count * typeSize;
  }
  phases_.packed = Clock::now();
  std::optional<Status> s =
      coll::allreduceSegments(comm_, segments, b.dtype, b.reduceOp, algorithms_.forBytes(bytes));
  if (!s || !s->isOk()) return s;
  phases_.reduced = Clock::now();
  if (b.postscale != 1.0) {
    for (const ShmArena::Segment& g : segments) scaleBuffer(b.dtype, g.recv, g.count, b.postscale);
  }
  return Status::ok();
}

Status OpExecutor::broadcast(const FusedBatch& b, std::span<const Response> responses,
                             const BatchOps& ops) {
  const int root = localIndex(b.rootRank);
  if (root < 0) {
    return makeStatus(Code::kInternal, "broadcast root {} is not in the process set", b.rootRank);
  }
  const bool isRoot = root == comm_.rank();
  if (!b.needsPacking) {
    const FusedEntry& e = b.entries.front();
    const PendingOpPtr& op = ops[e.response][e.tensor];
    if (!op) {
      return makeStatus(Code::kInternal, "rank {} has no op for broadcast '{}'", comm_.rank(),
                        responses[e.response].tensorNames[e.tensor]);
    }
    void* out = op->output();
    if (isRoot && out != op->tensor.data && e.bytes > 0) {
      ScopedPhase phase(Phase::kCopy);
      std::memcpy(out, op->tensor.data, e.bytes);
    }
    return coll::broadcast(comm_, out, e.bytes, root);
  }
  KOLO_ASSIGN_OR_RETURN(FusionBuffer buffer, pool_.acquire(b.device, b.totalBytes));
  std::byte* base = buffer.data();
  faultPoint(FaultPhase::kFusionCopy);
  if (isRoot) {
    ScopedPhase phase(Phase::kCopy);
    std::memset(base, 0, b.totalBytes);
    for (const FusedEntry& e : b.entries) {
      const PendingOpPtr& op = ops[e.response][e.tensor];
      if (op && e.bytes > 0) std::memcpy(base + e.offset, op->tensor.data, e.bytes);
    }
  }
  phases_.packed = Clock::now();
  KOLO_RETURN_IF_ERROR(coll::broadcast(comm_, base, b.totalBytes, root));
  phases_.reduced = Clock::now();
  unpack(b, ops, base);
  return Status::ok();
}

Status OpExecutor::alltoall(const Response& p, const PendingOpPtr& op) {
  const size_t n = members_.size();
  const auto me = static_cast<size_t>(comm_.rank());
  const uint64_t rowBytes = p.tensorBytes(0);
  AlltoallSplits splits = alltoallSplits(p.tensorSizes, n, me, rowBytes);
  OpResult& result = op->state->mutableResult();
  result.receivedSplits = std::move(splits.receivedRows);
  std::byte* out = op->placeResult(static_cast<size_t>(splits.rows) * rowBytes);
  result.shape = withFirstDim(op->request.shape, splits.rows);
  return coll::alltoallv(comm_, op->tensor.data, splits.sendBytes, out, splits.recvBytes);
}

}  // namespace kolo::core
