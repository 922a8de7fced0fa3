// Ring allgather(v): n-1 steps; each rank forwards the block it received in the previous step,
// chunk by chunk, so a rank sends and receives (n-1)/n of the result once. Across hosts the
// selector may pick the hierarchical variant (hierarchical.h) instead.
#include <cstring>
#include <numeric>
#include <vector>

#include "algorithms/hierarchical.h"
#include "algorithms/internal.h"
#include "algorithms/ring.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/native_collectives.h"

namespace kolo::coll {

Status allgatherv(Communicator& comm, const void* send, void* recv,
                  std::span<const size_t> bytesPerRank) {
  constexpr const char* kWhat = "allgatherv";
  const int n = comm.size();
  const int r = comm.rank();
  KOLO_RETURN_IF_ERROR(checkCounts(bytesPerRank, n, "bytesPerRank").withContext(kWhat));
  const size_t total = std::accumulate(bytesPerRank.begin(), bytesPerRank.end(), size_t{0});
  KOLO_RETURN_IF_ERROR(checkBuffer(send, bytesPerRank[r], "send").withContext(kWhat));
  KOLO_RETURN_IF_ERROR(checkBuffer(recv, total, "recv").withContext(kWhat));
  const uint64_t tagBase = comm.beginCollective();
  if (NativeCollectives* native = comm.transport().nativeCollectives(); native && n > 1) {
    if (auto s = native->allgatherv(send, recv, bytesPerRank, comm.opDeadline())) {
      return s->withContext(fmt::format("{} ({})", kWhat, native->name()));
    }
  }
  if (n > 1 && selectHierarchicalAllgather(comm, total)) {
    return hierarchicalAllgatherv(comm, send, recv, bytesPerRank).withContext(kWhat);
  }
  RingPlan plan = ringPlanFromCounts(bytesPerRank);
  auto* own = static_cast<std::byte*>(recv) + plan.offset[r];
  // memmove: send may be recv itself (in place), overlapping the own block.
  if (bytesPerRank[r] != 0 && send != own) std::memmove(own, send, bytesPerRank[r]);
  if (n == 1) return Status::ok();
  plan.type = DataType::kUInt8;
  plan.gatherSteps = n - 1;
  return runRing(comm, plan, recv, tagBase).withContext(kWhat);
}

Status allgather(Communicator& comm, const void* send, void* recv, size_t bytesPerRank) {
  std::vector<size_t> counts(static_cast<size_t>(comm.size()), bytesPerRank);
  return allgatherv(comm, send, recv, counts);
}

}  // namespace kolo::coll
