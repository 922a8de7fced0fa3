// Broadcast: a binomial tree (ceil(log2 n) steps, whole message per step) below
// kSmallMessageBytes; above it a chain root -> root+1 -> ... in kChunkBytes chunks, where every
// rank forwards chunk k while chunk k+1 is still arriving, so the time approaches one transfer
// of the message plus (n-2) chunk latencies. Same-host worlds use the arena's broadcast.
#include "algorithms/internal.h"
#include "algorithms/transfer_request_list.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/native_collectives.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {
namespace {

Status binomialBroadcast(Communicator& comm, std::span<std::byte> data, int root, uint64_t tag) {
  const int n = comm.size();
  const int self = (comm.rank() - root + n) % n;  // position in the tree, root is 0
  auto real = [&](int v) { return (v + root) % n; };
  const Deadline deadline = comm.opDeadline();
  int mask = 1;
  while (mask < n) {
    if (self & mask) {
      TransferRequestList recv;
      recv.add(comm.peer(real(self - mask)).postRecv(tag, data));
      KOLO_RETURN_IF_ERROR(comm.waitAll(recv.all(), deadline));
      break;
    }
    mask <<= 1;
  }
  TransferRequestList sends;
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (self + mask < n) sends.add(comm.peer(real(self + mask)).postSend(tag, data));
  }
  return comm.waitAll(sends.all(), deadline);
}

Status chainBroadcast(Communicator& comm, std::span<std::byte> data, int root, uint64_t tag) {
  const int n = comm.size();
  const int self = (comm.rank() - root + n) % n;
  const Deadline deadline = comm.opDeadline();
  const size_t size = chunkBytesFor(comm);
  const size_t chunks = (data.size() + size - 1) / size;
  auto chunk = [&](size_t k) {
    return data.subspan(k * size, std::min(size, data.size() - k * size));
  };
  TransferRequestList recvs;
  if (self > 0) {
    Channel& prev = comm.peer((comm.rank() - 1 + n) % n);
    for (size_t k = 0; k < chunks; ++k) recvs.add(prev.postRecv(tag, chunk(k)));
  }
  TransferRequestList sends;
  Channel* next = self + 1 < n ? &comm.peer((comm.rank() + 1) % n) : nullptr;
  for (size_t k = 0; k < chunks; ++k) {
    if (self > 0) KOLO_RETURN_IF_ERROR(comm.waitAll(recvs.one(k), deadline));
    if (next) sends.add(next->postSend(tag, chunk(k)));
  }
  return comm.waitAll(sends.all(), deadline);
}

}  // namespace

Status runShmBroadcast(Communicator& comm, const CollectiveArgs& a) {
  return comm.arena()
      ->broadcast(a.recv, a.count, a.root, comm.opDeadline())
      .withContext("broadcast");
}

Status runBinomialBroadcast(Communicator& comm, const CollectiveArgs& a) {
  return binomialBroadcast(comm, {static_cast<std::byte*>(a.recv), a.count}, a.root, a.tagBase)
      .withContext("broadcast (binomial)");
}

Status runPipelineBroadcast(Communicator& comm, const CollectiveArgs& a) {
  return chainBroadcast(comm, {static_cast<std::byte*>(a.recv), a.count}, a.root, a.tagBase)
      .withContext("broadcast (pipeline)");
}

Status broadcast(Communicator& comm, void* buffer, size_t bytes, int root,
                 std::string_view algorithm) {
  constexpr const char* kWhat = "broadcast";
  const int n = comm.size();
  if (root < 0 || root >= n) {
    return makeStatus(Code::kInvalidArgument, "{}: root {} is out of range [0, {})", kWhat, root,
                      n);
  }
  KOLO_RETURN_IF_ERROR(checkBuffer(buffer, bytes, "buffer").withContext(kWhat));
  KOLO_ASSIGN_OR_RETURN(const AlgorithmEntry* requested,
                        resolveAlgorithm(CollectiveKind::kBroadcast, algorithm));
  const uint64_t tagBase = comm.beginCollective();
  if (n == 1) return Status::ok();
  NativeCollectives* native = comm.transport().nativeCollectives();
  if (requested == nullptr && native != nullptr) {
    if (auto s = native->broadcast(buffer, bytes, root, comm.opDeadline())) {
      return s->withContext(fmt::format("{} ({})", kWhat, native->name()));
    }
  }
  const CollectiveArgs args{.recv = buffer, .count = bytes, .root = root, .tagBase = tagBase};
  return runChosen(comm, CollectiveKind::kBroadcast, requested, bytes, args);
}

}  // namespace kolo::coll
