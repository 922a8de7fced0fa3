// Recursive doubling allreduce: log2(p) rounds, in each a rank swaps its whole buffer with the
// partner whose rank differs in one bit and reduces. Latency-optimal (log2 n steps) but moves
// the full buffer every round, so it is used for small messages.
// A world of n = p + e ranks (p the largest power of two <= n) first folds: among the first 2e
// ranks every even rank hands its data to the odd rank above it and waits; the remaining p ranks
// run the rounds and the odd ranks hand the result back (2 extra latencies).
// Bit-identical results: both partners compute lower OP higher (by rank), so they produce the
// same bytes even for operators whose result depends on the operand order (min/max with NaN).
// f16 / bf16 sums run the whole exchange on f32 partial sums (wide_accumulation.h).
#include <bit>
#include <cstring>
#include <vector>

#include "algorithms/internal.h"
#include "algorithms/transfer_request_list.h"
#include "algorithms/wide_accumulation.h"
#include "kolo/collectives/reduce.h"

namespace kolo::coll {

Status recursiveDoublingAllreduce(Communicator& comm, void* buffer, size_t count, DataType type,
                                  ReduceOp op, uint64_t tagBase) {
  const int n = comm.size();
  const int r = comm.rank();
  if (n == 1) return Status::ok();
  if (accumulatesInFloat32(type, op)) {
    return runInFloat32(type, buffer, count, [&](float* wide) {
      return recursiveDoublingAllreduce(comm, wide, count, DataType::kFloat32, op, tagBase);
    });
  }
  const size_t bytes = count * dataTypeSize(type);
  const Deadline deadline = comm.opDeadline();
  auto* data = static_cast<std::byte*>(buffer);
  std::span<std::byte> whole(data, bytes);
  const int p = static_cast<int>(std::bit_floor(static_cast<unsigned>(n)));
  const int extra = n - p;
  constexpr uint64_t kFoldTag = 0;
  constexpr uint64_t kUnfoldTag = 1;
  constexpr uint64_t kRoundTag = 2;

  std::vector<std::byte> incoming(bytes);
  int virtualRank;  // -1: folded away, waits for the result
  if (r < 2 * extra) {
    if (r % 2 == 0) {
      TransferRequestList send;
      send.add(comm.peer(r + 1).postSend(tagBase + kFoldTag, whole));
      KOLO_RETURN_IF_ERROR(comm.waitAll(send.all(), deadline));
      virtualRank = -1;
    } else {
      TransferRequestList recv;
      recv.add(comm.peer(r - 1).postRecv(tagBase + kFoldTag, incoming));
      KOLO_RETURN_IF_ERROR(comm.waitAll(recv.all(), deadline));
      // The even rank is the lower one: result = even OP odd.
      reduceTwo(type, op, data, incoming.data(), data, count);
      virtualRank = r / 2;
    }
  } else {
    virtualRank = r - extra;
  }

  if (virtualRank >= 0) {
    auto realRank = [extra](int v) { return v < extra ? 2 * v + 1 : v + extra; };
    uint64_t round = 0;
    for (int mask = 1; mask < p; mask <<= 1, ++round) {
      const int partnerVirtual = virtualRank ^ mask;
      Channel& partner = comm.peer(realRank(partnerVirtual));
      TransferRequestList requests;
      requests.add(partner.postRecv(tagBase + kRoundTag + round, incoming));
      requests.add(partner.postSend(tagBase + kRoundTag + round, whole));
      KOLO_RETURN_IF_ERROR(comm.waitAll(requests.all(), deadline));
      if (virtualRank < partnerVirtual) {
        reduceTwo(type, op, data, data, incoming.data(), count);
      } else {
        reduceTwo(type, op, data, incoming.data(), data, count);
      }
    }
  }

  if (r < 2 * extra) {
    TransferRequestList unfold;
    if (r % 2 == 0) {
      unfold.add(comm.peer(r + 1).postRecv(tagBase + kUnfoldTag, whole));
    } else {
      unfold.add(comm.peer(r - 1).postSend(tagBase + kUnfoldTag, whole));
    }
    KOLO_RETURN_IF_ERROR(comm.waitAll(unfold.all(), deadline));
  }
  if (op == ReduceOp::kAverage) divideBuffer(type, data, count, n);
  return Status::ok();
}

}  // namespace kolo::coll
