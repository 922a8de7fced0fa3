// NcclCommunicator: one NCCL communicator over the ranks of one process set, on one device.
// The collectives enqueue on the stream they are given and return at once; completion is
// observed through events (see CompletionList). Every failure becomes a Kolo error that names
// this rank, its device and NCCL's own message; asyncError() reports what NCCL found after
// the call returned (a peer that died, a network error), and abort() tears the communicator
// down without waiting for peers, which is how a timed-out op is stopped instead of hanging.
// Without NCCL every call answers kUnavailable.
// Thread: coordinator (one at a time), asyncError/abort from the same thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "kolo/base/status.h"
#include "kolo/collectives/dtype.h"

namespace kolo::gpu {

class NcclCommunicator {
 public:
  static constexpr size_t kUniqueIdBytes = 128;  // sizeof(ncclUniqueId)
  // Passes the id from rank 0 to every rank: rank 0's `id` holds it on entry, the others'
  // must hold it on return (a broadcast over the set's host communicator, which itself was
  // bootstrapped from the store or from MPI).
  using ShareId = std::function<Status(std::span<std::byte> id)>;

  // Collective: every rank of the set calls it, with the same `size`.
  static Expected<std::unique_ptr<NcclCommunicator>> create(int rank, int size, int32_t device,
                                                            const ShareId& shareId);
  ~NcclCommunicator();
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int32_t device() const { return device_; }

  Status allreduce(const void* send, void* recv, size_t count, DataType type, ReduceOp op,
                   void* stream);
  Status broadcast(void* buffer, size_t bytes, int root, void* stream);
  // Rank r contributes bytes[r]; recv holds every rank's bytes in rank order. Equal sizes use
  // ncclAllGather, unequal ones one ncclBroadcast per rank inside a group.
  Status allgatherv(const void* send, void* recv, std::span<const size_t> bytes, void* stream);
  // send holds sum(counts) elements; rank r receives the reduction of its counts[r] elements.
  // Equal counts use ncclReduceScatter, unequal ones one ncclReduce per rank inside a group.
  Status reduceScatter(const void* send, void* recv, std::span<const size_t> counts, DataType type,
                       ReduceOp op, void* stream);
  // ncclSend/ncclRecv pairs inside ncclGroupStart/End.
  Status alltoallv(const void* send, std::span<const size_t> sendBytes, void* recv,
                   std::span<const size_t> recvBytes, void* stream);

  Status asyncError();
  // Aborts the communicator (idempotent); every later call fails with kAborted.
  void abort();
  bool aborted() const { return aborted_; }

 private:
  NcclCommunicator(int rank, int size, int32_t device, void* comm)
      : rank_(rank), size_(size), device_(device), comm_(comm) {}
  Status usable(const char* what) const;

  int rank_;
  int size_;
  int32_t device_;
  void* comm_;  // ncclComm_t
  bool aborted_ = false;
};

}  // namespace kolo::gpu
