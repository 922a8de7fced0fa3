#include "transport/shm/shm_direct_arena.h"

#include <algorithm>
#include <cstring>

#include "kolo/base/fault_injection.h"
#include "kolo/collectives/phase_clock.h"
#include "kolo/collectives/reduce.h"
#include "transport/shm/shm_copy.h"

namespace kolo::shm {
ShmDirectArena::ShmDirectArena(std::shared_ptr<ShmSegment> segment, int rank, int size,
                               size_t streamingMinBytes)
    : segment_(std::move(segment)),
      rank_(rank),
      size_(size),
      smallBytes_(segment_->layout().params().smallBytes),
      chunkBytes_(segment_->layout().params().chunkBytes),
      depth_(segment_->layout().params().pipelineDepth),
      streamingMinBytes_(streamingMinBytes),
      waiter_(*segment_, rank, size),
      mine_(segment_->control(rank)) {
  const SegmentLayout& layout = segment_->layout();
  for (int parity = 0; parity < 2; ++parity) {
    size_t stride =
        size > 1 ? layout.smallSlotOffset(1, parity) - layout.smallSlotOffset(0, parity) : 0;
    smallSeq_[parity] = FlagArray{segment_->base() + layout.smallSlotOffset(0, parity), stride};
  }
  staged_ = controlFlag(&RankControl::staged);
  reduced_ = controlFlag(&RankControl::reduced);
  copied_ = controlFlag(&RankControl::copied);
  barrier_ = controlFlag(&RankControl::barrier);
  broadcastsRead_ = controlFlag(&RankControl::broadcastsRead);
}

std::string ShmDirectArena::describe() const {
  return fmt::format(
      "chunks of {} KiB through {} staging slots per rank, one-step path up to {} KiB, "
      "streaming stores for outputs from {} MiB; waits spin up to {} us, then park",
      chunkBytes_ >> 10, depth_, smallBytes_ >> 10, streamingMinBytes_ >> 20,
      waiter_.maxSpinNs() / 1000);
}

FlagArray ShmDirectArena::controlFlag(PaddedCounter RankControl::*member) const {
  auto* first = reinterpret_cast<std::byte*>(&(segment_->control(0).*member).value);
  return FlagArray{first, sizeof(RankControl)};
}

Status ShmDirectArena::fail(Status status) {
  broken_ = makeStatus(Code::kAborted, "shm arena of rank {} is unusable after: {}", rank_,
                       status.message());
  return status;
}

size_t ShmDirectArena::partBegin(size_t elems, size_t esize, int q) const {
  const size_t unit = std::max<size_t>(1, kCacheLine / esize);
  const size_t units = (elems + unit - 1) / unit;
  return std::min(elems, units * size_t(q) / size_t(size_) * unit);
}

Status ShmDirectArena::allreduce(const void* send, void* recv, size_t count, DataType type,
                                 ReduceOp op, Deadline deadline) {
  KOLO_RETURN_IF_ERROR(usable());
  const size_t bytes = count * dataTypeSize(type);
  if (size_ == 1 || bytes == 0) {
    // x / 1 == x for every type, so kAverage needs no division either.
    if (send != recv && bytes != 0) std::memcpy(recv, send, bytes);
    return Status::ok();
  }
  if (bytes <= smallBytes_) return smallAllreduce(send, recv, count, type, op, deadline);
  // The pipelined path is the segmented allreduce's (shm_segmented_allreduce.cc), one segment.
  const Segment whole{send, recv, count};
  return allreduceSegments(std::span(&whole, 1), type, op, deadline);
}

Status ShmDirectArena::usable() const {
  if (!broken_.isOk()) return broken_;
  if (faultSevered()) {
    return makeStatus(Code::kIoError,
                      "rank {}: this rank dropped its connections (fault injection drop_conn)",
                      rank_);
  }
  return Status::ok();
}

Expected<int> ShmDirectArena::smallRound(uint64_t fingerprint, const char* op, Deadline deadline) {
  const uint64_t seq = ++smallOps_;
  const int parity = smallParity(seq);
  std::byte* slot = segment_->base() + segment_->layout().smallSlotOffset(rank_, parity);
  reinterpret_cast<SmallSlotHeader*>(slot)->fingerprint = fingerprint;
  faultPoint(FaultPhase::kReduceScatter);
  waiter_.publish(smallSeq_[parity].at(rank_), seq);
  Status st =
      waiter_.waitAll(smallSeq_[parity], seq, deadline, WaitStage{op, -1, "contribute its data"});
  if (!st.isOk()) return fail(st);
  faultPoint(FaultPhase::kAllgather);
  return parity;
}

Status ShmDirectArena::checkFingerprints(int parity, const char* op, const char* what) const {
  const uint64_t first = smallFingerprint(0, parity);
  for (int q = 1; q < size_; ++q) {
    if (smallFingerprint(q, parity) != first) {
      return makeStatus(Code::kMismatch, "{}: rank {} passed other {} than rank 0", op, q, what);
    }
  }
  return Status::ok();
}

Status ShmDirectArena::smallAllreduce(const void* send, void* recv, size_t count, DataType type,
                                      ReduceOp op, Deadline deadline) {
  std::byte* const slot = nextSmallSlot();
  {
    ScopedPhase phase(Phase::kCopy);
    std::memcpy(slot, send, count * dataTypeSize(type));
  }
  KOLO_ASSIGN_OR_RETURN(const int parity, smallRound(0, "small allreduce", deadline));
  // Rank order 0..n-1 on every rank: bit-identical results (f16 / bf16 sums accumulate in f32
  // and round once: reduceMany).
  // This rank's input straight from send when it does not share bytes with recv: its slot's
  // lines may have moved to the peers that read them.
  const size_t bytes = count * dataTypeSize(type);
  const bool direct = !overlaps(send, bytes, recv, bytes);
  inputs_.resize(static_cast<size_t>(size_));
  for (int q = 0; q < size_; ++q) inputs_[q] = q == rank_ && direct ? send : smallData(q, parity);
  reduceMany(type, op, recv, inputs_.data(), size_, count, op == ReduceOp::kAverage ? size_ : 0);
  return Status::ok();
}

Status ShmDirectArena::waitSlotFree(const Chunk& c, const char* op, int64_t index,
                                    Deadline deadline) {
  if (slotFree(c)) return Status::ok();
  return waiter_.waitAll(copied_, c.global + 1 - depth_, deadline,
                         WaitStage{op, index, "finish reading the chunk that used this slot"});
}

// Progress of one pipelined collective: chunks [0, staged) are staged, [0, reduced) reduced
// and [0, copied) copied out by this rank.
struct ShmDirectArena::Pipeline {
  const ShmDirectArena* arena;
  uint64_t first;  // global index of chunk 0
  size_t numChunks;
  size_t staged = 0, reduced = 0, copied = 0;

  bool canStage() const {
    // Staging runs at most depth-1 chunks ahead of our own copy-out, and only into a slot
    // every rank has finished with.
    return staged < numChunks && staged < copied + arena->depth_ - 1 &&
           arena->slotFreeGlobal(first + staged);
  }
  bool canReduce() const {
    return reduced < staged && arena->waiter_.allReached(arena->staged_, first + reduced + 1);
  }
  bool canCopy() const {
    return copied < reduced && arena->waiter_.allReached(arena->reduced_, first + copied + 1);
  }
  static bool anyReady(const void* self) {
    const auto* p = static_cast<const Pipeline*>(self);
    return p->canStage() || p->canReduce() || p->canCopy();
  }
};

Status ShmDirectArena::runPipeline(size_t numChunks, size_t chunkElems, size_t count,
                                   ChunkSteps& steps, const char* op, Deadline deadline) {
  Pipeline p{this, chunks_, numChunks};
  chunks_ += p.numChunks;
  auto chunk = [&](size_t i) {
    size_t firstElem = i * chunkElems;
    return Chunk{p.first + i, (p.first + i) % depth_, firstElem,
                 std::min(chunkElems, count - firstElem)};
  };
  // Whatever step is possible runs, so a rank never idles while it could stage ahead or copy
  // out, and the jitter of one rank is absorbed by up to depth-1 chunks of slack. When nothing
  // is possible, wait for the oldest outstanding dependency (or any other step to open up).
  const WaitEscape escape{&Pipeline::anyReady, &p};
  while (p.copied < p.numChunks) {
    bool progressed = false;
    if (p.canReduce()) {
      if (p.reduced == 0) faultPoint(FaultPhase::kReduceScatter);
      const Chunk c = chunk(p.reduced++);
      {
        // A step that reduces (allreduce, reduce-scatter) counts its kernel as kReduce.
        ScopedPhase phase(Phase::kCopy);
        steps.reduce(c);
      }
      waiter_.publish(mine_.reduced.value, c.global + 1);
      {
        ScopedPhase phase(Phase::kCopy);
        steps.afterReduce(c);
      }
      if (!steps.readsResults()) {
        waiter_.publish(mine_.copied.value, c.global + 1);
        p.copied = p.reduced;
      }
      progressed = true;
    }
    if (p.canStage()) {
      const Chunk c = chunk(p.staged++);
      {
        ScopedPhase phase(Phase::kCopy);
        steps.stage(c);
      }
      waiter_.publish(mine_.staged.value, c.global + 1);
      progressed = true;
    }
    if (p.canCopy()) {
      if (p.copied == 0) faultPoint(FaultPhase::kAllgather);
      const Chunk c = chunk(p.copied++);
      {
        ScopedPhase phase(Phase::kCopy);
        steps.copyOut(c);
      }
      waiter_.publish(mine_.copied.value, c.global + 1);
      progressed = true;
    }
    if (progressed) continue;
    Status st;
    if (p.copied < p.reduced) {
      st = waiter_.waitAll(reduced_, p.first + p.copied + 1, deadline,
                           WaitStage{op, int64_t(p.copied), steps.reduceVerb()}, -1, escape);
    } else if (p.reduced < p.staged) {
      st = waiter_.waitAll(staged_, p.first + p.reduced + 1, deadline,
                           WaitStage{op, int64_t(p.reduced), "stage its data"}, -1, escape);
    } else {
      st = waitSlotFree(chunk(p.staged), op, int64_t(p.staged), deadline);
    }
    if (!st.isOk()) return fail(st);
  }
  if (streamOutput_) finishStreaming();
  streamOutput_ = false;
  return Status::ok();
}

Status ShmDirectArena::broadcast(void* bufferPtr, size_t bytes, int root, Deadline deadline) {
  KOLO_RETURN_IF_ERROR(usable());
  if (root < 0 || root >= size_) {
    return makeStatus(Code::kInvalidArgument, "broadcast root {} is not a rank of a world of {}",
                      root, size_);
  }
  if (size_ == 1 || bytes == 0) return Status::ok();
  auto* buffer = static_cast<std::byte*>(bufferPtr);
  if (bytes <= smallBytes_) return smallBroadcast(buffer, bytes, root, deadline);
  streamOutput_ = rank_ != root && bytes >= streamingMinBytes_;
  const size_t numChunks = (bytes + chunkBytes_ - 1) / chunkBytes_;
  const uint64_t first = chunks_;
  chunks_ += numChunks;
  Status st;
  for (size_t i = 0; st.isOk() && i < numChunks; ++i) {
    const Chunk c{first + i, (first + i) % depth_, i * chunkBytes_,
                  std::min(chunkBytes_, bytes - i * chunkBytes_)};
    const auto index = static_cast<int64_t>(i);
    if (rank_ == root) {
      st = waitSlotFree(c, "broadcast", index, deadline);
      if (!st.isOk()) break;
      {
        ScopedPhase phase(Phase::kCopy);
        std::memcpy(result(c.slot), buffer + c.firstElem, c.elems);
      }
      mine_.staged.value.store(c.global + 1, std::memory_order_relaxed);
      waiter_.publish(mine_.reduced.value, c.global + 1);
    } else {
      st = waiter_.waitAll(reduced_, c.global + 1, deadline,
                           WaitStage{"broadcast", index, "publish its data"}, root);
      if (!st.isOk()) break;
      {
        ScopedPhase phase(Phase::kCopy);
        copyToOutput(buffer + c.firstElem, result(c.slot), c.elems, streamOutput_);
      }
      // Keep this rank's flags in step with the chunk sequence for later collectives.
      mine_.staged.value.store(c.global + 1, std::memory_order_relaxed);
      mine_.reduced.value.store(c.global + 1, std::memory_order_relaxed);
    }
    waiter_.publish(mine_.copied.value, c.global + 1);
  }
  if (!st.isOk()) return fail(st);
  if (streamOutput_) finishStreaming();
  return Status::ok();
}

Status ShmDirectArena::smallBroadcast(std::byte* buffer, size_t bytes, int root,
                                      Deadline deadline) {
  constexpr const char* kOp = "small broadcast";
  // What the readers check: the root and the size (a disagreement fails on every non-root).
  const uint64_t fingerprint = (uint64_t(bytes) << 16) ^ uint64_t(root) ^ (0xb0adca57ULL << 32);
  const uint64_t seq = ++broadcasts_;
  const size_t cell = seq % kBroadcastCells;
  const SegmentLayout& layout = segment_->layout();
  const FlagArray cellSeq{segment_->base() + layout.broadcastCellOffset(0, cell),
                          size_ > 1 ? layout.broadcastCellOffset(1, cell) -
                                          layout.broadcastCellOffset(0, cell)
                                    : 0};
  auto* header = reinterpret_cast<SmallSlotHeader*>(segment_->base() +
                                                    layout.broadcastCellOffset(root, cell));
  std::byte* data = reinterpret_cast<std::byte*>(header) + kSmallSlotDataOffset;
  if (rank_ == root) {
    // The cell last held broadcast seq - kBroadcastCells: every rank must have read it. The
    // readers' counters (their cache lines) are looked at only when what was seen last time
    // does not already show it, so a root whose readers keep up reads them once per few calls.
    if (seq > kBroadcastCells && broadcastsReadSeen_ < seq - kBroadcastCells) {
      Status st = waiter_.waitAll(broadcastsRead_, seq - kBroadcastCells, deadline,
                                  WaitStage{kOp, -1, "read an earlier broadcast"});
      if (!st.isOk()) return fail(st);
      uint64_t least = seq;
      for (int r = 0; r < size_; ++r) {
        least = std::min(least, broadcastsRead_.at(r).load(std::memory_order_acquire));
      }
      broadcastsReadSeen_ = least;
    }
    {
      ScopedPhase phase(Phase::kCopy);
      std::memcpy(data, buffer, bytes);
    }
    header->fingerprint = fingerprint;
    mine_.broadcastsRead.value.store(seq, std::memory_order_relaxed);
    waiter_.publish(cellSeq.at(root), seq);
    return Status::ok();
  }
  Status st =
      waiter_.waitAll(cellSeq, seq, deadline, WaitStage{kOp, -1, "publish its data"}, root);
  if (!st.isOk()) return fail(st);
  if (header->fingerprint != fingerprint) {
    return fail(makeStatus(Code::kMismatch,
                           "broadcast: rank {} passed another root or size than root rank {} "
                           "({} B)",
                           rank_, root, bytes));
  }
  {
    ScopedPhase phase(Phase::kCopy);
    std::memcpy(buffer, data, bytes);
  }
  waiter_.publish(mine_.broadcastsRead.value, seq);
  return Status::ok();
}

Status ShmDirectArena::barrier(Deadline deadline) {
  KOLO_RETURN_IF_ERROR(usable());
  if (size_ == 1) return Status::ok();
  const uint64_t seq = ++barriers_;
  waiter_.publish(mine_.barrier.value, seq);
  Status st = waiter_.waitAll(barrier_, seq, deadline, WaitStage{"barrier", -1, "enter it"});
  if (!st.isOk()) return fail(st);
  return Status::ok();
}

}  // namespace kolo::shm
