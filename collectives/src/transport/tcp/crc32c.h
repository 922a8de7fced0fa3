// CRC32C (Castagnoli), the checksum each TCP data frame carries in its trailer so that a payload
// corrupted between two ranks is an error naming the peer, never a wrong result. Inputs of 4 KiB
// and more are folded with carry-less multiplication where the CPU has VPCLMULQDQ and AVX-512
// (about 55 GB/s on a Zen 4 core, against 20 for the crc32 instruction); otherwise the SSE4.2
// crc32 instruction where the CPU has it (three interleaved streams over large buffers), a table
// otherwise; all give the same value (crc32c("123456789") == 0xe3069283). Checked once.
// Thread: any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace kolo::tcp {

// Extends `crc` (0 for a new message) over `bytes`: crc32c(a + b) == crc32cExtend(crc32c(a), b).
uint32_t crc32cExtend(uint32_t crc, std::span<const std::byte> bytes);

inline uint32_t crc32c(std::span<const std::byte> bytes) {
  return crc32cExtend(0, bytes);
}

// The table-driven computation alone, whatever the CPU has (the reference in tests).
uint32_t crc32cPortable(std::span<const std::byte> bytes);

// True when the hardware instruction is used (for the record in benchmarks).
bool crc32cHardware();
// True when long inputs are folded (VPCLMULQDQ); crc32cUnfolded never folds (for tests).
bool crc32cFolded();
uint32_t crc32cUnfolded(uint32_t crc, std::span<const std::byte> bytes);

}  // namespace kolo::tcp
