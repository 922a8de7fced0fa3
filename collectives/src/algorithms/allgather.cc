// Ring allgather(v): n-1 steps; each rank forwards the block it received in the previous step,
// chunk by chunk, so a rank sends and receives (n-1)/n of the result once. Across hosts the
// selector may pick the hierarchical variant (hierarchical.h) instead, and on one host the shm
// arena's allgatherv (shm_direct_arena.h).
#include <cstring>
#include <numeric>
#include <vector>

#include "algorithms/hierarchical.h"
#include "algorithms/internal.h"
#include "algorithms/ring.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/native_collectives.h"
#include "kolo/collectives/phase_clock.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {

Status runShmAllgather(Communicator& comm, const CollectiveArgs& a) {
  return comm.arena()->allgatherv(a.send, a.recv, a.counts, comm.opDeadline()).withContext("shm");
}

Status runRingAllgather(Communicator& comm, const CollectiveArgs& a) {
  const int n = comm.size();
  const int r = comm.rank();
  RingPlan plan = ringPlanFromCounts(a.counts);
  auto* own = static_cast<std::byte*>(a.recv) + plan.offset[r];
  // memmove: send may be recv itself (in place), overlapping the own block.
  if (a.counts[r] != 0 && a.send != own) {
    ScopedPhase phase(Phase::kCopy);
    std::memmove(own, a.send, a.counts[r]);
  }
  if (n == 1) return Status::ok();
  plan.type = DataType::kUInt8;
  plan.gatherSteps = n - 1;
  return runRing(comm, plan, a.recv, a.tagBase);
}

Status runHierarchicalAllgather(Communicator& comm, const CollectiveArgs& a) {
  return hierarchicalAllgatherv(comm, a.send, a.recv, a.counts);
}

Status allgatherv(Communicator& comm, const void* send, void* recv,
                  std::span<const size_t> bytesPerRank, std::string_view algorithm) {
  constexpr const char* kWhat = "allgatherv";
  const int n = comm.size();
  const int r = comm.rank();
  KOLO_RETURN_IF_ERROR(checkCounts(bytesPerRank, n, "bytesPerRank").withContext(kWhat));
  const size_t total = std::accumulate(bytesPerRank.begin(), bytesPerRank.end(), size_t{0});
  KOLO_RETURN_IF_ERROR(checkBuffer(send, bytesPerRank[r], "send").withContext(kWhat));
  KOLO_RETURN_IF_ERROR(checkBuffer(recv, total, "recv").withContext(kWhat));
  KOLO_ASSIGN_OR_RETURN(const AlgorithmEntry* requested,
                        resolveAlgorithm(CollectiveKind::kAllgather, algorithm));
  const uint64_t tagBase = comm.beginCollective();
  NativeCollectives* native = comm.transport().nativeCollectives();
  if (requested == nullptr && native != nullptr && n > 1) {
    if (auto s = native->allgatherv(send, recv, bytesPerRank, comm.opDeadline())) {
      return s->withContext(fmt::format("{} ({})", kWhat, native->name()));
    }
  }
  const CollectiveArgs args{.send = send, .recv = recv, .counts = bytesPerRank, .tagBase = tagBase};
  return runChosen(comm, CollectiveKind::kAllgather, requested, total, args).withContext(kWhat);
}

Status allgather(Communicator& comm, const void* send, void* recv, size_t bytesPerRank,
                 std::string_view algorithm) {
  const EqualCounts counts(comm.size(), bytesPerRank);
  return allgatherv(comm, send, recv, counts.span(), algorithm);
}

}  // namespace kolo::coll
