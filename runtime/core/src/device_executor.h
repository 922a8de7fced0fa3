// DeviceExecutor: runs the batches of CUDA tensors of one process set, either on the NCCL
// backend (fused tensors packed into a device fusion buffer with one kernel, reduced by NCCL
// on Kolo's stream, completed later from poll()) or host-staged (device -> host on the
// caller's stream, the host collective, host -> device) when NCCL is not built, when ranks
// share a GPU (NCCL cannot run two ranks on one device), or when KOLO_GPU_OPERATIONS=host.
//
// The choice is made once per process set, by every member alike: on the first CUDA batch
// the members allgather whether their device is usable and its PCI bus id. A member without a
// usable device makes that batch fail on every rank with an error naming the rank and device
// (not a crash, not a hang), and the next CUDA batch tries again.
// Thread: coordinator.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/core/fusion_buffer_pool.h"
#include "kolo/core/fusion_planner.h"
#include "kolo/core/response.h"
#include "pending_op.h"

namespace kolo::gpu {
class NcclBackend;
}

namespace kolo::core {

class OpExecutor;
using BatchOps = std::vector<std::vector<PendingOpPtr>>;

enum class GpuOperations { kAuto, kNccl, kHost };
// KOLO_GPU_OPERATIONS: auto (default), nccl, host; anything else keeps auto with a warning.
GpuOperations gpuOperationsFromEnv();

class DeviceExecutor {
 public:
  // Pool key of page-locked host buffers (device -> host results of allgather and friends).
  static constexpr int32_t kPinnedHostDevice = -2;

  DeviceExecutor(Communicator& comm, std::vector<int32_t> members);
  ~DeviceExecutor();  // pending device work fails with kAborted
  DeviceExecutor(const DeviceExecutor&) = delete;
  DeviceExecutor& operator=(const DeviceExecutor&) = delete;

  // Like OpExecutor::run for a batch whose device is a GPU; `host` runs staged batches.
  Status run(const FusedBatch& b, std::span<const Response> responses, const BatchOps& ops,
             OpExecutor& host);
  // Completes the ops whose device work finished; returns how many batches are pending.
  size_t poll();
  // Shutdown: waits for pending device work until the deadline, then fails the rest.
  void drain(Deadline deadline);

 private:
  enum class Mode { kUnresolved, kNccl, kHost };
  Status resolveMode(int32_t device, Status& opFailure);
  Status runStaged(const FusedBatch& b, std::span<const Response> responses, const BatchOps& ops,
                   OpExecutor& host);
  Status runNccl(const FusedBatch& b, std::span<const Response> responses, const BatchOps& ops);
  Status ncclAllreduce(const FusedBatch& b, const BatchOps& ops, std::vector<FusionBuffer>& leases);
  Status ncclBroadcast(const FusedBatch& b, std::span<const Response> responses,
                       const BatchOps& ops, std::vector<FusionBuffer>& leases);
  // Allgather, alltoall, reducescatter: the result goes to the op's host OpResult, through a
  // pinned buffer filled on Kolo's stream; `copyOut` moves it there once the work finished.
  Status ncclRowOp(const Response& p, const PendingOpPtr& op, std::vector<FusionBuffer>& leases,
                   std::function<void()>& copyOut);
  int localIndex(int32_t globalRank) const;

  Communicator& comm_;
  std::vector<int32_t> members_;
  GpuOperations requested_;
  Mode mode_ = Mode::kUnresolved;
  FusionBufferPool pool_;  // device memory by device index, pinned host memory as kPinnedHostDevice
  std::unique_ptr<gpu::NcclBackend> nccl_;
};

}  // namespace kolo::core
