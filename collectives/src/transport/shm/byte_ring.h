// ByteRing: one end of a single-producer/single-consumer byte ring in shared memory.
// Positions are 64-bit monotonic byte counters (never wrap in practice) on separate cache
// lines; the data area is a power of two, so a position maps to an offset with a mask.
// Each end caches its own position (it is the only writer of it). The consumer reads the
// producer's with acquire; the producer reads the consumer's only when the space it last saw
// runs low (the consumer's line then stays in the consumer's cache), so a transfer costs one
// acquire load, one copy and one release store. A producer that finds the ring full raises
// writerWaiting before it looks again; a consumer that frees space wakes it only then.
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

  // Producer end. The space known free: refreshed from the consumer's position only when it
  // is below a quarter of the ring.
  size_t writable() {
    size_t space = capacity_ - size_t(writePos_ - seenReadPos_);
    if (space < capacity_ / 4) {
      seenReadPos_ = header_->readPos.load(std::memory_order_acquire);
      space = capacity_ - size_t(writePos_ - seenReadPos_);
    }
    return space;
  }
  // The ring was full for what waits to be written: raises writerWaiting, then looks again
  // (seq_cst on both sides, as publishReadAndCheckWriter: either this sees the space a read
  // freed, or that read sees the flag and wakes the producer). Returns the space now free.
  size_t markWaitingForSpace() {
    header_->writerWaiting.store(1, std::memory_order_seq_cst);
    seenReadPos_ = header_->readPos.load(std::memory_order_seq_cst);
    return capacity_ - size_t(writePos_ - seenReadPos_);
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
  // publishRead(), and whether a producer waits for the space (the flag is cleared): only then
  // does it need a wake.
  bool publishReadAndCheckWriter() {
    header_->readPos.store(readPos_, std::memory_order_seq_cst);
    if (header_->writerWaiting.load(std::memory_order_seq_cst) == 0) return false;
    return header_->writerWaiting.exchange(0, std::memory_order_acq_rel) != 0;
  }

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
  uint64_t seenReadPos_ = 0;  // producer's last look at the consumer's position
  uint64_t readPos_ = 0;   // consumer's own position
};

}  // namespace kolo::shm
