// Copies of reduced data into the caller's output, and whether two buffers share bytes. When
// the output is far larger than the last-level cache and not the input (out of place), its
// lines are not cached: an ordinary store first reads each line from DRAM
// (read-for-ownership) only to overwrite it. Streaming stores skip that read, saving a third
// of the DRAM traffic of the copy-out.
// finishStreaming() orders the streaming stores before the flags published after them.
// Thread: any; pure functions.
#pragma once

#include <emmintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>

namespace kolo::shm {

// Outputs of at least this size are written with streaming stores when they were not just
// read: beyond the last-level cache their lines would come from DRAM. The arena takes its
// threshold from this host's L3 (shmStreamingMinBytes); this is the default without one.
inline constexpr size_t kStreamingBytes = size_t(32) << 20;

inline void streamCopy(std::byte* dst, const std::byte* src, size_t bytes) {
  size_t head = (16 - (reinterpret_cast<uintptr_t>(dst) & 15)) & 15;
  if (head > bytes) head = bytes;
  std::memcpy(dst, src, head);
  dst += head;
  src += head;
  bytes -= head;
  const size_t vectors = bytes / 16;
  for (size_t i = 0; i < vectors; ++i) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * 16));
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i * 16), v);
  }
  std::memcpy(dst + vectors * 16, src + vectors * 16, bytes - vectors * 16);
}

inline void copyToOutput(std::byte* dst, const std::byte* src, size_t bytes, bool streaming) {
  if (streaming) {
    streamCopy(dst, src, bytes);
  } else {
    std::memcpy(dst, src, bytes);
  }
}

inline void finishStreaming() {
  _mm_sfence();
}

// Whether two buffers share a byte (empty ones never do).
inline bool overlaps(const void* a, size_t aBytes, const void* b, size_t bBytes) {
  const auto* pa = static_cast<const std::byte*>(a);
  const auto* pb = static_cast<const std::byte*>(b);
  return aBytes != 0 && bBytes != 0 && std::less<>()(pa, pb + bBytes) &&
         std::less<>()(pb, pa + aBytes);
}

}  // namespace kolo::shm
