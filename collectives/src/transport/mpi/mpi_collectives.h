// MpiCollectives: Kolo's collectives run by MPI itself (MPI_Iallreduce, MPI_Ireduce_scatter,
// MPI_Iallgatherv, MPI_Ibcast, MPI_Ialltoallv, MPI_Ibarrier), each waited on with the
// operation's deadline. The nonblocking forms cost Open MPI a little latency over the blocking
// ones but let a silent peer become kTimeout instead of a hang.
// Returns std::nullopt, so Kolo's own algorithm runs over the MpiTransport, for what MPI cannot
// express: f16/bf16 (no standard MPI type), average (no MPI op), and vector collectives whose
// counts or displacements exceed INT_MAX. Allreduce and broadcast chunk large counts instead.
// Thread: caller's, one collective at a time (see MpiTransport).
#pragma once

#include <mpi.h>

#include "kolo/collectives/native_collectives.h"

namespace kolo {

class MpiCollectives final : public NativeCollectives {
 public:
  // `comm` is borrowed from the MpiTransport that owns it.
  MpiCollectives(MPI_Comm comm, size_t maxCount) : comm_(comm), maxCount_(maxCount) {}

  const char* name() const override { return "mpi"; }
  std::optional<Status> allreduce(const void* send, void* recv, size_t count, DataType type,
                                  ReduceOp op, Deadline deadline) override;
  std::optional<Status> reduceScatter(const void* send, void* recv,
                                      std::span<const size_t> recvCounts, DataType type,
                                      ReduceOp op, Deadline deadline) override;
  std::optional<Status> allgatherv(const void* send, void* recv,
                                   std::span<const size_t> bytesPerRank,
                                   Deadline deadline) override;
  std::optional<Status> broadcast(void* buffer, size_t bytes, int root,
                                  Deadline deadline) override;
  std::optional<Status> alltoallv(const void* send, std::span<const size_t> sendBytes,
                                  void* recv, std::span<const size_t> recvBytes,
                                  Deadline deadline) override;
  std::optional<Status> barrier(Deadline deadline) override;

 private:
  MPI_Comm comm_;
  size_t maxCount_;
};

}  // namespace kolo
