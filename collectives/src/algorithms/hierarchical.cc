#include "algorithms/hierarchical.h"

#include <cstring>
#include <numeric>
#include <vector>

#include "algorithms/internal.h"
#include "kolo/base/fault_injection.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/reduce.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {
namespace {

std::vector<size_t> offsetsOf(std::span<const size_t> sizes) {
  std::vector<size_t> offsets(sizes.size() + 1, 0);
  std::partial_sum(sizes.begin(), sizes.end(), offsets.begin() + 1);
  return offsets;
}

Status checkSubgroups(const Communicator& comm, const char* what) {
  if (comm.subgroup(Subgroup::kNode) == nullptr || comm.subgroup(Subgroup::kCross) == nullptr ||
      comm.hostLayout() == nullptr) {
    return makeStatus(Code::kInvalidUsage,
                      "{} (hier): rank {} has no node/cross subgroups (they exist when the ranks "
                      "span hosts)",
                      what, comm.rank());
  }
  return Status::ok();
}

}  // namespace

std::vector<size_t> shardSizes(size_t total, int m, int slots) {
  std::vector<size_t> sizes(static_cast<size_t>(slots), 0);
  for (int i = 0; i < m && i < slots; ++i) {
    sizes[i] = total / static_cast<size_t>(m) + (static_cast<size_t>(i) < total % m ? 1 : 0);
  }
  return sizes;
}

Status hierarchicalAllreduce(Communicator& comm, void* buffer, size_t count, DataType type,
                             ReduceOp op) {
  KOLO_RETURN_IF_ERROR(checkSubgroups(comm, "allreduce"));
  if (count == 0) return Status::ok();
  Communicator& node = *comm.subgroup(Subgroup::kNode);
  Communicator& cross = *comm.subgroup(Subgroup::kCross);
  const HostLayout& layout = *comm.hostLayout();
  const int m = layout.minLocalSize();
  const int l = node.size();
  const int me = node.rank();
  const size_t esize = dataTypeSize(type);
  // Partial results are sums; the average divides once at the end, as the flat ring does.
  const ReduceOp partialOp = op == ReduceOp::kAverage ? ReduceOp::kSum : op;
  const std::vector<size_t> shards = shardSizes(count, m, l);
  const std::vector<size_t> offsets = offsetsOf(shards);
  auto* data = static_cast<std::byte*>(buffer);
  std::byte* myShard = data + offsets[me] * esize;

  // Node phase: the shm arena reduces every chunk with all local ranks at once and leaves the
  // node's sum on every rank (a rank then uses its own shard); without one, a ring
  // reduce-scatter leaves each owner its shard.
  if (l > 1) {
    if (ShmArena* arena = node.arena()) {
      KOLO_RETURN_IF_ERROR(arena->allreduce(data, data, count, type, partialOp, node.opDeadline())
                               .withContext("allreduce (hier): node phase (shm)"));
    } else {
      std::vector<std::byte> shard(shards[me] * esize);
      KOLO_RETURN_IF_ERROR(reduceScatter(node, data, shard.data(), shards, type, partialOp)
                               .withContext("allreduce (hier): node phase"));
      if (!shard.empty()) std::memcpy(myShard, shard.data(), shard.size());
    }
  }
  // Cross phase: the owners of shard `me` on every host allreduce it.
  if (me < m) {
    faultPoint(FaultPhase::kHierCross);
    if (cross.size() > 1) {
      const size_t shardBytes = shards[me] * esize;
      const std::string_view algorithm = shardBytes < kSmallMessageBytes ? "rd" : "ring";
      KOLO_RETURN_IF_ERROR(
          allreduce(cross, myShard, myShard, shards[me], type, partialOp, algorithm)
              .withContext("allreduce (hier): cross phase"));
    }
    if (op == ReduceOp::kAverage) divideBuffer(type, myShard, shards[me], comm.size());
  }
  // Node phase: every rank collects the m finished shards (in place: each sits at its offset).
  if (l > 1) {
    std::vector<size_t> shardBytes(shards.size());
    for (size_t i = 0; i < shards.size(); ++i) shardBytes[i] = shards[i] * esize;
    KOLO_RETURN_IF_ERROR(allgatherv(node, myShard, data, shardBytes)
                             .withContext("allreduce (hier): node allgather"));
  }
  return Status::ok();
}

Status hierarchicalAllgatherv(Communicator& comm, const void* send, void* recv,
                              std::span<const size_t> bytesPerRank) {
  KOLO_RETURN_IF_ERROR(checkSubgroups(comm, "allgatherv"));
  Communicator& node = *comm.subgroup(Subgroup::kNode);
  Communicator& cross = *comm.subgroup(Subgroup::kCross);
  const HostLayout& layout = *comm.hostLayout();
  const int m = layout.minLocalSize();
  const int hosts = layout.numHosts;
  const int l = node.size();
  const int me = node.rank();
  const std::vector<size_t> worldOffsets = offsetsOf(bytesPerRank);

  // Every host's node block: its ranks' blocks in local-rank order, cut into m shares.
  std::vector<std::vector<int>> ranksOf(hosts);
  std::vector<size_t> hostBytes(hosts, 0);
  for (int h = 0; h < hosts; ++h) {
    ranksOf[h] = layout.ranksOnHost(h);
    for (int r : ranksOf[h]) hostBytes[h] += bytesPerRank[r];
  }
  std::vector<std::vector<size_t>> shareBytes(hosts);   // [host][share]
  std::vector<std::vector<size_t>> shareOffset(hosts);  // within the host's node block
  for (int h = 0; h < hosts; ++h) {
    shareBytes[h] = shardSizes(hostBytes[h], m, m);
    shareOffset[h] = offsetsOf(shareBytes[h]);
  }

  // 1. This host's node block.
  const int myHost = layout.hostIndex;
  std::vector<size_t> nodeCounts(l);
  for (int j = 0; j < l; ++j) nodeCounts[j] = bytesPerRank[ranksOf[myHost][j]];
  std::vector<std::byte> nodeBlock(hostBytes[myHost]);
  KOLO_RETURN_IF_ERROR(allgatherv(node, send, nodeBlock.data(), nodeCounts)
                           .withContext("allgatherv (hier): node phase"));

  // 2. Local rank i < m gathers share i of every host's block (cross rank == host index).
  std::vector<size_t> gatheredCounts(l, 0);  // bytes local rank j holds after this step
  for (int j = 0; j < m; ++j) {
    for (int h = 0; h < hosts; ++h) gatheredCounts[j] += shareBytes[h][j];
  }
  std::vector<std::byte> gathered(gatheredCounts[me]);
  if (me < m) {
    std::vector<size_t> crossCounts(hosts);
    for (int h = 0; h < hosts; ++h) crossCounts[h] = shareBytes[h][me];
    KOLO_RETURN_IF_ERROR(
        allgatherv(cross, nodeBlock.data() + shareOffset[myHost][me], gathered.data(), crossCounts)
            .withContext("allgatherv (hier): cross phase"));
  }

  // 3. Every local rank collects all shares: [share 0 of hosts 0..H-1][share 1 ...]...
  const std::vector<size_t> gatheredOffsets = offsetsOf(gatheredCounts);
  std::vector<std::byte> all(gatheredOffsets.back());
  KOLO_RETURN_IF_ERROR(allgatherv(node, gathered.data(), all.data(), gatheredCounts)
                           .withContext("allgatherv (hier): node allgather"));

  // 4. Reassemble each host's node block and scatter its ranks' blocks to their world offsets.
  auto* out = static_cast<std::byte*>(recv);
  std::vector<std::byte> block;
  for (int h = 0; h < hosts; ++h) {
    block.resize(hostBytes[h]);
    for (int i = 0; i < m; ++i) {
      size_t at = gatheredOffsets[i];
      for (int g = 0; g < h; ++g) at += shareBytes[g][i];
      if (shareBytes[h][i] != 0) {
        std::memcpy(block.data() + shareOffset[h][i], all.data() + at, shareBytes[h][i]);
      }
    }
    size_t at = 0;
    for (int r : ranksOf[h]) {
      if (bytesPerRank[r] != 0) {
        std::memcpy(out + worldOffsets[r], block.data() + at, bytesPerRank[r]);
      }
      at += bytesPerRank[r];
    }
  }
  return Status::ok();
}

}  // namespace kolo::coll
