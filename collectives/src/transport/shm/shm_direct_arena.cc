#include "transport/shm/shm_direct_arena.h"

#include <algorithm>
#include <cstring>

#include "kolo/base/fault_injection.h"
#include "kolo/collectives/reduce.h"
#include "transport/shm/shm_copy.h"

namespace kolo::shm {
namespace {

// Outputs of at least this size are written with streaming stores when they were not just
// read: beyond the last-level cache (32 MiB here) their lines would come from DRAM.
constexpr size_t kStreamingBytes = size_t(32) << 20;

}  // namespace

ShmDirectArena::ShmDirectArena(std::shared_ptr<ShmSegment> segment, int rank, int size)
    : segment_(std::move(segment)),
      rank_(rank),
      size_(size),
      smallBytes_(segment_->layout().params().smallBytes),
      chunkBytes_(segment_->layout().params().chunkBytes),
      depth_(segment_->layout().params().pipelineDepth),
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
  if (!broken_.isOk()) return broken_;
  const size_t bytes = count * dataTypeSize(type);
  if (size_ == 1 || bytes == 0) {
    // x / 1 == x for every type, so kAverage needs no division either.
    if (send != recv && bytes != 0) std::memcpy(recv, send, bytes);
    return Status::ok();
  }
  if (bytes <= smallBytes_) return smallAllreduce(send, recv, count, type, op, deadline);
  return largeAllreduce(send, recv, count, type, op, deadline);
}

Status ShmDirectArena::smallAllreduce(const void* send, void* recv, size_t count, DataType type,
                                      ReduceOp op, Deadline deadline) {
  const uint64_t seq = ++smallOps_;
  const int parity = static_cast<int>(seq & 1);
  std::memcpy(smallData(rank_, parity), send, count * dataTypeSize(type));
  faultPoint(FaultPhase::kReduceScatter);
  waiter_.publish(smallSeq_[parity].at(rank_), seq);
  Status st = waiter_.waitAll(smallSeq_[parity], seq, deadline,
                              WaitStage{"small allreduce", -1, "contribute its data"});
  if (!st.isOk()) return fail(st);
  faultPoint(FaultPhase::kAllgather);
  // Rank order 0..n-1 on every rank: bit-identical results (f16 / bf16 sums accumulate in f32
  // and round once: reduceMany).
  inputs_.resize(static_cast<size_t>(size_));
  for (int q = 0; q < size_; ++q) inputs_[q] = smallData(q, parity);
  reduceMany(type, op, recv, inputs_.data(), size_, count, op == ReduceOp::kAverage ? size_ : 0);
  return Status::ok();
}

Status ShmDirectArena::waitSlotFree(const Chunk& c, const char* op, int64_t index,
                                    Deadline deadline) {
  if (slotFree(c)) return Status::ok();
  return waiter_.waitAll(copied_, c.global + 1 - depth_, deadline,
                         WaitStage{op, index, "finish reading the chunk that used this slot"});
}

void ShmDirectArena::stageChunk(const std::byte* send, const Chunk& c, size_t esize) {
  // Our own sub-range is read straight from `send` by us only, so it is not staged.
  const size_t b = partBegin(c.elems, esize, rank_);
  const size_t e = partBegin(c.elems, esize, rank_ + 1);
  std::byte* slot = staging(rank_, c.slot);
  const std::byte* in = send + c.firstElem * esize;
  if (b > 0) std::memcpy(slot, in, b * esize);
  if (e < c.elems) std::memcpy(slot + e * esize, in + e * esize, (c.elems - e) * esize);
  waiter_.publish(mine_.staged.value, c.global + 1);
}

void ShmDirectArena::reduceChunk(const std::byte* send, std::byte* recv, const Chunk& c,
                                 DataType type, ReduceOp op) {
  const size_t esize = dataTypeSize(type);
  const size_t b = partBegin(c.elems, esize, rank_);
  const size_t e = partBegin(c.elems, esize, rank_ + 1);
  const size_t n = e - b;
  std::byte* dst = result(c.slot) + b * esize;
  if (n > 0) {
    // Rank order, all inputs at once (f16 / bf16 sums round once: reduceMany).
    inputs_.resize(static_cast<size_t>(size_));
    for (int q = 0; q < size_; ++q) {
      inputs_[q] = q == rank_ ? send + (c.firstElem + b) * esize : staging(q, c.slot) + b * esize;
    }
    reduceMany(type, op, dst, inputs_.data(), size_, n, op == ReduceOp::kAverage ? size_ : 0);
  }
  waiter_.publish(mine_.reduced.value, c.global + 1);
  if (n > 0) copyToOutput(recv + (c.firstElem + b) * esize, dst, n * esize, streamOutput_);
}

void ShmDirectArena::copyOutChunk(std::byte* recv, const Chunk& c, size_t esize) {
  const size_t b = partBegin(c.elems, esize, rank_);
  const size_t e = partBegin(c.elems, esize, rank_ + 1);
  const std::byte* slot = result(c.slot);
  std::byte* out = recv + c.firstElem * esize;
  if (b > 0) copyToOutput(out, slot, b * esize, streamOutput_);
  if (e < c.elems) {
    copyToOutput(out + e * esize, slot + e * esize, (c.elems - e) * esize, streamOutput_);
  }
  waiter_.publish(mine_.copied.value, c.global + 1);
}

// Progress of one pipelined allreduce: chunks [0, staged) are staged, [0, reduced) reduced and
// [0, copied) copied out by this rank.
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

Status ShmDirectArena::largeAllreduce(const void* sendPtr, void* recvPtr, size_t count,
                                      DataType type, ReduceOp op, Deadline deadline) {
  const auto* send = static_cast<const std::byte*>(sendPtr);
  auto* recv = static_cast<std::byte*>(recvPtr);
  const size_t esize = dataTypeSize(type);
  const size_t chunkElems = chunkBytes_ / esize;
  Pipeline p{this, chunks_, (count + chunkElems - 1) / chunkElems};
  // In place, the output lines were just read (staged or reduced) and are cached.
  streamOutput_ = send != recv && count * esize >= kStreamingBytes;
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
      reduceChunk(send, recv, chunk(p.reduced++), type, op);
      progressed = true;
    }
    if (p.canStage()) {
      stageChunk(send, chunk(p.staged++), esize);
      progressed = true;
    }
    if (p.canCopy()) {
      if (p.copied == 0) faultPoint(FaultPhase::kAllgather);
      copyOutChunk(recv, chunk(p.copied++), esize);
      progressed = true;
    }
    if (progressed) continue;
    Status st;
    if (p.copied < p.reduced) {
      st = waiter_.waitAll(reduced_, p.first + p.copied + 1, deadline,
                           WaitStage{"allreduce", int64_t(p.copied), "reduce its sub-range"}, -1,
                           escape);
    } else if (p.reduced < p.staged) {
      st =
          waiter_.waitAll(staged_, p.first + p.reduced + 1, deadline,
                          WaitStage{"allreduce", int64_t(p.reduced), "stage its data"}, -1, escape);
    } else {
      st = waitSlotFree(chunk(p.staged), "allreduce", int64_t(p.staged), deadline);
    }
    if (!st.isOk()) return fail(st);
  }
  if (streamOutput_) finishStreaming();
  return Status::ok();
}

Status ShmDirectArena::broadcast(void* bufferPtr, size_t bytes, int root, Deadline deadline) {
  if (!broken_.isOk()) return broken_;
  if (root < 0 || root >= size_) {
    return makeStatus(Code::kInvalidArgument, "broadcast root {} is not a rank of a world of {}",
                      root, size_);
  }
  if (size_ == 1 || bytes == 0) return Status::ok();
  auto* buffer = static_cast<std::byte*>(bufferPtr);
  streamOutput_ = rank_ != root && bytes >= kStreamingBytes;
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
      std::memcpy(result(c.slot), buffer + c.firstElem, c.elems);
      mine_.staged.value.store(c.global + 1, std::memory_order_relaxed);
      waiter_.publish(mine_.reduced.value, c.global + 1);
    } else {
      st = waiter_.waitAll(reduced_, c.global + 1, deadline,
                           WaitStage{"broadcast", index, "publish its data"}, root);
      if (!st.isOk()) break;
      copyToOutput(buffer + c.firstElem, result(c.slot), c.elems, streamOutput_);
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

Status ShmDirectArena::barrier(Deadline deadline) {
  if (!broken_.isOk()) return broken_;
  if (size_ == 1) return Status::ok();
  const uint64_t seq = ++barriers_;
  waiter_.publish(mine_.barrier.value, seq);
  Status st = waiter_.waitAll(barrier_, seq, deadline, WaitStage{"barrier", -1, "enter it"});
  if (!st.isOk()) return fail(st);
  return Status::ok();
}

}  // namespace kolo::shm
