#include "algorithms/ring.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "algorithms/internal.h"
#include "algorithms/transfer_request_list.h"
#include "algorithms/wide_accumulation.h"
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

namespace {

// This rank's position on the ring (its rank, unless the plan orders the ring).
int ringPosition(const RingPlan& plan, int rank) {
  if (plan.order.empty()) return rank;
  return static_cast<int>(std::find(plan.order.begin(), plan.order.end(), rank) -
                          plan.order.begin());
}

// The scratch slots of the ring runs on this thread, kept between runs: a fresh allocation of
// that size is an mmap whose pages are zeroed and faulted in again on every collective. A
// nested run (none today) gets its own.
class ScratchLease {
 public:
  explicit ScratchLease(size_t bytes) {
    static thread_local std::vector<std::byte> pool;
    static thread_local bool lent = false;
    if (lent) {
      own_.resize(bytes);
      bytes_ = own_;
      return;
    }
    if (pool.size() < bytes) pool.resize(bytes);
    lent = true;
    lent_ = &lent;
    bytes_ = std::span(pool).first(bytes);
  }
  ~ScratchLease() {
    if (lent_ != nullptr) *lent_ = false;
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  std::byte* data() const { return bytes_.data(); }

 private:
  std::vector<std::byte> own_;
  std::span<std::byte> bytes_;
  bool* lent_ = nullptr;
};

// One run of a RingPlan on this rank: the ring's geometry, the chunking, the scratch slots that
// a reducing step receives into, and the steps themselves.
// Thread: caller's.
class RingRun {
 public:
  RingRun(Communicator& comm, const RingPlan& plan, void* buffer, uint64_t tagBase)
      : comm_(comm),
        plan_(plan),
        base_(static_cast<std::byte*>(buffer)),
        tagBase_(tagBase),
        n_(comm.size()),
        r_(ringPosition(plan, comm.rank())),
        steps_(plan.reduceSteps + plan.gatherSteps),
        esize_(dataTypeSize(plan.type)),
        chunkElems_(std::max<size_t>(1, chunkBytesFor(comm) / esize_)),
        deadline_(comm.opDeadline()) {}

  Status run();

 private:
  int segment(int i) const { return ((i % n_) + n_) % n_; }
  int rankAt(int position) const { return plan_.order.empty() ? position : plan_.order[position]; }
  size_t chunksOf(int s) const { return (plan_.length[s] + chunkElems_ - 1) / chunkElems_; }
  std::span<std::byte> chunkSpan(int s, size_t k) const {
    const size_t first = k * chunkElems_;
    const size_t elems = std::min(chunkElems_, plan_.length[s] - first);
    return {base_ + (plan_.offset[s] + first) * esize_, elems * esize_};
  }
  int recvSegment(int t) const { return segment(r_ - t - 1 + plan_.shift); }
  void widenChunk(int s, size_t k);
  void allocateScratch();
  std::span<std::byte> incomingOf(int t, size_t k);
  void postUpTo(TransferRequestList& recvs, int t, size_t limit);
  Status runStep(int t, TransferRequestList& recvs);

  Communicator& comm_;
  const RingPlan& plan_;
  std::byte* base_;
  const uint64_t tagBase_;
  const int n_, r_, steps_;
  const size_t esize_, chunkElems_;
  const Deadline deadline_;
  Channel* left_ = nullptr;
  Channel* right_ = nullptr;
  // Two sets of slotsPerStep_ slots of one chunk each (see allocateScratch).
  std::optional<ScratchLease> scratch_;
  size_t slotsPerStep_ = 0;
  // sends_[t]: the chunks transmitted as step t. They are posted one step early (as soon as the
  // chunk they carry is final) and waited for at the start of step t+1, before this rank
  // overwrites any segment it sent.
  std::vector<TransferRequestList> sends_;
};

// Incoming data of a reducing step lands in scratch slots first (the local segment is the
// reduction's destination). At most kRingWindow chunks per step are posted at a time, so
// scratch stays cache-sized whatever the message size; two sets of slots, because step t+1's
// first receives are posted while step t's data is still being reduced.
void RingRun::allocateScratch() {
  if (plan_.reduceSteps == 0) return;
  const size_t longest = *std::max_element(plan_.length.begin(), plan_.length.end());
  slotsPerStep_ = std::min(kRingWindow, (longest + chunkElems_ - 1) / chunkElems_);
  scratch_.emplace(2 * slotsPerStep_ * chunkElems_ * esize_);
}

std::span<std::byte> RingRun::incomingOf(int t, size_t k) {
  std::span<std::byte> local = chunkSpan(recvSegment(t), k);
  if (t >= plan_.reduceSteps) return local;
  const size_t slot = static_cast<size_t>(t % 2) * slotsPerStep_ + k % slotsPerStep_;
  return {scratch_->data() + slot * chunkElems_ * esize_, local.size()};
}

// Fills chunk k of segment s from plan.widenFrom (a no-op without one).
void RingRun::widenChunk(int s, size_t k) {
  if (plan_.widenFrom == nullptr) return;
  std::span<std::byte> local = chunkSpan(s, k);
  const size_t first = plan_.offset[s] + k * chunkElems_;
  const auto* from =
      static_cast<const std::byte*>(plan_.widenFrom) + first * dataTypeSize(plan_.widenType);
  widenToFloat32(plan_.widenType, from, reinterpret_cast<float*>(local.data()),
                 local.size() / esize_);
}

// Posts step t's receives up to chunk `limit` (exclusive).
void RingRun::postUpTo(TransferRequestList& recvs, int t, size_t limit) {
  limit = std::min(limit, chunksOf(recvSegment(t)));
  while (recvs.size() < limit) {
    recvs.add(left_->postRecv(tagBase_ + static_cast<uint64_t>(t), incomingOf(t, recvs.size())));
  }
}

// Step t: every chunk of the segment arriving from the left is reduced into (or, gathering,
// lands in) the local segment and is forwarded to the right as step t+1 as soon as it is final.
Status RingRun::runStep(int t, TransferRequestList& recvs) {
  const int s = recvSegment(t);
  const bool reducing = t < plan_.reduceSteps;
  const bool lastReduce = t == plan_.reduceSteps - 1;
  const size_t chunks = chunksOf(s);
  for (size_t k = 0; k < chunks; ++k) {
    KOLO_RETURN_IF_ERROR(comm_.waitAll(recvs.one(k), deadline_));
    std::span<std::byte> local = chunkSpan(s, k);
    const size_t elems = local.size() / esize_;
    if (reducing) {
      widenChunk(s, k);  // a reduce-scatter receives each segment once: its first use
      reduceInto(plan_.type, plan_.op, local.data(), incomingOf(t, k).data(), elems);
      if (lastReduce && plan_.divisor != 0) {
        divideBuffer(plan_.type, local.data(), elems, plan_.divisor);
      }
    }
    if (t + 1 < steps_) {
      sends_[t + 1].add(right_->postSend(tagBase_ + static_cast<uint64_t>(t + 1), local));
    }
    // Chunk k's slot is free again.
    postUpTo(recvs, t, k + 1 + kRingWindow);
  }
  return Status::ok();
}

Status RingRun::run() {
  if (n_ == 1 || steps_ == 0) return Status::ok();
  left_ = &comm_.peer(rankAt(segment(r_ - 1)));
  right_ = &comm_.peer(rankAt(segment(r_ + 1)));
  allocateScratch();
  // Posting step t+1's first receives during step t lets the sender's chunks land in place
  // instead of being buffered as unexpected messages. With two ranks the segment step t+1
  // receives into is the one step t is still sending from, so there they wait for step t+1.
  const bool postEarly = n_ >= 3;
  sends_.resize(static_cast<size_t>(steps_));
  const int firstSend = segment(r_ + plan_.shift);
  for (size_t k = 0; k < chunksOf(firstSend); ++k) {
    widenChunk(firstSend, k);
    sends_[0].add(right_->postSend(tagBase_, chunkSpan(firstSend, k)));
  }
  TransferRequestList recvs;
  TransferRequestList nextRecvs;
  for (int t = 0; t < steps_; ++t) {
    if (t == 0 && plan_.reduceSteps > 0) faultPoint(FaultPhase::kReduceScatter);
    if (t == plan_.reduceSteps) faultPoint(FaultPhase::kAllgather);
    if (t > 0) {
      KOLO_RETURN_IF_ERROR(comm_.waitAll(sends_[t - 1].all(), deadline_));
      recvs = std::move(nextRecvs);
      nextRecvs = TransferRequestList();
    }
    postUpTo(recvs, t, kRingWindow);
    if (postEarly && t + 1 < steps_) postUpTo(nextRecvs, t + 1, kRingWindow);
    KOLO_RETURN_IF_ERROR(runStep(t, recvs));
  }
  return comm_.waitAll(sends_[steps_ - 1].all(), deadline_);
}

}  // namespace

Status runRing(Communicator& comm, const RingPlan& plan, void* buffer, uint64_t tagBase) {
  return RingRun(comm, plan, buffer, tagBase).run();
}

namespace {

// f16 / bf16 sums (wide_accumulation.h): the reduce-scatter steps run on f32 scratch, widened
// chunk by chunk as the ring first uses it (RingPlan::widenFrom). After the last one, the
// segment at position p + 1 is complete on this rank (the one runStep received last), so the
// rank rounds it into `buffer`, and the allgather steps, shifted by one so that each rank starts
// by sending that segment, move 16-bit values. Their tags follow the reduce-scatter's.
Status ringAllreduceInFloat32(Communicator& comm, const RingPlan& plan, void* buffer,
                              uint64_t tagBase) {
  const int n = comm.size();
  const size_t count = plan.offset.back() + plan.length.back();
  Float32Scratch wide(count);
  RingPlan reduce = plan;
  reduce.type = DataType::kFloat32;
  reduce.gatherSteps = 0;
  reduce.widenFrom = buffer;
  reduce.widenType = plan.type;
  KOLO_RETURN_IF_ERROR(runRing(comm, reduce, wide.data(), tagBase));
  const int owned = (ringPosition(plan, comm.rank()) + 1) % n;
  auto* out = static_cast<std::byte*>(buffer) + plan.offset[owned] * dataTypeSize(plan.type);
  narrowFromFloat32(plan.type, wide.data() + plan.offset[owned], out, plan.length[owned]);
  RingPlan gather = plan;
  gather.reduceSteps = 0;
  gather.divisor = 0;
  gather.shift = 1;
  return runRing(comm, gather, buffer, tagBase + static_cast<uint64_t>(plan.reduceSteps));
}

}  // namespace

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
  if (n > 1 && accumulatesInFloat32(type, op)) {
    return ringAllreduceInFloat32(comm, plan, buffer, tagBase);
  }
  return runRing(comm, plan, buffer, tagBase);
}

}  // namespace kolo::coll
