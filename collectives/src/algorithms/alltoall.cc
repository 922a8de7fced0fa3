// Pairwise alltoall(v): every receive and send is posted at once (sends in the order
// r+1, r+2, ... so no rank is everyone's first target), then one waitAll. n-1 latencies overlap;
// each rank moves (n-1)/n of its buffer each way. Zero-byte blocks are still sent so that a
// disagreement on sizes fails with kMismatch instead of hanging. Same-host worlds use the shm
// arena's alltoallv (shm_direct_arena.h).
#include <cstring>
#include <numeric>
#include <vector>

#include "algorithms/internal.h"
#include "algorithms/transfer_request_list.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/native_collectives.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {

Status runShmAlltoall(Communicator& comm, const CollectiveArgs& a) {
  return comm.arena()
      ->alltoallv(a.send, a.counts, a.recv, a.recvCounts, comm.opDeadline())
      .withContext("shm");
}

Status runPairwiseAlltoall(Communicator& comm, const CollectiveArgs& a) {
  const int n = comm.size();
  const int r = comm.rank();
  std::span<const size_t> sendBytes = a.counts;
  std::span<const size_t> recvBytes = a.recvCounts;
  const size_t sendTotal = std::accumulate(sendBytes.begin(), sendBytes.end(), size_t{0});
  const void* send = a.send;
  void* recv = a.recv;
  const uint64_t tagBase = a.tagBase;
  // In place: the outgoing blocks must be saved before receives overwrite them.
  std::vector<std::byte> saved;
  const auto* out = static_cast<const std::byte*>(send);
  if (send == recv && sendTotal != 0) {
    saved.assign(out, out + sendTotal);
    out = saved.data();
  }
  auto* in = static_cast<std::byte*>(recv);
  std::vector<size_t> sendOffset(n, 0), recvOffset(n, 0);
  for (int p = 1; p < n; ++p) {
    sendOffset[p] = sendOffset[p - 1] + sendBytes[p - 1];
    recvOffset[p] = recvOffset[p - 1] + recvBytes[p - 1];
  }
  if (sendBytes[r] != 0) std::memmove(in + recvOffset[r], out + sendOffset[r], sendBytes[r]);
  if (n == 1) return Status::ok();

  TransferRequestList requests;
  for (int i = 1; i < n; ++i) {
    const int from = (r - i + n) % n;
    requests.add(comm.peer(from).postRecv(
        tagBase, std::span<std::byte>(in + recvOffset[from], recvBytes[from])));
  }
  for (int i = 1; i < n; ++i) {
    const int to = (r + i) % n;
    requests.add(comm.peer(to).postSend(
        tagBase, std::span<const std::byte>(out + sendOffset[to], sendBytes[to])));
  }
  return comm.waitAll(requests.all());
}

Status alltoallv(Communicator& comm, const void* send, std::span<const size_t> sendBytes,
                 void* recv, std::span<const size_t> recvBytes, std::string_view algorithm) {
  constexpr const char* kWhat = "alltoallv";
  const int n = comm.size();
  const int r = comm.rank();
  KOLO_RETURN_IF_ERROR(checkCounts(sendBytes, n, "sendBytes").withContext(kWhat));
  KOLO_RETURN_IF_ERROR(checkCounts(recvBytes, n, "recvBytes").withContext(kWhat));
  const size_t sendTotal = std::accumulate(sendBytes.begin(), sendBytes.end(), size_t{0});
  const size_t recvTotal = std::accumulate(recvBytes.begin(), recvBytes.end(), size_t{0});
  KOLO_RETURN_IF_ERROR(checkBuffer(send, sendTotal, "send").withContext(kWhat));
  KOLO_RETURN_IF_ERROR(checkBuffer(recv, recvTotal, "recv").withContext(kWhat));
  if (sendBytes[r] != recvBytes[r]) {
    return makeStatus(Code::kInvalidArgument,
                      "{}: rank {} sends {} B to itself but expects to receive {} B", kWhat, r,
                      sendBytes[r], recvBytes[r]);
  }
  KOLO_ASSIGN_OR_RETURN(const AlgorithmEntry* requested,
                        resolveAlgorithm(CollectiveKind::kAlltoall, algorithm));
  const uint64_t tagBase = comm.beginCollective();
  NativeCollectives* native = comm.transport().nativeCollectives();
  if (requested == nullptr && native != nullptr && n > 1) {
    if (auto s = native->alltoallv(send, sendBytes, recv, recvBytes, comm.opDeadline())) {
      return s->withContext(fmt::format("{} ({})", kWhat, native->name()));
    }
  }
  const CollectiveArgs args{
      .send = send, .recv = recv, .counts = sendBytes, .recvCounts = recvBytes, .tagBase = tagBase};
  return runChosen(comm, CollectiveKind::kAlltoall, requested, sendTotal, args).withContext(kWhat);
}

Status alltoall(Communicator& comm, const void* send, void* recv, size_t bytesPerPeer,
                std::string_view algorithm) {
  const EqualCounts counts(comm.size(), bytesPerPeer);
  return alltoallv(comm, send, counts.span(), recv, counts.span(), algorithm)
      .withContext("alltoall");
}

}  // namespace kolo::coll
