#include "algorithms/hierarchical_pipeline.h"

#include <algorithm>
#include <barrier>
#include <thread>
#include <vector>

#include "kolo/base/thread_name.h"
#include "kolo/collectives/host_layout.h"

namespace kolo::coll {
namespace {

// Pieces of at least this many bytes, and at most kMaxPieces of them: a stage costs a thread
// handoff (microseconds) and a piece's cross phase over a 10 Gbit/s link takes milliseconds.
constexpr size_t kMinPieceBytes = size_t{2} << 20;
constexpr size_t kMaxPieces = 8;

std::vector<HierAllreduceStages::Piece> cutPieces(HierAllreduceStages& stages, void* buffer,
                                                  size_t count, size_t esize) {
  const size_t pieces = std::clamp<size_t>(count * esize / kMinPieceBytes, 1, kMaxPieces);
  std::vector<HierAllreduceStages::Piece> out;
  auto* data = static_cast<std::byte*>(buffer);
  size_t at = 0;
  for (size_t i = 0; i < pieces; ++i) {
    const size_t n = count / pieces + (i < count % pieces ? 1 : 0);
    out.push_back(stages.piece(data + at * esize, n));
    at += n;
  }
  return out;
}

}  // namespace

bool pipelineHierarchical(const Communicator& comm, size_t bytes) {
  // The same answer on every rank (a rank alone on its host must cut the same pieces as the
  // others, whose cross groups it is in): only the world's layout and the size decide.
  const HostLayout* layout = comm.hostLayout();
  return layout != nullptr && layout->numHosts > 1 && bytes >= 2 * kMinPieceBytes;
}

Status pipelinedHierarchicalAllreduce(HierAllreduceStages& stages, void* buffer, size_t count,
                                      size_t esize) {
  const std::vector<HierAllreduceStages::Piece> pieces = cutPieces(stages, buffer, count, esize);
  const size_t n = pieces.size();
  // Stage s: the caller runs the cross phase of piece s-1; the helper the node allgather of
  // piece s-2, then the node reduce of piece s. After a failure a side skips its remaining work
  // (its peers in that subgroup fail the same way, or by their deadline) but still meets the
  // other at every barrier, so both end; each side reads only its own status until the join.
  std::barrier meet(2);
  Status nodeStatus, crossStatus;
  std::thread helper([&] {
    nameThisThread("kolo-hier-node");
    for (size_t s = 0; s <= n + 1; ++s) {
      if (nodeStatus.isOk() && s >= 2) nodeStatus = stages.nodeGather(pieces[s - 2]);
      if (nodeStatus.isOk() && s < n) nodeStatus = stages.nodeReduce(pieces[s]);
      meet.arrive_and_wait();
    }
  });
  for (size_t s = 0; s <= n + 1; ++s) {
    if (crossStatus.isOk() && s >= 1 && s <= n) crossStatus = stages.crossAllreduce(pieces[s - 1]);
    meet.arrive_and_wait();
  }
  helper.join();
  return crossStatus.isOk() ? nodeStatus : crossStatus;
}

}  // namespace kolo::coll
