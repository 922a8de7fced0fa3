// The collective operations. Every rank of the communicator calls the same collective with
// matching arguments, in the same order. Counts are size_t end to end.
// In-place is allowed wherever send == recv. Thread: caller's, one at a time per Communicator.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/collectives/dtype.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {

// `algorithm` names an entry of the algorithm registry (algorithm_registry.h) for the
// collective, e.g. "ring"; "auto" lets a native library (MPI) run the collective, or else the
// selector choose under the communicator's policy (KOLO_<COLLECTIVE>_ALGO). An unknown name is
// kInvalidArgument listing the known ones; a known one that cannot run on this communicator
// (shm without an arena, hier without subgroups) gives way to the selector's choice.
inline constexpr std::string_view kAutoAlgorithm = "auto";

// recv[i] = send_0[i] OP ... OP send_{n-1}[i] on every rank, bit-identical everywhere.
Status allreduce(Communicator& comm, const void* send, void* recv, size_t count, DataType type,
                 ReduceOp op, std::string_view algorithm = kAutoAlgorithm);

// allreduce of several buffers as one (their elements concatenated in order; every rank passes
// the same counts) where this many bytes' allreduce would run on the shm arena: there it reads
// and writes the buffers in place of a packed copy (ShmArena::allreduceSegments). nullopt when
// another algorithm, a native library or no arena would run it: the caller packs them then.
// Every rank of the communicator gets the same answer for the same arguments.
// Whether an allreduce of `bytes` under `algorithm` runs on the communicator's shm arena (the
// same choice allreduce makes; the same answer on every rank).
bool allreduceRunsOnArena(Communicator& comm, size_t bytes, std::string_view algorithm);
std::optional<Status> allreduceSegments(Communicator& comm,
                                        std::span<const ShmArena::Segment> segments,
                                        DataType type, ReduceOp op, std::string_view algorithm);

// send holds sum(recvCounts) elements in rank order; rank r receives the reduction of block r
// (recvCounts[r] elements) in recv.
Status reduceScatter(Communicator& comm, const void* send, void* recv,
                     std::span<const size_t> recvCounts, DataType type, ReduceOp op,
                     std::string_view algorithm = kAutoAlgorithm);

// recv (size() * bytesPerRank bytes) = concatenation of every rank's send in rank order.
Status allgather(Communicator& comm, const void* send, void* recv, size_t bytesPerRank,
                 std::string_view algorithm = kAutoAlgorithm);
// Like allgather, but rank r contributes bytesPerRank[r] bytes. When the communicator spans
// hosts the selector may run it hierarchically (KOLO_HIERARCHICAL_ALLGATHER=auto|1|0).
Status allgatherv(Communicator& comm, const void* send, void* recv,
                  std::span<const size_t> bytesPerRank,
                  std::string_view algorithm = kAutoAlgorithm);

// buffer on every rank = buffer on root. Binomial tree for small messages, pipelined chain
// for large ones.
Status broadcast(Communicator& comm, void* buffer, size_t bytes, int root,
                 std::string_view algorithm = kAutoAlgorithm);

// Block p of send (bytesPerPeer bytes) goes to rank p; recv block p comes from rank p.
Status alltoall(Communicator& comm, const void* send, void* recv, size_t bytesPerPeer,
                std::string_view algorithm = kAutoAlgorithm);
// sendBytes[p] bytes (consecutive, in peer order) to rank p; recvBytes[p] from rank p.
Status alltoallv(Communicator& comm, const void* send, std::span<const size_t> sendBytes,
                 void* recv, std::span<const size_t> recvBytes,
                 std::string_view algorithm = kAutoAlgorithm);

// Returns once every rank has entered it.
Status barrier(Communicator& comm, std::string_view algorithm = kAutoAlgorithm);

}  // namespace kolo::coll
