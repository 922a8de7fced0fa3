// ShmDirectArena's reduce-scatter, allgather(v) and alltoall(v) (the design is in
// shm_direct_arena.h). Each starts with one small-slot round that checks the ranks agree and,
// when every rank's data fits the small slot, carries it; larger ones pipeline chunks through
// the staging slots with runPipeline, every rank reading its pieces from all peers at once.
#include <algorithm>
#include <cstring>
#include <functional>
#include <numeric>
#include <vector>

#include "kolo/collectives/phase_clock.h"
#include "kolo/collectives/reduce.h"
#include "transport/shm/shm_copy.h"
#include "transport/shm/shm_direct_arena.h"

namespace kolo::shm {
namespace {

static_assert(sizeof(size_t) == sizeof(uint64_t), "alltoallv publishes its sizes as u64");

// The arguments every rank must agree on, hashed (FNV-1a over 64-bit words).
uint64_t fingerprint(uint64_t what, DataType type, ReduceOp op, std::span<const size_t> counts) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 0x100000001b3ULL; };
  mix(what);
  mix(static_cast<uint64_t>(type));
  mix(static_cast<uint64_t>(op));
  for (size_t c : counts) mix(c);
  return h;
}

// Prefix sums of counts into `offset` (counts.size() + 1 entries): the arena's scratch vectors,
// so a small collective allocates nothing once they have grown.
std::span<const size_t> offsetsInto(std::span<const size_t> counts, std::vector<size_t>& offset) {
  offset.assign(counts.size() + 1, 0);
  std::partial_sum(counts.begin(), counts.end(), offset.begin() + 1);
  return offset;
}

// [i * unit, ...) of a block of `count`, at most `unit` long: chunk i's piece of it.
size_t pieceOf(size_t count, size_t unit, size_t i) {
  const size_t first = i * unit;
  return count > first ? std::min(unit, count - first) : 0;
}

size_t chunksFor(size_t largest, size_t unit) {
  return (largest + unit - 1) / unit;
}

// Copies [0, total) of src into dst at the same offsets, leaving out [skipBegin, skipEnd): the
// block this rank keeps for itself, which it reads straight from its input.
void copyAllBut(std::byte* dst, const std::byte* src, size_t total, size_t skipBegin,
                size_t skipEnd) {
  if (skipBegin != 0) std::memcpy(dst, src, skipBegin);
  if (total > skipEnd) std::memcpy(dst + skipEnd, src + skipEnd, total - skipEnd);
}

// n pieces of `pieceBytes` must fit one staging slot; the same answer on every rank.
Status checkPiecesFit(const char* op, int n, size_t pieceBytes, size_t slotBytes) {
  if (size_t(n) * pieceBytes <= slotBytes) return Status::ok();
  return makeStatus(Code::kUnavailable,
                    "{} (shm): {} ranks need staging slots of at least {} B, not {} B "
                    "(KOLO_SHM_CHUNK_BYTES)",
                    op, n, size_t(n) * pieceBytes, slotBytes);
}

}  // namespace

// ---- reduce-scatter: rank p reduces block p; chunk i holds piece i of every block ----------

struct ShmDirectArena::ReduceScatterSteps final : ChunkSteps {
  explicit ReduceScatterSteps(ShmDirectArena& a) : arena(a) {}
  ShmDirectArena& arena;
  const std::byte* send = nullptr;
  std::byte* recv = nullptr;
  DataType type = DataType::kUInt8;
  ReduceOp op = ReduceOp::kSum;
  std::span<const size_t> counts;
  std::span<const size_t> offset;
  size_t unit = 0;  // elements of one block in one chunk
  void stage(const Chunk& c) override {
    const size_t esize = dataTypeSize(type);
    std::byte* slot = arena.staging(arena.rank_, c.slot);
    for (int p = 0; p < arena.size_; ++p) {
      const size_t n = pieceOf(counts[p], unit, c.firstElem);
      if (p == arena.rank_ || n == 0) continue;
      std::memcpy(slot + p * unit * esize, send + (offset[p] + c.firstElem * unit) * esize,
                  n * esize);
    }
  }
  void reduce(const Chunk& c) override {
    const int r = arena.rank_;
    const size_t esize = dataTypeSize(type);
    const size_t n = pieceOf(counts[r], unit, c.firstElem);
    if (n == 0) return;
    std::vector<const void*>& inputs = arena.inputs_;
    inputs.resize(static_cast<size_t>(arena.size_));
    for (int q = 0; q < arena.size_; ++q) {
      inputs[q] = q == r ? send + (offset[r] + c.firstElem * unit) * esize
                         : arena.staging(q, c.slot) + r * unit * esize;
    }
    // Rank order on the owner only: the allreduce's kernels (f16 / bf16 sums round once).
    reduceMany(type, op, recv + c.firstElem * unit * esize, inputs.data(), arena.size_, n,
               op == ReduceOp::kAverage ? arena.size_ : 0);
  }
  const char* reduceVerb() const override { return "reduce its block"; }
  bool readsResults() const override { return false; }
};

Status ShmDirectArena::reduceScatter(const void* send, void* recv, std::span<const size_t> counts,
                                     DataType type, ReduceOp op, Deadline deadline) {
  constexpr const char* kOp = "reducescatter";
  KOLO_RETURN_IF_ERROR(usable());
  const size_t esize = dataTypeSize(type);
  const std::span<const size_t> offset = offsetsInto(counts, offsets_[0]);
  const size_t total = offset.back();
  if (size_ == 1) {
    if (send != recv && total != 0) std::memmove(recv, send, total * esize);
    return Status::ok();
  }
  const bool small = total * esize <= smallBytes_;
  // This rank's own block is reduced straight from send, unless recv shares bytes with it.
  const auto* in = static_cast<const std::byte*>(send);
  const bool direct = !overlaps(send, total * esize, recv, counts[rank_] * esize);
  if (small && total != 0) {
    std::byte* const slot = nextSmallSlot();
    ScopedPhase phase(Phase::kCopy);
    if (direct) {
      copyAllBut(slot, in, total * esize, offset[rank_] * esize, offset[rank_ + 1] * esize);
    } else {
      std::memcpy(slot, in, total * esize);
    }
  }
  KOLO_ASSIGN_OR_RETURN(const int parity,
                        smallRound(fingerprint(1, type, op, counts), kOp, deadline));
  KOLO_RETURN_IF_ERROR(checkFingerprints(parity, kOp, "counts, dtype or op"));
  if (!small) return largeReduceScatter(send, recv, counts, type, op, deadline);
  const size_t n = counts[rank_];
  if (n == 0) return Status::ok();
  inputs_.resize(static_cast<size_t>(size_));
  for (int q = 0; q < size_; ++q) {
    inputs_[q] = (q == rank_ && direct ? in : smallData(q, parity)) + offset[rank_] * esize;
  }
  reduceMany(type, op, recv, inputs_.data(), size_, n, op == ReduceOp::kAverage ? size_ : 0);
  return Status::ok();
}

Status ShmDirectArena::largeReduceScatter(const void* send, void* recv,
                                          std::span<const size_t> counts, DataType type,
                                          ReduceOp op, Deadline deadline) {
  const size_t esize = dataTypeSize(type);
  ReduceScatterSteps steps(*this);
  steps.send = static_cast<const std::byte*>(send);
  steps.recv = static_cast<std::byte*>(recv);
  steps.type = type;
  steps.op = op;
  steps.counts = counts;
  steps.offset = offsetsInto(counts, offsets_[0]);
  // Output written while the input is still being staged: work from a copy if they share bytes.
  std::vector<std::byte> saved;
  const size_t total = steps.offset.back();
  if (overlaps(send, total * esize, recv, counts[rank_] * esize)) {
    const auto* in = static_cast<const std::byte*>(send);
    saved.assign(in, in + total * esize);
    steps.send = saved.data();
  }
  // n pieces per staging slot, on cache-line borders so two ranks never write one line.
  const size_t line = std::max<size_t>(1, kCacheLine / esize);
  steps.unit = std::max(line, chunkBytes_ / size_t(size_) / esize / line * line);
  KOLO_RETURN_IF_ERROR(checkPiecesFit("reducescatter", size_, steps.unit * esize, chunkBytes_));
  streamOutput_ = false;
  const size_t largest = *std::max_element(counts.begin(), counts.end());
  const size_t numChunks = chunksFor(largest, steps.unit);
  return runPipeline(numChunks, 1, numChunks, steps, "reducescatter", deadline);
}

// ---- allgather(v): chunk i holds piece i of every rank's block ----------------------------

struct ShmDirectArena::AllgatherSteps final : ChunkSteps {
  explicit AllgatherSteps(ShmDirectArena& a) : arena(a) {}
  ShmDirectArena& arena;
  const std::byte* send = nullptr;
  std::byte* recv = nullptr;
  std::span<const size_t> bytes;
  std::span<const size_t> offset;
  size_t unit = 0;
  void stage(const Chunk& c) override {
    const size_t n = pieceOf(bytes[arena.rank_], unit, c.firstElem);
    if (n != 0) std::memcpy(arena.staging(arena.rank_, c.slot), send + c.firstElem * unit, n);
  }
  void reduce(const Chunk& c) override {
    const int r = arena.rank_;
    for (int i = 0; i < arena.size_; ++i) {
      const int q = (r + i) % arena.size_;  // peers start at different ranks' slots
      const size_t n = pieceOf(bytes[q], unit, c.firstElem);
      std::byte* out = recv + offset[q] + c.firstElem * unit;
      const std::byte* in = q == r ? send + c.firstElem * unit : arena.staging(q, c.slot);
      if (n != 0 && out != in) copyToOutput(out, in, n, arena.streamOutput_);
    }
  }
  const char* reduceVerb() const override { return "read its blocks"; }
  bool readsResults() const override { return false; }
};

Status ShmDirectArena::allgatherv(const void* sendPtr, void* recvPtr, std::span<const size_t> bytes,
                                  Deadline deadline) {
  constexpr const char* kOp = "allgatherv";
  KOLO_RETURN_IF_ERROR(usable());
  const auto* send = static_cast<const std::byte*>(sendPtr);
  auto* recv = static_cast<std::byte*>(recvPtr);
  const std::span<const size_t> offset = offsetsInto(bytes, offsets_[0]);
  std::byte* own = recv + offset[rank_];
  const size_t mine = bytes[rank_];
  if (size_ == 1) {
    if (send != own && mine != 0) std::memmove(own, send, mine);
    return Status::ok();
  }
  const size_t largest = *std::max_element(bytes.begin(), bytes.end());
  const bool small = largest <= smallBytes_;
  if (small && mine != 0) {
    std::byte* const slot = nextSmallSlot();
    ScopedPhase phase(Phase::kCopy);
    std::memcpy(slot, send, mine);
  }
  KOLO_ASSIGN_OR_RETURN(
      const int parity,
      smallRound(fingerprint(2, DataType::kUInt8, ReduceOp::kSum, bytes), kOp, deadline));
  KOLO_RETURN_IF_ERROR(checkFingerprints(parity, kOp, "block sizes"));
  if (small) {
    ScopedPhase phase(Phase::kCopy);
    // This rank's block first, from its send buffer (still in this core's cache; memmove: it
    // may overlap), then the others' from their slots: right whatever send and recv share,
    // since send is read before any other block lands in recv.
    if (mine != 0 && send != own) std::memmove(own, send, mine);
    for (int q = 0; q < size_; ++q) {
      if (bytes[q] != 0 && q != rank_)
        std::memcpy(recv + offset[q], smallData(q, parity), bytes[q]);
    }
    return Status::ok();
  }
  AllgatherSteps steps(*this);
  steps.send = send;
  steps.recv = recv;
  steps.bytes = bytes;
  steps.offset = offset;
  steps.unit = chunkBytes_;
  std::vector<std::byte> saved;
  if (send != own && overlaps(send, mine, recv, offset.back())) {
    saved.assign(send, send + mine);
    steps.send = saved.data();
  }
  streamOutput_ = offset.back() >= streamingMinBytes_;
  const size_t numChunks = chunksFor(largest, steps.unit);
  return runPipeline(numChunks, 1, numChunks, steps, kOp, deadline);
}

// ---- alltoall(v): chunk i holds piece i of every block; rank q's slot keeps p's at p * unit --

struct ShmDirectArena::AlltoallSteps final : ChunkSteps {
  explicit AlltoallSteps(ShmDirectArena& a) : arena(a) {}
  ShmDirectArena& arena;
  const std::byte* send = nullptr;
  std::byte* recv = nullptr;
  std::span<const size_t> sendBytes, recvBytes;
  std::span<const size_t> sendOffset, recvOffset;
  size_t unit = 0;
  void stage(const Chunk& c) override {
    std::byte* slot = arena.staging(arena.rank_, c.slot);
    for (int p = 0; p < arena.size_; ++p) {
      const size_t n = pieceOf(sendBytes[p], unit, c.firstElem);
      if (p == arena.rank_ || n == 0) continue;
      std::memcpy(slot + p * unit, send + sendOffset[p] + c.firstElem * unit, n);
    }
  }
  void reduce(const Chunk& c) override {
    const int r = arena.rank_;
    for (int i = 0; i < arena.size_; ++i) {
      const int q = (r + i) % arena.size_;
      const size_t n = pieceOf(recvBytes[q], unit, c.firstElem);
      if (n == 0) continue;
      const std::byte* in =
          q == r ? send + sendOffset[r] + c.firstElem * unit : arena.staging(q, c.slot) + r * unit;
      copyToOutput(recv + recvOffset[q] + c.firstElem * unit, in, n, arena.streamOutput_);
    }
  }
  const char* reduceVerb() const override { return "read its blocks"; }
  bool readsResults() const override { return false; }
};

Status ShmDirectArena::alltoallSizesAgree(int parity) const {
  const size_t n = static_cast<size_t>(size_);
  auto sizes = [&](int q) { return reinterpret_cast<const size_t*>(smallData(q, parity)); };
  for (int q = 0; q < size_; ++q) {
    for (int p = 0; p < size_; ++p) {
      const size_t sent = sizes(q)[p];
      const size_t expected = sizes(p)[n + size_t(q)];
      if (sent != expected) {
        return makeStatus(Code::kMismatch,
                          "alltoallv: rank {} sends {} B to rank {}, which expects {} B from it", q,
                          sent, p, expected);
      }
    }
  }
  return Status::ok();
}

Status ShmDirectArena::alltoallv(const void* sendPtr, std::span<const size_t> sendBytes,
                                 void* recvPtr, std::span<const size_t> recvBytes,
                                 Deadline deadline) {
  constexpr const char* kOp = "alltoallv";
  KOLO_RETURN_IF_ERROR(usable());
  const auto* send = static_cast<const std::byte*>(sendPtr);
  auto* recv = static_cast<std::byte*>(recvPtr);
  const size_t n = static_cast<size_t>(size_);
  const std::span<const size_t> sendOffset = offsetsInto(sendBytes, offsets_[0]);
  const std::span<const size_t> recvOffset = offsetsInto(recvBytes, offsets_[1]);
  if (size_ == 1) {
    if (sendBytes[0] != 0 && send != recv) std::memmove(recv, send, sendBytes[0]);
    return Status::ok();
  }
  // The slot holds this rank's send sizes, its receive sizes, then its data if it fits; the
  // fingerprint word says whether it did.
  const size_t header = 2 * n * sizeof(size_t);
  KOLO_RETURN_IF_ERROR(checkPiecesFit(kOp, size_, 2 * sizeof(size_t), smallBytes_));
  const size_t sendTotal = sendOffset.back();
  const bool fits = header + sendTotal <= smallBytes_;
  std::byte* const slot = nextSmallSlot();
  // Every block but the own one, at its place in send's layout; the own block is copied
  // straight to recv, unless send and recv share bytes.
  const bool direct = !overlaps(send, sendTotal, recv, recvOffset.back());
  {
    ScopedPhase phase(Phase::kCopy);
    std::memcpy(slot, sendBytes.data(), n * sizeof(size_t));
    std::memcpy(slot + n * sizeof(size_t), recvBytes.data(), n * sizeof(size_t));
    if (fits && direct) {
      copyAllBut(slot + header, send, sendTotal, sendOffset[rank_], sendOffset[rank_ + 1]);
    } else if (fits && sendTotal != 0) {
      std::memcpy(slot + header, send, sendTotal);
    }
  }
  KOLO_ASSIGN_OR_RETURN(const int parity, smallRound(fits ? 1 : 0, kOp, deadline));
  KOLO_RETURN_IF_ERROR(alltoallSizesAgree(parity));
  bool allFit = true;
  size_t largest = 0;  // the largest block, from the published sizes: the same on every rank
  for (int q = 0; q < size_; ++q) {
    allFit = allFit && smallFingerprint(q, parity) == 1;
    const auto* sizes = reinterpret_cast<const size_t*>(smallData(q, parity));
    for (int p = 0; p < size_; ++p) largest = std::max(largest, sizes[p]);
  }
  if (allFit) {
    ScopedPhase copyOut(Phase::kCopy);
    for (int q = 0; q < size_; ++q) {
      if (recvBytes[q] == 0) continue;
      if (q == rank_ && direct) {
        std::memcpy(recv + recvOffset[q], send + sendOffset[q], recvBytes[q]);
        continue;
      }
      const auto* sizes = reinterpret_cast<const size_t*>(smallData(q, parity));
      const size_t at = std::accumulate(sizes, sizes + rank_, size_t{0});
      std::memcpy(recv + recvOffset[q], smallData(q, parity) + header + at, recvBytes[q]);
    }
    return Status::ok();
  }
  AlltoallSteps steps(*this);
  steps.send = send;
  steps.recv = recv;
  steps.sendBytes = sendBytes;
  steps.recvBytes = recvBytes;
  steps.sendOffset = sendOffset;
  steps.recvOffset = recvOffset;
  steps.unit = std::max(kCacheLine, chunkBytes_ / n / kCacheLine * kCacheLine);
  KOLO_RETURN_IF_ERROR(checkPiecesFit(kOp, size_, steps.unit, chunkBytes_));
  std::vector<std::byte> saved;
  if (overlaps(send, sendTotal, recv, recvOffset.back())) {
    saved.assign(send, send + sendTotal);
    steps.send = saved.data();
  }
  streamOutput_ = recvOffset.back() >= streamingMinBytes_;
  const size_t numChunks = chunksFor(largest, steps.unit);
  return runPipeline(numChunks, 1, numChunks, steps, kOp, deadline);
}

}  // namespace kolo::shm
