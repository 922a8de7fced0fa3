// Host staging of CUDA tensors: each input is copied to host memory on the stream the caller
// produced it on, the batch runs on the host path exactly as a CPU batch would (fusion, the
// same algorithms, the same rounding), and allreduce/broadcast results are copied back to the
// caller's output on that stream. It is the path when NCCL is not built or when ranks share a
// GPU (NCCL needs one device per rank); it costs two PCIe copies and blocks the coordinator
// while they run.
#include <algorithm>

#include "device_executor.h"
#include "kolo/collectives/gpu/device_runtime.h"
#include "op_executor.h"

namespace kolo::core {
namespace {

struct StagedOp {
  PendingOpPtr original;
  PendingOpPtr shadow;  // the same op over host memory, run by the host executor
  std::vector<std::byte> host;
};

void addStream(std::vector<void*>& streams, void* s) {
  if (std::find(streams.begin(), streams.end(), s) == streams.end()) streams.push_back(s);
}

}  // namespace

Status DeviceExecutor::runStaged(const FusedBatch& b, std::span<const Response> responses,
                                 const BatchOps& ops, OpExecutor& host) {
  const bool writesOutput = b.op == OpType::kAllreduce || b.op == OpType::kBroadcast;
  const bool needsInput = b.op != OpType::kBroadcast || members_[comm_.rank()] == b.rootRank;
  BatchOps shadows(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) shadows[i].resize(ops[i].size());
  std::vector<StagedOp> staged;
  std::vector<void*> streams;
  Status s;
  for (const FusedEntry& e : b.entries) {
    const PendingOpPtr& op = ops[e.response][e.tensor];
    if (!op) continue;
    StagedOp st{op, std::make_shared<PendingOp>(*op), {}};
    const size_t bytes =
        static_cast<size_t>(op->request.elementCount()) * dataTypeSize(op->request.dtype);
    st.host.resize(bytes);
    if (needsInput && s.isOk()) {
      s = gpu::copyAsync(st.host.data(), op->tensor.data, bytes, gpu::CopyDirection::kDeviceToHost,
                         op->tensor.stream);
    }
    st.shadow->state = std::make_shared<OpState>();
    st.shadow->part = 0;
    st.shadow->tensor.data = st.host.data();
    st.shadow->tensor.output = nullptr;
    st.shadow->tensor.device = kCpuDevice;
    st.shadow->tensor.stream = nullptr;
    shadows[e.response][e.tensor] = st.shadow;
    addStream(streams, op->tensor.stream);
    staged.push_back(std::move(st));
  }
  for (void* stream : streams) {
    if (s.isOk()) s = gpu::synchronize(stream);
  }
  if (!s.isOk()) {
    // The other members are about to run the host collective: stop rather than hang them.
    for (StagedOp& st : staged) st.original->state->complete(s);
    return s;
  }
  FusedBatch onHost = b;
  onHost.device = kCpuDevice;
  const Status ran = host.run(onHost, responses, shadows);
  std::vector<Status> results;
  results.reserve(staged.size());
  for (StagedOp& st : staged) {
    Status result = st.shadow->state->done() ? st.shadow->state->status() : ran;
    if (result.isOk() && writesOutput) {
      result = gpu::copyAsync(st.original->output(), st.host.data(), st.host.size(),
                              gpu::CopyDirection::kHostToDevice, st.original->tensor.stream);
    } else if (result.isOk()) {
      st.original->result() = std::move(st.shadow->result());
    }
    results.push_back(std::move(result));
  }
  // The caller may read the result on another stream once the handle completes.
  Status synced;
  for (void* stream : streams) {
    if (Status e = gpu::synchronize(stream); !e.isOk() && synced.isOk()) synced = e;
  }
  for (size_t i = 0; i < staged.size(); ++i) {
    staged[i].original->state->complete(results[i].isOk() ? synced : results[i]);
  }
  return ran;
}

}  // namespace kolo::core
