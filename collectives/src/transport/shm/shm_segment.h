// ShmSegment: the one POSIX shared-memory segment a same-host world maps, and its layout.
// Every rank maps the same bytes at (possibly) different addresses, so the layout is a set of
// offsets computed identically everywhere from (world size, ring bytes, arena sizes).
//
//   header | control block per rank | ring per ordered pair (i -> j) | arena bell |
//   small slots (rank x 2 parity sets) | broadcast cells (rank x kBroadcastCells) |
//   staging slots (rank x K) | result slots (K)
//
// Flags a rank writes sit on their own cache lines so a writer never invalidates the line a
// peer spins on for another flag.
// Thread: any; the mapping is immutable after construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kolo/base/status.h"
#include "kolo/collectives/doorbell.h"

namespace kolo::shm {

inline constexpr size_t kCacheLine = 64;
inline constexpr uint64_t kSegmentMagic = 0x4b4f4c4f53484d31ULL;  // "KOLOSHM1"

struct alignas(kCacheLine) PaddedCounter {
  std::atomic<uint64_t> value{0};
};

// One per rank. Each flag is a monotonic counter of what this rank finished.
struct alignas(kCacheLine) RankControl {
  std::atomic<int32_t> pid{0};
  alignas(kCacheLine) DoorbellWords transportBell;  // rung by peers writing to / reading from us
  PaddedCounter staged;                             // pipelined chunks whose input this rank staged
  PaddedCounter reduced;  // pipelined chunks whose sub-range this rank reduced (or published)
  PaddedCounter copied;   // pipelined chunks this rank finished reading out of the result slot
  PaddedCounter barrier;  // barriers entered
  PaddedCounter broadcastsRead;  // small broadcasts this rank finished (read, or wrote as root)
};

// The futex word every arena waiter parks on. Publishers only wake when sleepers != 0.
struct alignas(kCacheLine) ArenaBell {
  std::atomic<uint32_t> epoch{0};
  std::atomic<uint32_t> sleepers{0};
};

struct alignas(kCacheLine) RingHeader {
  std::atomic<uint64_t> writePos{0};  // bytes ever written; only the sender stores it
  alignas(kCacheLine) std::atomic<uint64_t> readPos{0};  // bytes ever read; only the receiver
  // Set by a sender that found the ring full (on the receiver's line, which the receiver reads
  // anyway when it publishes a read): only then does a read ring the sender's doorbell.
  std::atomic<uint32_t> writerWaiting{0};
};

// A small-allreduce slot: the sequence word shares the first cache line with the data, so a
// peer that sees the sequence usually has the first bytes of data in the same transfer.
// The word after it carries the round's fingerprint (the collective's arguments, hashed), so
// ranks that disagree on counts, dtype or op find out in the same round.
struct SmallSlotHeader {
  std::atomic<uint64_t> seq{0};
  uint64_t fingerprint = 0;
};
inline constexpr size_t kSmallSlotDataOffset = 16;
// Small broadcasts rotate through this many cells per root (laid out as small slots), so a root
// may run that many broadcasts minus one ahead of its slowest reader.
inline constexpr size_t kBroadcastCells = 4;

struct SegmentParams {
  int size = 1;
  size_t ringBytes = 256 << 10;   // per ordered pair; a power of two
  size_t smallBytes = 64 << 10;   // small-allreduce payload per slot
  size_t chunkBytes = 256 << 10;  // pipelined chunk; a multiple of 64
  size_t pipelineDepth = 4;       // staging slots per rank (K)
};

struct SegmentHeader {
  uint64_t magic;
  uint64_t totalBytes;
  int32_t size;
  uint32_t pipelineDepth;
  uint64_t ringBytes;
  uint64_t smallBytes;
  uint64_t chunkBytes;
};

class SegmentLayout {
 public:
  explicit SegmentLayout(const SegmentParams& p);
  const SegmentParams& params() const { return params_; }
  size_t totalBytes() const { return total_; }
  size_t controlOffset(int rank) const { return control_ + size_t(rank) * sizeof(RankControl); }
  size_t ringOffset(int from, int to) const {
    return rings_ + (size_t(from) * size_t(params_.size) + size_t(to)) * ringStride_;
  }
  size_t ringDataOffset(int from, int to) const {
    return ringOffset(from, to) + sizeof(RingHeader);
  }
  size_t bellOffset() const { return bell_; }
  size_t smallSlotOffset(int rank, int parity) const {
    return small_ + (size_t(rank) * 2 + size_t(parity)) * smallStride_;
  }
  size_t broadcastCellOffset(int rank, size_t cell) const {
    return cells_ + (size_t(rank) * kBroadcastCells + cell) * smallStride_;
  }
  size_t stagingOffset(int rank, size_t slot) const {
    return staging_ + (size_t(rank) * params_.pipelineDepth + slot) * params_.chunkBytes;
  }
  size_t resultOffset(size_t slot) const { return result_ + slot * params_.chunkBytes; }

 private:
  SegmentParams params_;
  size_t control_ = 0, rings_ = 0, ringStride_ = 0, bell_ = 0, small_ = 0, smallStride_ = 0;
  size_t cells_ = 0;
  size_t staging_ = 0, result_ = 0, total_ = 0;
};

// Owns a mapping (munmap on destruction). Shared by the transport and the arena.
class ShmSegment {
 public:
  // Rank 0: creates `name` (O_EXCL; an existing stale one is unlinked and replaced), sizes and
  // maps it and initializes the header and control blocks.
  static Expected<std::shared_ptr<ShmSegment>> create(const std::string& name,
                                                      const SegmentParams& params);
  // Other ranks: opens and maps `name`, checks the header against `params`.
  static Expected<std::shared_ptr<ShmSegment>> open(const std::string& name,
                                                    const SegmentParams& params);
  static Status unlink(const std::string& name);

  ~ShmSegment();
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  const SegmentLayout& layout() const { return layout_; }
  std::byte* base() const { return base_; }
  template <typename T>
  T* at(size_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }
  RankControl& control(int rank) const { return *at<RankControl>(layout_.controlOffset(rank)); }

 private:
  ShmSegment(std::byte* base, SegmentLayout layout) : base_(base), layout_(layout) {}
  std::byte* base_;
  SegmentLayout layout_;
};

}  // namespace kolo::shm
