// Dissemination barrier: in round k every rank signals rank + 2^k and waits for rank - 2^k;
// after ceil(log2 n) rounds every rank has transitively heard from all others. Works for any n,
// unlike a butterfly. Same-host worlds use the arena's flag barrier.
#include <array>

#include "algorithms/internal.h"
#include "algorithms/transfer_request_list.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/native_collectives.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {

Status runShmBarrier(Communicator& comm, const CollectiveArgs&) {
  return comm.arena()->barrier(comm.opDeadline()).withContext("barrier");
}

Status runDisseminationBarrier(Communicator& comm, const CollectiveArgs& a) {
  const int n = comm.size();
  const int r = comm.rank();
  const Deadline deadline = comm.opDeadline();
  // One-byte tokens: some transports treat empty messages specially.
  std::array<std::byte, 1> out{std::byte{1}};
  std::array<std::byte, 1> in{};
  uint64_t round = 0;
  for (int distance = 1; distance < n; distance <<= 1, ++round) {
    TransferRequestList requests;
    requests.add(comm.peer((r - distance + n) % n).postRecv(a.tagBase + round, in));
    requests.add(comm.peer((r + distance) % n).postSend(a.tagBase + round, out));
    KOLO_RETURN_IF_ERROR(comm.waitAll(requests.all(), deadline).withContext("barrier"));
  }
  return Status::ok();
}

Status barrier(Communicator& comm, std::string_view algorithm) {
  KOLO_ASSIGN_OR_RETURN(const AlgorithmEntry* requested,
                        resolveAlgorithm(CollectiveKind::kBarrier, algorithm));
  const uint64_t tagBase = comm.beginCollective();
  if (comm.size() == 1) return Status::ok();
  NativeCollectives* native = comm.transport().nativeCollectives();
  if (requested == nullptr && native != nullptr) {
    if (auto s = native->barrier(comm.opDeadline())) {
      return s->withContext(fmt::format("barrier ({})", native->name()));
    }
  }
  return runChosen(comm, CollectiveKind::kBarrier, requested, 0,
                   CollectiveArgs{.tagBase = tagBase});
}

}  // namespace kolo::coll
