// NcclBackend: the collectives of CUDA tensors on one device for one group of ranks (a
// process set). It owns the NCCL communicator (created by the first CUDA op; its unique id
// goes from rank 0 to the others over the group's host Communicator, which was itself
// bootstrapped from the store or from MPI), Kolo's own non-blocking stream, the events that
// order that stream after the callers' streams and back, and the list of enqueued work.
//
// Every call only enqueues: pack (one batched copy kernel, prescale applied), the NCCL
// collective, unpack (average and postscale applied). complete() records an event after the
// work, makes the callers' streams wait for it on the device, and adds an entry that poll()
// finishes once cudaEventQuery says the work is done. A failure NCCL reports later
// (ncclCommGetAsyncError) fails the pending work with an error naming this rank; work past its
// deadline aborts the communicator (ncclCommAbort) so nothing waits on a dead peer forever.
// Thread: coordinator (one at a time).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/collectives/gpu/completion_list.h"
#include "kolo/collectives/gpu/device_copy.h"
#include "kolo/collectives/gpu/device_runtime.h"
#include "kolo/collectives/gpu/nccl_communicator.h"

namespace kolo::gpu {

class NcclBackend {
 public:
  // Collective over every rank of `comm`.
  static Expected<std::unique_ptr<NcclBackend>> create(Communicator& comm, int32_t device);
  ~NcclBackend();  // pending work fails with kAborted
  NcclBackend(const NcclBackend&) = delete;
  NcclBackend& operator=(const NcclBackend&) = delete;

  int32_t device() const { return device_; }
  int rank() const { return nccl_->rank(); }
  int size() const { return nccl_->size(); }
  void* stream() const { return stream_->handle(); }
  NcclCommunicator& nccl() { return *nccl_; }

  // Kolo's stream waits (on the device) for what was enqueued so far on each caller stream
  // (null: the legacy default stream).
  Status waitFor(std::span<void* const> callerStreams);

  // Fused allreduce through `buffer` (device memory of totalBytes): `inputs` are packed with
  // prescale, reduced, and unpacked to `outputs` with average and postscale. A slot with null
  // data packs zeros (a joined rank) and is not unpacked.
  Status allreduceFused(DataType type, ReduceOp op, double prescale, double postscale,
                        std::span<const FusionSlot> inputs, std::span<const FusionSlot> outputs,
                        void* buffer, uint64_t totalBytes);
  // One tensor, no fusion buffer: in -> out (may be equal), scaled in place on `out`.
  Status allreduce(DataType type, ReduceOp op, double prescale, double postscale, const void* in,
                   void* out, size_t count);
  // Fused broadcast from `root` (index in the group): the root packs `inputs`, every rank
  // unpacks to `outputs`.
  Status broadcastFused(int root, std::span<const FusionSlot> inputs,
                        std::span<const FusionSlot> outputs, void* buffer, uint64_t totalBytes);
  Status broadcast(int root, const void* in, void* out, size_t bytes);
  // Scales `count` elements in place on Kolo's stream (reducescatter's pre/postscale).
  Status scale(DataType type, void* data, size_t count, ElementScaling scaling);

  // After everything enqueued so far: callers' streams wait for it, and `finish` runs from
  // poll() once the device finished it (OK), or with the error that stopped it.
  Status complete(std::span<void* const> callerStreams, std::string what,
                  std::function<void(const Status&)> finish);
  // Finishes completed work without blocking; returns how much is still pending.
  size_t poll();
  size_t pending() const { return completions_.pending(); }
  // Waits (polling) until nothing is pending or the deadline passed; the rest fails.
  void drain(Deadline deadline);

 private:
  NcclBackend(int32_t device, double timeoutSeconds)
      : device_(device), timeoutSeconds_(timeoutSeconds) {}
  Expected<std::unique_ptr<DeviceEvent>> takeEvent();

  int32_t device_;
  double timeoutSeconds_;
  std::unique_ptr<DeviceStream> stream_;
  std::unique_ptr<NcclCommunicator> nccl_;
  std::unique_ptr<DeviceEvent> ordering_;  // re-recorded for every caller stream we wait on
  std::vector<std::unique_ptr<DeviceEvent>> idleEvents_;
  CompletionList completions_;
};

}  // namespace kolo::gpu
