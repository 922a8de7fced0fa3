// Pieces shared by the collective algorithms: argument checks and the channel-based allreduce
// variants the dispatcher in allreduce.cc chooses between.
// Thread: caller's.
#pragma once

#include <cstddef>
#include <span>

#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/collectives/dtype.h"

namespace kolo::coll {

// Large transfers move in chunks of this size so that receiving chunk k+1 overlaps reducing
// (or forwarding) chunk k, and a chunk plus its scratch copy stays in L2.
inline constexpr size_t kChunkBytes = 256 * 1024;
// Receives a ring step keeps posted ahead of the chunk being reduced.
inline constexpr size_t kRingWindow = 4;

// Below this many bytes the latency-bound algorithms win (recursive doubling, binomial tree).
inline constexpr size_t kSmallMessageBytes = 64 * 1024;

Status checkBuffer(const void* buffer, size_t count, const char* name);
Status checkCounts(std::span<const size_t> counts, int worldSize, const char* name);
Status checkDataType(DataType type, ReduceOp op);

// In place on `buffer` (count elements), every rank ends with identical bytes. kAverage sums
// and divides by size(). Callers have called comm.beginCollective() and pass its tag base.
Status ringAllreduce(Communicator& comm, void* buffer, size_t count, DataType type, ReduceOp op,
                     uint64_t tagBase);
Status recursiveDoublingAllreduce(Communicator& comm, void* buffer, size_t count, DataType type,
                                  ReduceOp op, uint64_t tagBase);

}  // namespace kolo::coll
