// NativeCollectives: a transport whose library brings its own collectives (MPI) offers them
// here, and kolo::coll runs them instead of Kolo's channel algorithms. Each call returns
// std::nullopt when the library has no equivalent (f16/bf16, average, counts its API cannot
// express); the caller then runs Kolo's own algorithm over the same transport.
// Thread: caller's, one collective at a time per Communicator.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"
#include "kolo/collectives/dtype.h"

namespace kolo {

class NativeCollectives {
 public:
  virtual ~NativeCollectives() = default;
  virtual const char* name() const = 0;  // "mpi"
  virtual std::optional<Status> allreduce(const void* send, void* recv, size_t count,
                                          DataType type, ReduceOp op, Deadline deadline) = 0;
  virtual std::optional<Status> reduceScatter(const void* send, void* recv,
                                              std::span<const size_t> recvCounts, DataType type,
                                              ReduceOp op, Deadline deadline) = 0;
  virtual std::optional<Status> allgatherv(const void* send, void* recv,
                                           std::span<const size_t> bytesPerRank,
                                           Deadline deadline) = 0;
  virtual std::optional<Status> broadcast(void* buffer, size_t bytes, int root,
                                          Deadline deadline) = 0;
  virtual std::optional<Status> alltoallv(const void* send, std::span<const size_t> sendBytes,
                                          void* recv, std::span<const size_t> recvBytes,
                                          Deadline deadline) = 0;
  virtual std::optional<Status> barrier(Deadline deadline) = 0;
};

}  // namespace kolo
