// OpExecutor (the dispatcher of one process set): runs one FusedBatch with the host
// collectives and completes the handles of its ops. Small allreduces, broadcasts, allgathers
// and reducescatters arrive packed
// (one copy in, one collective, one copy out); a single tensor runs in place, so a large
// gradient is never copied. Prescale, average and postscale use the reduce kernels. Batches of
// CUDA tensors go to DeviceExecutor (NCCL or host staging).
// Thread: coordinator.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "device_executor.h"
#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/core/fusion_buffer_pool.h"
#include "kolo/core/fusion_planner.h"
#include "kolo/core/response.h"
#include "kolo/core/tuned_settings.h"
#include "pending_op.h"

namespace kolo::core {

// This rank's op for each (response, tensor); null where this rank has none (it joined).
using BatchOps = std::vector<std::vector<PendingOpPtr>>;

class OpExecutor {
 public:
  // `members`: global ranks in set order; comm.rank() is this rank's index among them.
  OpExecutor(Communicator& comm, std::vector<int32_t> members, FusionBufferPool& pool)
      : comm_(comm), members_(std::move(members)), pool_(pool) {}
  ~OpExecutor();

  // Completes every op of the batch. A non-OK return means the collective itself failed
  // (timeout, dead peer): the ranks may no longer be in step, so the caller stops the set.
  Status run(const FusedBatch& batch, std::span<const Response> responses, const BatchOps& ops);
  // Applied to a failed host collective's status before its ops complete with it (the
  // coordinator swaps a rank's partial view of a peer failure for the job's verdict).
  void setFailureFilter(std::function<Status(Status)> filter) {
    failureFilter_ = std::move(filter);
  }
  // The allreduce algorithm per size class (the autotuner's choice; "auto" by default). Every
  // member sets the same names in the same cycle.
  void setAllreduceAlgorithms(const AllreduceAlgorithms& algorithms) { algorithms_ = algorithms; }

  // When the last packed batch finished its copy into the fusion buffer and its collective
  // (for the timeline); unset for batches that ran in place.
  struct Phases {
    Clock::time_point packed{};
    Clock::time_point reduced{};
  };
  const Phases& lastPhases() const { return phases_; }

  // CUDA tensors run on DeviceExecutor (created by the first one): NCCL work completes later,
  // so the coordinator calls pollDevice() every turn (it returns how many batches are still
  // on the device) and drainDevice() before it stops.
  size_t pollDevice();
  void drainDevice(Deadline deadline);

 private:
  Status allreduce(const FusedBatch& b, std::span<const Response> responses, const BatchOps& ops);
  // A packed allreduce batch reduced where its tensors lie, on the shm arena (no fusion buffer);
  // nullopt when this batch's size would not run there (it is packed then).
  std::optional<Status> allreduceInPlace(const FusedBatch& b, const BatchOps& ops);
  Status broadcast(const FusedBatch& b, std::span<const Response> responses, const BatchOps& ops);
  // Allgather and reducescatter (op_executor_rows.cc): several tensors packed member-major.
  Status allgather(const FusedBatch& b, std::span<const Response> responses, const BatchOps& ops);
  Status alltoall(const Response& p, const PendingOpPtr& op);
  Status reducescatter(const FusedBatch& b, std::span<const Response> responses,
                       const BatchOps& ops);
  int localIndex(int32_t globalRank) const;
  // Copies each entry's bytes of the fusion buffer at `base` to its op's output.
  static void unpack(const FusedBatch& b, const BatchOps& ops, const std::byte* base);

  Communicator& comm_;
  std::vector<int32_t> members_;
  FusionBufferPool& pool_;
  Phases phases_;
  std::unique_ptr<DeviceExecutor> device_;
  std::function<Status(Status)> failureFilter_;
  AllreduceAlgorithms algorithms_;
};

}  // namespace kolo::core
