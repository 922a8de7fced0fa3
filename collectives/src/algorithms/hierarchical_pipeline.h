// Pipelined hierarchical allreduce for large buffers. The plain algorithm runs its phases one
// after the other over the whole buffer, so the network idles during both node phases and
// shared memory idles during the cross phase. Here the buffer is cut into pieces and, while
// the caller's thread runs the cross phase of piece k over the network, a second thread runs
// the node allgather of piece k-1 and the node reduce of piece k+1 over shared memory. Every
// rank runs the same schedule, so each subgroup sees its collectives in the same order
// everywhere; the two threads meet at a barrier after each stage. Each element is still
// reduced along one chain, so every rank ends with the same bits (for floating point, not
// necessarily the unpipelined algorithm's: the pieces move shard and ring-segment boundaries).
// Thread: caller's (plus one helper thread for the call's duration).
#pragma once

#include <cstddef>

#include "algorithms/hierarchical.h"

namespace kolo::coll {

// Whether an allreduce of `bytes` on comm is cut into pieces (large enough that the per-stage
// synchronization is noise); the same on every rank of comm.
bool pipelineHierarchical(const Communicator& comm, size_t bytes);

// `esize`: the bytes of one element.
Status pipelinedHierarchicalAllreduce(HierAllreduceStages& stages, void* buffer, size_t count,
                                      size_t esize);

}  // namespace kolo::coll
