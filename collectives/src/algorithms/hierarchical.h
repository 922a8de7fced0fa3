// Hierarchical allreduce and allgather(v) over a Communicator's node and cross subgroups
// (communicator.h), for worlds that span hosts: most bytes move within a host over shared
// memory, and only 1/minLocalSize of them cross the network per rank.
//
// Shards. Every host has local ranks 0 .. m-1, m = the fewest ranks on any host, so the data is
// cut into m shards and shard i is owned by local rank i on every host; the owners of shard i
// are exactly cross group i, which spans every host. On uneven hosts (e.g. 3+1, 2+1+2) the
// local ranks >= m own no shard: they contribute their input to the node phase and receive the
// result, but sit out the cross phase. Cost: the cross phase moves 1/m of the data per owner, so
// a host of one rank makes the cross phase as heavy as a flat allreduce between hosts, and the
// extra ranks of a larger host add no cross bandwidth. (A common shard count over the largest
// host would need a rank of a smaller host to own several shards through cross groups it is not
// in; the minimum keeps every shard on one fixed cross group.)
//
// Results. Each shard is reduced once along one chain (node reduce, then the cross allreduce,
// both bit-identical on every member) and then copied as bytes, so every rank ends with the same
// bits, run after run. The order differs from the flat ring's (which also varies per element),
// so for floating-point data the two agree exactly only when every partial sum is exact (as in
// the tests' reference inputs); integers agree bit for bit. kAverage sums and divides by the
// world size once, as the ring does. f16 / bf16 sums run all three phases on an f32 copy and
// round once at the end (wide_accumulation.h).
// Thread: caller's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/collectives/dtype.h"
#include "kolo/collectives/reduce.h"

namespace kolo::coll {

// In place on buffer. Precondition: comm has both subgroups.
Status hierarchicalAllreduce(Communicator& comm, void* buffer, size_t count, DataType type,
                             ReduceOp op);

// Same contract as allgatherv. Precondition: comm has both subgroups.
Status hierarchicalAllgatherv(Communicator& comm, const void* send, void* recv,
                              std::span<const size_t> bytesPerRank);

// Shard i of `total` units for i < m, the first total % m shards one unit larger; 0 for i >= m.
std::vector<size_t> shardSizes(size_t total, int m, int slots);
// offsets[i] = sizes[0] + ... + sizes[i-1]; one entry more than sizes.
std::vector<size_t> offsetsOf(std::span<const size_t> sizes);

// The three phases of hierarchical allreduce, applied to one piece of the buffer at a time:
// node reduce (over shared memory), cross allreduce of this rank's shard (over the network),
// node allgather. The node phases use only the node subgroup and the cross phase only the
// cross subgroup, so one thread can run a piece's cross phase while another runs the node
// phases of other pieces (hierarchical_pipeline.h), as long as each subgroup sees its
// collectives in the same order on every rank.
class HierAllreduceStages {
 public:
  // Precondition: comm has both subgroups.
  HierAllreduceStages(Communicator& comm, DataType type, ReduceOp op);
  struct Piece {
    std::byte* data = nullptr;
    size_t count = 0;
    std::vector<size_t> shards;   // per local rank, in elements
    std::vector<size_t> offsets;  // within the piece, in elements
  };
  Piece piece(void* data, size_t count) const;
  Status nodeReduce(const Piece& p);
  Status crossAllreduce(const Piece& p);
  Status nodeGather(const Piece& p);

 private:
  Communicator& node_;
  Communicator& cross_;
  const int worldSize_;
  const int m_;
  const DataType type_;
  const ReduceOp op_;
  const ReduceOp partialOp_;
};

}  // namespace kolo::coll
