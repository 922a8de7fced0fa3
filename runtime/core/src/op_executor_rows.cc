// OpExecutor's row collectives that fuse: allgather and reducescatter. A batch of several
// tensors runs as one collective over a buffer packed member-major, so that what member m
// contributes (allgather) or receives (reducescatter) is one contiguous block:
//   [member 0: tensor 0's rows of m0, tensor 1's rows of m0, ...][member 1: ...]...
// A single tensor runs on its own buffers, as before fusion.
#include <cstring>

#include "kolo/base/fault_injection.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/phase_clock.h"
#include "kolo/collectives/reduce.h"
#include "op_executor.h"
#include "row_shapes.h"

namespace kolo::core {
namespace {

// One tensor of a row batch: its op, rows per member (allgather: each member's own rows;
// reducescatter: the rows each member receives) and the bytes of one row.
struct RowTensor {
  PendingOp* op = nullptr;
  std::vector<int64_t> rows;
  uint64_t rowBytes = 0;
  uint64_t bytesOf(size_t m) const { return static_cast<uint64_t>(rows[m]) * rowBytes; }
  uint64_t bytesBefore(size_t m) const {
    uint64_t sum = 0;
    for (size_t q = 0; q < m; ++q) sum += bytesOf(q);
    return sum;
  }
};

Expected<std::vector<RowTensor>> rowTensors(const FusedBatch& b,
                                            std::span<const Response> responses,
                                            const BatchOps& ops, size_t n, int rank) {
  std::vector<RowTensor> out;
  for (const FusedEntry& e : b.entries) {
    const Response& p = responses[e.response];
    const PendingOpPtr& op = ops[e.response][e.tensor];
    if (!op) {
      return makeStatus(Code::kInternal, "rank {} has no op for {} '{}'", rank, opTypeName(p.op),
                        p.tensorNames[e.tensor]);
    }
    RowTensor t{op.get(), std::vector<int64_t>(n), 0};
    if (p.op == OpType::kAllgather) {
      t.rowBytes = p.tensorBytes(e.tensor);
      for (size_t m = 0; m < n; ++m) t.rows[m] = p.tensorSizes[e.tensor * n + m];
    } else {
      // Reducescatter splits shape[0] as Horovod does: the first shape[0] % n get one more.
      const std::vector<int64_t>& shape = op->request.shape;
      const auto total = static_cast<size_t>(shape.empty() ? 1 : shape[0]);
      t.rowBytes = static_cast<uint64_t>(trailingElements(shape)) * dataTypeSize(p.dtype);
      for (size_t m = 0; m < n; ++m) t.rows[m] = static_cast<int64_t>(total / n + (m < total % n));
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

Status OpExecutor::allgather(const FusedBatch& b, std::span<const Response> responses,
                             const BatchOps& ops) {
  const size_t n = members_.size();
  const auto me = static_cast<size_t>(comm_.rank());
  KOLO_ASSIGN_OR_RETURN(std::vector<RowTensor> tensors,
                        rowTensors(b, responses, ops, n, comm_.rank()));
  std::vector<size_t> memberBytes(n, 0);
  for (const RowTensor& t : tensors) {
    int64_t rows = 0;
    for (size_t m = 0; m < n; ++m) {
      rows += t.rows[m];
      memberBytes[m] += t.bytesOf(m);
    }
    t.op->placeResult(static_cast<size_t>(rows) * t.rowBytes);
    t.op->result().shape = withFirstDim(t.op->request.shape, rows);
  }
  if (tensors.size() == 1) {
    return coll::allgatherv(comm_, tensors[0].op->tensor.data, tensors[0].op->result().bytes(),
                            memberBytes);
  }
  size_t total = 0;
  for (size_t bytes : memberBytes) total += bytes;
  KOLO_ASSIGN_OR_RETURN(FusionBuffer buffer, pool_.acquire(b.device, total + memberBytes[me]));
  std::byte* gathered = buffer.data();
  std::byte* send = gathered + total;
  faultPoint(FaultPhase::kFusionCopy);
  {
    ScopedPhase phase(Phase::kCopy);
    for (const RowTensor& t : tensors) {
      if (t.bytesOf(me) > 0) std::memcpy(send, t.op->tensor.data, t.bytesOf(me));
      send += t.bytesOf(me);
    }
  }
  phases_.packed = Clock::now();
  KOLO_RETURN_IF_ERROR(coll::allgatherv(comm_, gathered + total, gathered, memberBytes));
  phases_.reduced = Clock::now();
  ScopedPhase phase(Phase::kCopy);
  const std::byte* from = gathered;
  for (size_t m = 0; m < n; ++m) {
    for (const RowTensor& t : tensors) {
      if (t.bytesOf(m) > 0) {
        std::memcpy(t.op->result().bytes() + t.bytesBefore(m), from, t.bytesOf(m));
      }
      from += t.bytesOf(m);
    }
  }
  return Status::ok();
}

Status OpExecutor::reducescatter(const FusedBatch& b, std::span<const Response> responses,
                                 const BatchOps& ops) {
  const size_t n = members_.size();
  const auto me = static_cast<size_t>(comm_.rank());
  const size_t typeSize = dataTypeSize(b.dtype);
  KOLO_ASSIGN_OR_RETURN(std::vector<RowTensor> tensors,
                        rowTensors(b, responses, ops, n, comm_.rank()));
  std::vector<size_t> counts(n, 0);  // elements each member receives
  size_t total = 0;
  for (const RowTensor& t : tensors) {
    for (size_t m = 0; m < n; ++m) counts[m] += t.bytesOf(m) / typeSize;
    t.op->placeResult(t.bytesOf(me));
    t.op->result().shape = withFirstDim(t.op->request.shape, t.rows[me]);
  }
  for (size_t c : counts) total += c;
  const bool single = tensors.size() == 1;
  // Packed (or, for one tensor, a copy only when the input is prescaled): the whole input,
  // then this member's reduced block.
  const bool copyIn = !single || b.prescale != 1.0;
  FusionBuffer buffer;
  const void* in = tensors[0].op->tensor.data;
  if (copyIn) {
    KOLO_ASSIGN_OR_RETURN(buffer, pool_.acquire(b.device, (total + counts[me]) * typeSize));
    faultPoint(FaultPhase::kFusionCopy);
    std::byte* to = buffer.data();
    ScopedPhase phase(Phase::kCopy);
    for (size_t m = 0; m < n; ++m) {
      for (const RowTensor& t : tensors) {
        const auto* src = static_cast<const std::byte*>(t.op->tensor.data) + t.bytesBefore(m);
        if (t.bytesOf(m) > 0) std::memcpy(to, src, t.bytesOf(m));
        to += t.bytesOf(m);
      }
    }
    if (b.prescale != 1.0) scaleBuffer(b.dtype, buffer.data(), total, b.prescale);
    in = buffer.data();
    phases_.packed = Clock::now();
  }
  void* out = single ? tensors[0].op->result().bytes() : buffer.data() + total * typeSize;
  KOLO_RETURN_IF_ERROR(coll::reduceScatter(comm_, in, out, counts, b.dtype, b.reduceOp));
  if (copyIn) phases_.reduced = Clock::now();
  if (b.postscale != 1.0) scaleBuffer(b.dtype, out, counts[me], b.postscale);
  if (!single) {
    ScopedPhase phase(Phase::kCopy);
    const std::byte* from = static_cast<const std::byte*>(out);
    for (const RowTensor& t : tensors) {
      if (t.bytesOf(me) > 0) std::memcpy(t.op->result().bytes(), from, t.bytesOf(me));
      from += t.bytesOf(me);
    }
  }
  return Status::ok();
}

}  // namespace kolo::core
