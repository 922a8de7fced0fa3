#include "algorithms/ring.h"

#include <algorithm>

#include "algorithms/internal.h"
#include "algorithms/transfer_request_list.h"
#include "kolo/base/fault_injection.h"
#include "kolo/collectives/host_layout.h"
#include "kolo/collectives/reduce.h"
#include "kolo/collectives/topology.h"

namespace kolo::coll {

RingPlan evenRingPlan(int n, size_t count) {
  RingPlan plan;
  size_t base = count / static_cast<size_t>(n);
  size_t extra = count % static_cast<size_t>(n);
  size_t offset = 0;
  for (int i = 0; i < n; ++i) {
    size_t len = base + (static_cast<size_t>(i) < extra ? 1 : 0);
    plan.offset.push_back(offset);
    plan.length.push_back(len);
    offset += len;
  }
  return plan;
}

RingPlan ringPlanFromCounts(std::span<const size_t> counts) {
  RingPlan plan;
  size_t offset = 0;
  for (size_t len : counts) {
    plan.offset.push_back(offset);
    plan.length.push_back(len);
    offset += len;
  }
  return plan;
}

Status runRing(Communicator& comm, const RingPlan& plan, void* buffer, uint64_t tagBase) {
  const int n = comm.size();
  // This rank's position on the ring (its rank, unless the plan orders the ring).
  const int r =
      plan.order.empty()
          ? comm.rank()
          : static_cast<int>(std::find(plan.order.begin(), plan.order.end(), comm.rank()) -
                             plan.order.begin());
  auto rankAt = [&plan](int position) {
    return plan.order.empty() ? position : plan.order[position];
  };
  const int steps = plan.reduceSteps + plan.gatherSteps;
  if (n == 1 || steps == 0) return Status::ok();
  const size_t esize = dataTypeSize(plan.type);
  const size_t chunkElems = std::max<size_t>(1, kChunkBytes / esize);
  auto* base = static_cast<std::byte*>(buffer);
  auto segment = [n](int i) { return ((i % n) + n) % n; };
  auto chunksOf = [&](int s) { return (plan.length[s] + chunkElems - 1) / chunkElems; };
  auto chunkSpan = [&](int s, size_t k) {
    size_t first = k * chunkElems;
    size_t elems = std::min(chunkElems, plan.length[s] - first);
    return std::span<std::byte>(base + (plan.offset[s] + first) * esize, elems * esize);
  };
  Channel& left = comm.peer(rankAt(segment(r - 1)));
  Channel& right = comm.peer(rankAt(segment(r + 1)));
  const Deadline deadline = comm.opDeadline();

  // Incoming data of a reducing step lands in scratch slots first (the local segment is the
  // reduction's destination). At most kRingWindow chunks per step are posted at a time, so
  // scratch stays cache-sized whatever the message size; two sets of slots, because step t+1's
  // first receives are posted while step t's data is still being reduced.
  const size_t slotBytes = chunkElems * esize;
  std::vector<std::byte> scratch;
  if (plan.reduceSteps > 0) {
    const size_t longest = *std::max_element(plan.length.begin(), plan.length.end());
    const size_t slots = std::min(kRingWindow, (longest + chunkElems - 1) / chunkElems);
    scratch.resize(2 * slots * slotBytes);
  }
  const size_t slotsPerStep = scratch.size() / (2 * std::max<size_t>(slotBytes, 1));
  auto recvSegment = [&](int t) { return segment(r - t - 1 + plan.shift); };
  auto incomingOf = [&](int t, size_t k) {
    std::span<std::byte> local = chunkSpan(recvSegment(t), k);
    if (t >= plan.reduceSteps) return local;
    const size_t slot = static_cast<size_t>(t % 2) * slotsPerStep + k % slotsPerStep;
    return std::span<std::byte>(scratch.data() + slot * slotBytes, local.size());
  };
  // Posts step t's receives up to chunk `limit` (exclusive).
  auto postUpTo = [&](TransferRequestList& recvs, int t, size_t limit) {
    limit = std::min(limit, chunksOf(recvSegment(t)));
    while (recvs.size() < limit) {
      recvs.add(left.postRecv(tagBase + static_cast<uint64_t>(t), incomingOf(t, recvs.size())));
    }
  };
  // Posting step t+1's first receives during step t lets the sender's chunks land in place
  // instead of being buffered as unexpected messages. With two ranks the segment step t+1
  // receives into is the one step t is still sending from, so there they wait for step t+1.
  const bool postEarly = n >= 3;

  // sends[t]: the chunks transmitted as step t. They are posted one step early (as soon as the
  // chunk they carry is final) and waited for at the start of step t+1, before this rank
  // overwrites any segment it sent.
  std::vector<TransferRequestList> sends(steps);
  const int firstSend = segment(r + plan.shift);
  for (size_t k = 0; k < chunksOf(firstSend); ++k) {
    sends[0].add(right.postSend(tagBase, chunkSpan(firstSend, k)));
  }
  TransferRequestList recvs;
  TransferRequestList nextRecvs;
  for (int t = 0; t < steps; ++t) {
    if (t == 0 && plan.reduceSteps > 0) faultPoint(FaultPhase::kReduceScatter);
    if (t == plan.reduceSteps) faultPoint(FaultPhase::kAllgather);
    if (t > 0) {
      KOLO_RETURN_IF_ERROR(comm.waitAll(sends[t - 1].all(), deadline));
      recvs = std::move(nextRecvs);
      nextRecvs = TransferRequestList();
    }
    postUpTo(recvs, t, kRingWindow);
    if (postEarly && t + 1 < steps) postUpTo(nextRecvs, t + 1, kRingWindow);
    const int s = recvSegment(t);
    const bool reducing = t < plan.reduceSteps;
    const bool lastReduce = t == plan.reduceSteps - 1;
    const size_t chunks = chunksOf(s);
    for (size_t k = 0; k < chunks; ++k) {
      KOLO_RETURN_IF_ERROR(comm.waitAll(recvs.one(k), deadline));
      std::span<std::byte> local = chunkSpan(s, k);
      const size_t elems = local.size() / esize;
      if (reducing) {
        reduceInto(plan.type, plan.op, local.data(), incomingOf(t, k).data(), elems);
        if (lastReduce && plan.divisor != 0) {
          divideBuffer(plan.type, local.data(), elems, plan.divisor);
        }
      }
      if (t + 1 < steps) {
        sends[t + 1].add(right.postSend(tagBase + static_cast<uint64_t>(t + 1), local));
      }
      // Chunk k's slot is free again.
      postUpTo(recvs, t, k + 1 + kRingWindow);
    }
  }
  return comm.waitAll(sends[steps - 1].all(), deadline);
}

Status ringAllreduce(Communicator& comm, void* buffer, size_t count, DataType type, ReduceOp op,
                     uint64_t tagBase) {
  const int n = comm.size();
  RingPlan plan = evenRingPlan(n, count);
  plan.type = type;
  plan.op = op;
  plan.reduceSteps = n - 1;
  plan.gatherSteps = n - 1;
  plan.divisor = op == ReduceOp::kAverage ? n : 0;
  // Across hosts, each host's ranks sit next to each other on the ring, so only numHosts of
  // its n edges cross the network, whatever order the launcher numbered the ranks in.
  if (const HostLayout* layout = comm.hostLayout(); layout && layout->spansHosts()) {
    std::vector<RankPlacement> placements(static_cast<size_t>(n));
    for (int q = 0; q < n; ++q) placements[q].host = std::to_string(layout->hostOf[q]);
    plan.order = topologyRingOrder(placements);
  }
  return runRing(comm, plan, buffer, tagBase);
}

}  // namespace kolo::coll
