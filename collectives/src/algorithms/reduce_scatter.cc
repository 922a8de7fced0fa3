// Same-host worlds use the shm arena's reduce-scatter (shm_direct_arena.h). Otherwise:
// ring reduce-scatter with per-rank counts: n-1 steps, each moving one block, so every rank
// sends and receives (n-1)/n of the data. Works on a private copy of send because send is const
// and the partial sums of blocks other ranks own have to live somewhere (in f32 for f16 / bf16
// sums, which round once: wide_accumulation.h).
#include <cstring>
#include <numeric>
#include <optional>
#include <vector>

#include "algorithms/internal.h"
#include "algorithms/ring.h"
#include "algorithms/wide_accumulation.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/native_collectives.h"
#include "kolo/collectives/reduce.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {

Status runShmReduceScatter(Communicator& comm, const CollectiveArgs& a) {
  return comm.arena()
      ->reduceScatter(a.send, a.recv, a.counts, a.type, a.op, comm.opDeadline())
      .withContext("shm");
}

Status runRingReduceScatter(Communicator& comm, const CollectiveArgs& a) {
  const int n = comm.size();
  const int r = comm.rank();
  const size_t esize = dataTypeSize(a.type);
  const size_t total = std::accumulate(a.counts.begin(), a.counts.end(), size_t{0});
  RingPlan plan = ringPlanFromCounts(a.counts);
  if (n == 1) {
    if (a.send != a.recv && total != 0) std::memmove(a.recv, a.send, total * esize);
    return Status::ok();
  }
  // f16 / bf16 sums accumulate in f32 and round once (wide_accumulation.h).
  const bool wide = accumulatesInFloat32(a.type, a.op);
  plan.type = wide ? DataType::kFloat32 : a.type;
  plan.op = a.op;
  plan.reduceSteps = n - 1;
  // Shifted by one so that rank r finishes holding block r rather than block r+1.
  plan.shift = -1;
  plan.divisor = a.op == ReduceOp::kAverage ? n : 0;
  std::vector<std::byte> work(wide ? 0 : total * esize);
  std::optional<Float32Scratch> wideWork;
  void* buffer = work.data();
  if (wide) {
    wideWork.emplace(total);
    plan.widenFrom = a.send;  // widened chunk by chunk as the ring first uses it
    plan.widenType = a.type;
    buffer = wideWork->data();
  } else if (total != 0) {
    std::memcpy(work.data(), a.send, work.size());
  }
  KOLO_RETURN_IF_ERROR(runRing(comm, plan, buffer, a.tagBase));
  if (a.counts[r] == 0) return Status::ok();
  if (wide) {
    narrowFromFloat32(a.type, wideWork->data() + plan.offset[r], a.recv, a.counts[r]);
  } else {
    std::memcpy(a.recv, work.data() + plan.offset[r] * esize, a.counts[r] * esize);
  }
  return Status::ok();
}

Status reduceScatter(Communicator& comm, const void* send, void* recv,
                     std::span<const size_t> recvCounts, DataType type, ReduceOp op,
                     std::string_view algorithm) {
  constexpr const char* kWhat = "reduceScatter";
  const int n = comm.size();
  const int r = comm.rank();
  KOLO_RETURN_IF_ERROR(checkDataType(type, op).withContext(kWhat));
  KOLO_RETURN_IF_ERROR(checkCounts(recvCounts, n, "recvCounts").withContext(kWhat));
  const size_t total = std::accumulate(recvCounts.begin(), recvCounts.end(), size_t{0});
  KOLO_RETURN_IF_ERROR(checkBuffer(send, total, "send").withContext(kWhat));
  KOLO_RETURN_IF_ERROR(checkBuffer(recv, recvCounts[r], "recv").withContext(kWhat));
  KOLO_ASSIGN_OR_RETURN(const AlgorithmEntry* requested,
                        resolveAlgorithm(CollectiveKind::kReduceScatter, algorithm));
  const uint64_t tagBase = comm.beginCollective();
  NativeCollectives* native = comm.transport().nativeCollectives();
  if (requested == nullptr && native != nullptr && n > 1) {
    if (auto s = native->reduceScatter(send, recv, recvCounts, type, op, comm.opDeadline())) {
      return s->withContext(fmt::format("{} ({})", kWhat, native->name()));
    }
  }
  const CollectiveArgs args{
      .send = send, .recv = recv, .type = type, .op = op, .counts = recvCounts, .tagBase = tagBase};
  return runChosen(comm, CollectiveKind::kReduceScatter, requested, total * dataTypeSize(type),
                   args)
      .withContext(kWhat);
}

}  // namespace kolo::coll
