// ShmDirectArena::allreduceSegments: the allreduce's small and pipelined paths (design in
// shm_direct_arena.h) over several buffers taken as one, so the runtime's fused batches reduce
// their tensors where they lie instead of packing them into a fusion buffer and out again.
// Element e of the logical buffer is element e - segmentStarts_[s] of the segment s holding it;
// each step splits its range at the segments' borders and does per piece what the one-buffer
// allreduce does for the whole range.
#include <algorithm>
#include <cstring>

#include "kolo/collectives/phase_clock.h"
#include "kolo/collectives/reduce.h"
#include "transport/shm/shm_copy.h"
#include "transport/shm/shm_direct_arena.h"

namespace kolo::shm {

struct ShmDirectArena::SegmentedAllreduceSteps final : ChunkSteps {
  ShmDirectArena& arena;
  std::span<const Segment> segments;
  const std::vector<size_t>& starts;  // segments.size() + 1 entries; the last is the total
  DataType type;
  ReduceOp op;
  size_t esize;
  SegmentedAllreduceSteps(ShmDirectArena& a, std::span<const Segment> s, DataType t, ReduceOp o)
      : arena(a), segments(s), starts(a.segmentStarts_), type(t), op(o), esize(dataTypeSize(t)) {}

  // Calls fn(segment, element in it, element from `first`, elements) for every piece of
  // [first, first + n) of the logical buffer.
  template <typename Fn>
  void forPieces(size_t first, size_t n, Fn&& fn) const {
    if (n == 0) return;
    size_t s = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), first) -
                                   starts.begin()) - 1;
    for (size_t done = 0; done < n; ++s) {
      const size_t at = first + done;
      const size_t within = at - starts[s];
      const size_t piece = std::min(n - done, starts[s + 1] - at);
      if (piece != 0) fn(segments[s], within, done, piece);
      done += piece;
    }
  }
  // Copies [first, first + n) of the segments' inputs to `dst`.
  void gather(std::byte* dst, size_t first, size_t n) const {
    forPieces(first, n, [&](const Segment& g, size_t within, size_t from, size_t k) {
      std::memcpy(dst + from * esize, static_cast<const std::byte*>(g.send) + within * esize,
                  k * esize);
    });
  }
  // Copies `src` to [first, first + n) of the segments' outputs.
  void scatter(const std::byte* src, size_t first, size_t n) const {
    forPieces(first, n, [&](const Segment& g, size_t within, size_t from, size_t k) {
      copyToOutput(static_cast<std::byte*>(g.recv) + within * esize, src + from * esize,
                   k * esize, arena.streamOutput_);
    });
  }

  void stage(const Chunk& c) override {
    // Our own sub-range is read straight from the segments by us only, so it is not staged.
    const size_t b = arena.partBegin(c.elems, esize, arena.rank_);
    const size_t e = arena.partBegin(c.elems, esize, arena.rank_ + 1);
    std::byte* slot = arena.staging(arena.rank_, c.slot);
    gather(slot, c.firstElem, b);
    gather(slot + e * esize, c.firstElem + e, c.elems - e);
  }
  void reduce(const Chunk& c) override {
    const size_t b = arena.partBegin(c.elems, esize, arena.rank_);
    const size_t n = arena.partBegin(c.elems, esize, arena.rank_ + 1) - b;
    std::vector<const void*>& inputs = arena.inputs_;
    inputs.resize(static_cast<size_t>(arena.size_));
    forPieces(c.firstElem + b, n, [&](const Segment& g, size_t within, size_t from, size_t k) {
      const size_t at = (b + from) * esize;  // within the chunk's slots
      for (int q = 0; q < arena.size_; ++q) {
        inputs[q] = q == arena.rank_ ? static_cast<const std::byte*>(g.send) + within * esize
                                     : arena.staging(q, c.slot) + at;
      }
      reduceMany(type, op, arena.result(c.slot) + at, inputs.data(), arena.size_, k,
                 op == ReduceOp::kAverage ? arena.size_ : 0);
    });
  }
  void afterReduce(const Chunk& c) override {
    const size_t b = arena.partBegin(c.elems, esize, arena.rank_);
    const size_t e = arena.partBegin(c.elems, esize, arena.rank_ + 1);
    scatter(arena.result(c.slot) + b * esize, c.firstElem + b, e - b);
  }
  void copyOut(const Chunk& c) override {
    const size_t b = arena.partBegin(c.elems, esize, arena.rank_);
    const size_t e = arena.partBegin(c.elems, esize, arena.rank_ + 1);
    const std::byte* slot = arena.result(c.slot);
    scatter(slot, c.firstElem, b);
    scatter(slot + e * esize, c.firstElem + e, c.elems - e);
  }
};

Status ShmDirectArena::allreduceSegments(std::span<const Segment> segments, DataType type,
                                         ReduceOp op, Deadline deadline) {
  KOLO_RETURN_IF_ERROR(usable());
  const size_t esize = dataTypeSize(type);
  segmentStarts_.assign(1, 0);
  bool inPlace = true;
  for (const Segment& g : segments) {
    segmentStarts_.push_back(segmentStarts_.back() + g.count);
    inPlace = inPlace && (g.send == g.recv || g.count == 0);
  }
  const size_t count = segmentStarts_.back();
  SegmentedAllreduceSteps steps(*this, segments, type, op);
  if (size_ == 1 || count == 0) {
    for (const Segment& g : segments) {
      if (g.send != g.recv && g.count != 0) std::memcpy(g.recv, g.send, g.count * esize);
    }
    return Status::ok();
  }
  if (count * esize <= smallBytes_) {
    std::byte* const slot = nextSmallSlot();
    {
      ScopedPhase phase(Phase::kCopy);
      steps.gather(slot, 0, count);
    }
    KOLO_ASSIGN_OR_RETURN(const int parity, smallRound(0, "small allreduce", deadline));
    // Rank order 0..n-1 on every rank, piece by piece: bit-identical results.
    inputs_.resize(static_cast<size_t>(size_));
    steps.forPieces(0, count, [&](const Segment& g, size_t within, size_t from, size_t k) {
      for (int q = 0; q < size_; ++q) inputs_[q] = smallData(q, parity) + from * esize;
      reduceMany(type, op, static_cast<std::byte*>(g.recv) + within * esize, inputs_.data(),
                 size_, k, op == ReduceOp::kAverage ? size_ : 0);
    });
    return Status::ok();
  }
  const size_t chunkElems = chunkBytes_ / esize;
  streamOutput_ = !inPlace && count * esize >= streamingMinBytes_;
  return runPipeline((count + chunkElems - 1) / chunkElems, chunkElems, count, steps, "allreduce",
                     deadline);
}

}  // namespace kolo::shm
