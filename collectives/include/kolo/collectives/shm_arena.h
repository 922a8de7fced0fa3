// ShmArena: a shared-memory segment mapped by every rank of a same-host communicator, on
// which direct algorithms run without point-to-point messages: each rank stages its data
// in the segment and reduces its share of every pipelined chunk straight from the peers'
// staging slots, with flag words (spin, then futex) for synchronization.
// Implemented in collectives/src/transport/shm. Thread: caller's, one collective at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "kolo/base/abort_token.h"
#include "kolo/base/deadline.h"
#include "kolo/base/status.h"
#include "kolo/collectives/dtype.h"

namespace kolo {

class ShmArena {
 public:
  virtual ~ShmArena() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Same contract as coll::allreduce (send == recv allowed; kAverage divides by size()).
  virtual Status allreduce(const void* send, void* recv, size_t count, DataType type,
                           ReduceOp op, Deadline deadline) = 0;
  // One buffer of an allreduce over several: `count` elements read from `send` and written to
  // `recv` (the same pointer, or buffers that share no bytes with any segment's send).
  struct Segment {
    const void* send = nullptr;
    void* recv = nullptr;
    size_t count = 0;
  };
  // allreduce of the segments' elements as if they were one buffer, concatenated in order (every
  // rank passes the same counts), without copying them into one first: the fused batches of
  // the runtime. kUnavailable where an arena has no such path.
  virtual Status allreduceSegments(std::span<const Segment> segments, DataType type, ReduceOp op,
                                   Deadline deadline) {
    (void)segments, (void)type, (void)op, (void)deadline;
    return makeStatus(Code::kUnavailable, "this shared-memory arena has no segmented allreduce");
  }
  virtual Status broadcast(void* buffer, size_t bytes, int root, Deadline deadline) = 0;
  virtual Status barrier(Deadline deadline) = 0;
  // Same contracts as coll::reduceScatter, coll::allgatherv and coll::alltoallv (counts in
  // elements for reduceScatter, bytes for the others). Ranks that disagree on counts (alltoallv:
  // a rank sends another a size it does not expect), dtype or op all get kMismatch.
  virtual Status reduceScatter(const void* send, void* recv, std::span<const size_t> counts,
                               DataType type, ReduceOp op, Deadline deadline) = 0;
  virtual Status allgatherv(const void* send, void* recv, std::span<const size_t> bytes,
                            Deadline deadline) = 0;
  virtual Status alltoallv(const void* send, std::span<const size_t> sendBytes, void* recv,
                           std::span<const size_t> recvBytes, Deadline deadline) = 0;
  // Its sizes and thresholds in a line, for the topology preamble of kolo-bench.
  virtual std::string describe() const { return {}; }
  // Waits end with the token's status once it is raised. A Communicator built on the arena
  // hands it its own token; communicators sharing an arena belong to one job and share it.
  virtual void watchAbort(std::shared_ptr<const AbortToken> token) = 0;
};

}  // namespace kolo
