// Pieces shared by the collective algorithms: argument checks, the channel-based allreduce
// variants, and the runners the algorithm registry's entries point to.
// Thread: caller's.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/communicator.h"
#include "kolo/collectives/dtype.h"

namespace kolo::coll {

// Large transfers move in chunks of this size so that receiving chunk k+1 overlaps reducing
// (or forwarding) chunk k, and a chunk plus its scratch copy stays in L2.
inline constexpr size_t kChunkBytes = 256 * 1024;
// The chunk size for `comm`'s transport: kChunkBytes unless the transport asks for another.
inline size_t chunkBytesFor(Communicator& comm) {
  const size_t preferred = comm.transport().chunkBytes();
  return preferred > 0 ? preferred : kChunkBytes;
}
// Receives a ring step keeps posted ahead of the chunk being reduced.
inline constexpr size_t kRingWindow = 4;

// Below this many bytes the latency-bound algorithms win (recursive doubling, binomial tree).
inline constexpr size_t kSmallMessageBytes = 64 * 1024;

// n equal counts (allgather's and alltoall's blocks), on the stack for worlds of up to 64
// ranks, so a small collective allocates nothing for them.
class EqualCounts {
 public:
  EqualCounts(int n, size_t value) {
    const size_t count = static_cast<size_t>(n);
    if (count <= kInline) {
      std::fill_n(inline_.begin(), count, value);
      span_ = {inline_.data(), count};
    } else {
      heap_.assign(count, value);
      span_ = heap_;
    }
  }
  EqualCounts(const EqualCounts&) = delete;
  EqualCounts& operator=(const EqualCounts&) = delete;
  std::span<const size_t> span() const { return span_; }

 private:
  static constexpr size_t kInline = 64;
  std::array<size_t, kInline> inline_;
  std::vector<size_t> heap_;
  std::span<const size_t> span_;
};

Status checkBuffer(const void* buffer, size_t count, const char* name);
Status checkCounts(std::span<const size_t> counts, int worldSize, const char* name);
Status checkDataType(DataType type, ReduceOp op);
// op=adasum's requirements: a floating-point type and a power-of-two world.
Status checkAdasum(const Communicator& comm, DataType type);

// In place on `buffer` (count elements), every rank ends with identical bytes. kAverage sums
// and divides by size(). Callers have called comm.beginCollective() and pass its tag base.
Status ringAllreduce(Communicator& comm, void* buffer, size_t count, DataType type, ReduceOp op,
                     uint64_t tagBase);
Status recursiveDoublingAllreduce(Communicator& comm, void* buffer, size_t count, DataType type,
                                  ReduceOp op, uint64_t tagBase);

// Runs `requested` when it can run on comm, otherwise (and when it is null) the algorithm the
// selector chooses for `bytes` under comm's policy.
Status runChosen(Communicator& comm, CollectiveKind kind, const AlgorithmEntry* requested,
                 size_t bytes, const CollectiveArgs& args);

// Runners of the registry's entries (algorithm_registry.cc), one per algorithm.
Status runShmAllreduce(Communicator& comm, const CollectiveArgs& args);
Status runHierarchicalAllreduce(Communicator& comm, const CollectiveArgs& args);
Status runRecursiveDoublingAllreduce(Communicator& comm, const CollectiveArgs& args);
Status runRingAllreduce(Communicator& comm, const CollectiveArgs& args);
Status runAdasumAllreduce(Communicator& comm, const CollectiveArgs& args);
Status runShmAllgather(Communicator& comm, const CollectiveArgs& args);
Status runHierarchicalAllgather(Communicator& comm, const CollectiveArgs& args);
Status runRingAllgather(Communicator& comm, const CollectiveArgs& args);
Status runShmBroadcast(Communicator& comm, const CollectiveArgs& args);
Status runBinomialBroadcast(Communicator& comm, const CollectiveArgs& args);
Status runPipelineBroadcast(Communicator& comm, const CollectiveArgs& args);
Status runShmReduceScatter(Communicator& comm, const CollectiveArgs& args);
Status runRingReduceScatter(Communicator& comm, const CollectiveArgs& args);
Status runShmAlltoall(Communicator& comm, const CollectiveArgs& args);
Status runPairwiseAlltoall(Communicator& comm, const CollectiveArgs& args);
Status runShmBarrier(Communicator& comm, const CollectiveArgs& args);
Status runDisseminationBarrier(Communicator& comm, const CollectiveArgs& args);

}  // namespace kolo::coll
