// Allgather, alltoall and reducescatter of CUDA tensors on NCCL. Their outputs have sizes only
// the negotiation knows and are returned in the op's host OpResult (the adapter moves them
// where the framework wants them), so the device result is copied into a pinned buffer on
// Kolo's stream, and from there into the OpResult once the work finished: the coordinator
// never waits for the device.
#include <cstring>
#include <vector>

#include "device_executor.h"
#include "kolo/collectives/gpu/nccl_backend.h"
#include "row_shapes.h"

namespace kolo::core {
namespace {

// Where a row op's result lands on the device before it is staged to the host.
struct DeviceRows {
  FusionBuffer buffer;
  size_t bytes = 0;
};

// Every member's rows, concatenated in member order.
Status allgatherRows(gpu::NcclBackend& nccl, FusionBufferPool& pool, const Response& p,
                     PendingOp& op, size_t n, DeviceRows& out) {
  const uint64_t rowBytes = p.tensorBytes(0);
  std::vector<size_t> bytes(n);
  int64_t rows = 0;
  for (size_t r = 0; r < n; ++r) {
    bytes[r] = static_cast<size_t>(p.tensorSizes[r]) * rowBytes;
    rows += p.tensorSizes[r];
  }
  out.bytes = static_cast<size_t>(rows) * rowBytes;
  KOLO_ASSIGN_OR_RETURN(out.buffer, pool.acquire(op.tensor.device, out.bytes));
  op.result().shape = withFirstDim(op.request.shape, rows);
  return nccl.nccl().allgatherv(op.tensor.data, out.buffer.data(), bytes, nccl.stream());
}

// tensorSizes is the n x n matrix of rows member i sends to member j.
Status alltoallRows(gpu::NcclBackend& nccl, FusionBufferPool& pool, const Response& p,
                    PendingOp& op, size_t n, size_t me, DeviceRows& out) {
  OpResult& result = op.result();
  const uint64_t rowBytes = p.tensorBytes(0);
  AlltoallSplits splits = alltoallSplits(p.tensorSizes, n, me, rowBytes);
  result.receivedSplits = std::move(splits.receivedRows);
  out.bytes = static_cast<size_t>(splits.rows) * rowBytes;
  KOLO_ASSIGN_OR_RETURN(out.buffer, pool.acquire(op.tensor.device, out.bytes));
  result.shape = withFirstDim(op.request.shape, splits.rows);
  return nccl.nccl().alltoallv(op.tensor.data, splits.sendBytes, out.buffer.data(),
                               splits.recvBytes, nccl.stream());
}

// Member r keeps rows/n rows, the first rows%n members one more. A prescaled input is scaled
// into a buffer of `leases` first.
Status reducescatterRows(gpu::NcclBackend& nccl, FusionBufferPool& pool, const Response& p,
                         PendingOp& op, size_t n, size_t me, DeviceRows& out,
                         std::vector<FusionBuffer>& leases) {
  const int64_t rows = op.request.shape.empty() ? 1 : op.request.shape[0];
  const int64_t rowElements = trailingElements(op.request.shape);
  const size_t base = static_cast<size_t>(rows) / n;
  const size_t extra = static_cast<size_t>(rows) % n;
  std::vector<size_t> counts(n);
  size_t total = 0;
  for (size_t r = 0; r < n; ++r) {
    counts[r] = (base + (r < extra ? 1 : 0)) * static_cast<size_t>(rowElements);
    total += counts[r];
  }
  const size_t typeSize = dataTypeSize(p.dtype);
  const gpu::ReductionScaling s =
      gpu::reductionScaling(p.reduceOp, p.prescale, p.postscale, static_cast<int>(n));
  void* stream = nccl.stream();
  const void* in = op.tensor.data;
  if (!s.before.isIdentity()) {
    KOLO_ASSIGN_OR_RETURN(FusionBuffer scaled, pool.acquire(op.tensor.device, total * typeSize));
    const gpu::ScaledSegment seg{in, scaled.data(), total * typeSize};
    KOLO_RETURN_IF_ERROR(gpu::scaledCopy(p.dtype, {&seg, 1}, s.before, stream));
    in = scaled.data();
    leases.push_back(std::move(scaled));
  }
  out.bytes = counts[me] * typeSize;
  KOLO_ASSIGN_OR_RETURN(out.buffer, pool.acquire(op.tensor.device, out.bytes));
  op.result().shape =
      withFirstDim(op.request.shape, static_cast<int64_t>(base + (me < extra)));
  KOLO_RETURN_IF_ERROR(
      nccl.nccl().reduceScatter(in, out.buffer.data(), counts, p.dtype, s.wireOp, stream));
  return nccl.scale(p.dtype, out.buffer.data(), counts[me], s.after);
}

}  // namespace

Status DeviceExecutor::ncclRowOp(const Response& p, const PendingOpPtr& op,
                                 std::vector<FusionBuffer>& leases,
                                 std::function<void()>& copyOut) {
  if (!op) {
    return makeStatus(Code::kInternal, "rank {} has no op for {} '{}'", comm_.rank(),
                      opTypeName(p.op), p.tensorNames.front());
  }
  const size_t n = members_.size();
  const auto me = static_cast<size_t>(comm_.rank());
  DeviceRows out;
  if (p.op == OpType::kAllgather) {
    KOLO_RETURN_IF_ERROR(allgatherRows(*nccl_, pool_, p, *op, n, out));
  } else if (p.op == OpType::kAlltoall) {
    KOLO_RETURN_IF_ERROR(alltoallRows(*nccl_, pool_, p, *op, n, me, out));
  } else if (p.op == OpType::kReducescatter) {
    KOLO_RETURN_IF_ERROR(reducescatterRows(*nccl_, pool_, p, *op, n, me, out, leases));
  } else {
    return makeStatus(Code::kInternal, "{} '{}' has no NCCL implementation", opTypeName(p.op),
                      p.tensorNames.front());
  }
  const size_t outBytes = out.bytes;
  KOLO_ASSIGN_OR_RETURN(FusionBuffer pinned, pool_.acquire(kPinnedHostDevice, outBytes));
  KOLO_RETURN_IF_ERROR(gpu::copyAsync(pinned.data(), out.buffer.data(), outBytes,
                                      gpu::CopyDirection::kDeviceToHost, nccl_->stream()));
  const std::byte* staged = pinned.data();
  copyOut = [op, staged, outBytes] {
    OpResult& r = op->result();
    r.data.resize(outBytes);
    if (outBytes > 0) std::memcpy(r.data.data(), staged, outBytes);
  };
  leases.push_back(std::move(out.buffer));
  leases.push_back(std::move(pinned));
  return Status::ok();
}

}  // namespace kolo::core
