// ByteRing: one end of a single-producer/single-consumer byte ring in shared memory.
// Positions are 64-bit monotonic byte counters (never wrap in practice) on separate cache
// lines; the data area is a power of two, so a position maps to an offset with a mask.
// Each end caches its own position (it is the only writer of it) and reads the other end's
// with acquire, so a transfer costs one acquire load, one copy and one release store.
// Thread: the producer end on the sender's thread, the consumer end on the receiver's.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "transport/shm/shm_segment.h"

namespace kolo::shm {

class ByteRing {
 public:
  ByteRing() = default;
  ByteRing(RingHeader* header, std::byte* data, size_t capacity)
      : header_(header), data_(data), capacity_(capacity), mask_(capacity - 1) {}

  // Producer end.
  size_t writable() const {
    return capacity_ - size_t(writePos_ - header_->readPos.load(std::memory_order_acquire));
  }
  // Copies `n` <= writable() bytes in; they become visible at the next publishWrite().
  void write(const void* src, size_t n) {
    copyIn(writePos_, static_cast<const std::byte*>(src), n);
    writePos_ += n;
  }
  void publishWrite() { header_->writePos.store(writePos_, std::memory_order_release); }

  // Consumer end.
  size_t readable() const {
    return size_t(header_->writePos.load(std::memory_order_acquire) - readPos_);
  }
  // Copies `n` <= readable() bytes out (dst == nullptr discards them).
  void read(void* dst, size_t n) {
    if (dst != nullptr) copyOutOf(readPos_, static_cast<std::byte*>(dst), n);
    readPos_ += n;
  }
  void publishRead() { header_->readPos.store(readPos_, std::memory_order_release); }

 private:
  void copyIn(uint64_t pos, const std::byte* src, size_t n) {
    size_t off = size_t(pos) & mask_;
    size_t first = std::min(n, capacity_ - off);
    std::memcpy(data_ + off, src, first);
    if (first < n) std::memcpy(data_, src + first, n - first);
  }
  void copyOutOf(uint64_t pos, std::byte* dst, size_t n) const {
    size_t off = size_t(pos) & mask_;
    size_t first = std::min(n, capacity_ - off);
    std::memcpy(dst, data_ + off, first);
    if (first < n) std::memcpy(dst + first, data_, n - first);
  }

  RingHeader* header_ = nullptr;
  std::byte* data_ = nullptr;
  size_t capacity_ = 0;
  size_t mask_ = 0;
  uint64_t writePos_ = 0;  // producer's own position
  uint64_t readPos_ = 0;   // consumer's own position
};

}  // namespace kolo::shm
