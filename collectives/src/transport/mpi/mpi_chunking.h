// Pure arithmetic the MPI backend needs because MPI counts are `int` and MPI tags are bounded
// by MPI_TAG_UB, while Kolo counts are size_t and Kolo tags are 64-bit. No MPI types here, so
// the logic is testable without an MPI job.
// Thread: any; pure functions.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kolo {

// The largest element count one MPI call takes.
inline constexpr size_t kMpiMaxCount = static_cast<size_t>(INT_MAX);

struct CountChunk {
  size_t offset = 0;  // in elements from the start of the buffer
  size_t count = 0;   // 1 <= count <= maxPerChunk
};

// Splits `total` elements into consecutive chunks of at most `maxPerChunk` (> 0) elements, the
// last one taking the remainder; zero elements give no chunk. The chunks cover [0, total)
// exactly, so nothing above INT_MAX is ever truncated.
inline std::vector<CountChunk> splitCount(size_t total, size_t maxPerChunk = kMpiMaxCount) {
  std::vector<CountChunk> chunks;
  if (maxPerChunk == 0) maxPerChunk = 1;
  chunks.reserve(total / maxPerChunk + 1);
  for (size_t offset = 0; offset < total; offset += maxPerChunk) {
    const size_t left = total - offset;
    chunks.push_back({offset, left < maxPerChunk ? left : maxPerChunk});
  }
  return chunks;
}

// Whether every count fits one MPI call (and their sum fits an int displacement).
inline bool fitsMpiCounts(const size_t* counts, size_t n, size_t limit = kMpiMaxCount) {
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (counts[i] > limit - total) return false;
    total += counts[i];
  }
  return true;
}

// Maps a Kolo tag into [0, tagUpperBound]. A Kolo tag's top byte is its space (bit 63: the
// runtime's control messages; bits 56-62: the process set); the rest is collective sequence
// << 20 | step. Within one space, wrapping around is safe: both sides post in the same order
// and MPI never lets two messages with the same (source, tag, communicator) overtake each
// other. Across spaces it is not, because different threads (the world's and each process
// set's coordinator) post concurrently; so with a 31-bit tag range (Open MPI's) the space gets
// bits 23-30 and the low 23 bits of the rest fill bits 0-22. A smaller range keeps only the
// modulo, which is correct for one space at a time.
inline int mpiTagFor(uint64_t tag, int tagUpperBound) {
  if (tagUpperBound <= 0) return 0;
  constexpr int kLowBits = 23;
  if (static_cast<uint64_t>(tagUpperBound) >= (uint64_t{1} << 31) - 1) {
    const uint64_t space = tag >> 56;
    const uint64_t low = tag & ((uint64_t{1} << kLowBits) - 1);
    return static_cast<int>((space << kLowBits) | low);
  }
  return static_cast<int>(tag % (static_cast<uint64_t>(tagUpperBound) + 1));
}

}  // namespace kolo
