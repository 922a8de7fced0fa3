#include "algorithms/hierarchical.h"

#include <cstring>
#include <numeric>
#include <vector>

#include "algorithms/hierarchical_pipeline.h"
#include "algorithms/internal.h"
#include "algorithms/wide_accumulation.h"
#include "kolo/base/fault_injection.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/reduce.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {
namespace {

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

std::vector<size_t> offsetsOf(std::span<const size_t> sizes) {
  std::vector<size_t> offsets(sizes.size() + 1, 0);
  std::partial_sum(sizes.begin(), sizes.end(), offsets.begin() + 1);
  return offsets;
}

std::vector<size_t> shardSizes(size_t total, int m, int slots) {
  std::vector<size_t> sizes(static_cast<size_t>(slots), 0);
  for (int i = 0; i < m && i < slots; ++i) {
    sizes[i] = total / static_cast<size_t>(m) + (static_cast<size_t>(i) < total % m ? 1 : 0);
  }
  return sizes;
}

HierAllreduceStages::HierAllreduceStages(Communicator& comm, DataType type, ReduceOp op)
    : node_(*comm.subgroup(Subgroup::kNode)),
      cross_(*comm.subgroup(Subgroup::kCross)),
      worldSize_(comm.size()),
      m_(comm.hostLayout()->minLocalSize()),
      type_(type),
      op_(op),
      // Partial results are sums; the average divides once at the end, as the flat ring does.
      partialOp_(op == ReduceOp::kAverage ? ReduceOp::kSum : op) {}

HierAllreduceStages::Piece HierAllreduceStages::piece(void* data, size_t count) const {
  Piece p;
  p.data = static_cast<std::byte*>(data);
  p.count = count;
  p.shards = shardSizes(count, m_, node_.size());
  p.offsets = offsetsOf(p.shards);
  return p;
}

// The shm arena reduces every chunk with all local ranks at once and leaves the node's sum on
// every rank (a rank then uses its own shard); without one, a ring reduce-scatter leaves each
// owner its shard.
Status HierAllreduceStages::nodeReduce(const Piece& p) {
  if (node_.size() <= 1) return Status::ok();
  const int me = node_.rank();
  const size_t esize = dataTypeSize(type_);
  if (ShmArena* arena = node_.arena()) {
    return arena->allreduce(p.data, p.data, p.count, type_, partialOp_, node_.opDeadline())
        .withContext("allreduce (hier): node phase (shm)");
  }
  std::vector<std::byte> shard(p.shards[me] * esize);
  KOLO_RETURN_IF_ERROR(reduceScatter(node_, p.data, shard.data(), p.shards, type_, partialOp_)
                           .withContext("allreduce (hier): node phase"));
  if (!shard.empty()) std::memcpy(p.data + p.offsets[me] * esize, shard.data(), shard.size());
  return Status::ok();
}

// The owners of shard `me` on every host allreduce it.
Status HierAllreduceStages::crossAllreduce(const Piece& p) {
  const int me = node_.rank();
  if (me >= m_) return Status::ok();
  const size_t esize = dataTypeSize(type_);
  std::byte* myShard = p.data + p.offsets[me] * esize;
  faultPoint(FaultPhase::kHierCross);
  if (cross_.size() > 1) {
    const size_t shardBytes = p.shards[me] * esize;
    const std::string_view algorithm = shardBytes < kSmallMessageBytes ? "rd" : "ring";
    KOLO_RETURN_IF_ERROR(
        allreduce(cross_, myShard, myShard, p.shards[me], type_, partialOp_, algorithm)
            .withContext("allreduce (hier): cross phase"));
  }
  if (op_ == ReduceOp::kAverage) divideBuffer(type_, myShard, p.shards[me], worldSize_);
  return Status::ok();
}

// Every rank collects the m finished shards (in place: each sits at its offset).
Status HierAllreduceStages::nodeGather(const Piece& p) {
  if (node_.size() <= 1) return Status::ok();
  const size_t esize = dataTypeSize(type_);
  std::vector<size_t> shardBytes(p.shards.size());
  for (size_t i = 0; i < p.shards.size(); ++i) shardBytes[i] = p.shards[i] * esize;
  return allgatherv(node_, p.data + p.offsets[node_.rank()] * esize, p.data, shardBytes)
      .withContext("allreduce (hier): node allgather");
}

Status hierarchicalAllreduce(Communicator& comm, void* buffer, size_t count, DataType type,
                             ReduceOp op) {
  KOLO_RETURN_IF_ERROR(checkSubgroups(comm, "allreduce"));
  if (count == 0) return Status::ok();
  if (accumulatesInFloat32(type, op)) {  // f16 / bf16 sums: f32 partials (wide_accumulation.h)
    return runInFloat32(type, buffer, count, [&](float* wide) {
      return hierarchicalAllreduce(comm, wide, count, DataType::kFloat32, op);
    });
  }
  HierAllreduceStages stages(comm, type, op);
  if (pipelineHierarchical(comm, count * dataTypeSize(type))) {
    return pipelinedHierarchicalAllreduce(stages, buffer, count, dataTypeSize(type));
  }
  const HierAllreduceStages::Piece whole = stages.piece(buffer, count);
  KOLO_RETURN_IF_ERROR(stages.nodeReduce(whole));
  KOLO_RETURN_IF_ERROR(stages.crossAllreduce(whole));
  return stages.nodeGather(whole);
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
