// The ring engine behind ring allreduce, reduce-scatter and allgather(v).
// The buffer is cut into n segments. At step t rank r sends segment (r - t + shift) to its right
// neighbour and receives segment (r - t - 1 + shift) from its left one; during the first
// `reduceSteps` steps the incoming segment is reduced into the local copy, after that it is
// copied over it. Each segment is therefore reduced along exactly one chain of ranks and then
// travels as bytes, which makes the result bit-identical on every rank.
// Segments move in chunks (kChunkBytes, or what the transport asks for: chunkBytesFor), and chunk k
// of step t+1 is sent as soon as chunk k of step t has been processed, so the steps overlap like a
// pipeline. Cost per rank: (reduceSteps + gatherSteps) latencies, each step moving one segment.
// Thread: caller's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/collectives/dtype.h"

namespace kolo::coll {

struct RingPlan {
  std::vector<size_t> offset;  // per segment, in elements
  std::vector<size_t> length;  // per segment, in elements
  DataType type = DataType::kUInt8;
  ReduceOp op = ReduceOp::kSum;
  int reduceSteps = 0;
  int gatherSteps = 0;
  int shift = 0;
  // After its last reduction step a segment is divided by this (kAverage); 0 = no division.
  int64_t divisor = 0;
  // Ring positions: order[p] is the rank at position p (empty: rank order). Only for plans
  // whose segments are not tied to ranks (allreduce); neighbours and segments follow positions.
  std::vector<int> order;
  // Float32 reduce-scatter plans of 16-bit float sums (wide_accumulation.h): when set, the
  // buffer's contents are not read; each chunk is widened from this array of widenType (same
  // element offsets) just before its first use (sent at step 0, or reduced into), instead of in
  // a separate pass over the whole buffer. Requires reduceSteps == n - 1 and gatherSteps == 0.
  const void* widenFrom = nullptr;
  DataType widenType = DataType::kFloat16;
};

// Segments of ~count/n elements: the first count % n segments get one element more.
RingPlan evenRingPlan(int n, size_t count);
// Segments of the given lengths, laid out back to back.
RingPlan ringPlanFromCounts(std::span<const size_t> counts);

// Runs the plan in place on `buffer`; tags tagBase + step.
Status runRing(Communicator& comm, const RingPlan& plan, void* buffer, uint64_t tagBase);

}  // namespace kolo::coll
