#include "transport/tcp/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace kolo::tcp {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78;  // Castagnoli, reflected

constexpr std::array<uint32_t, 256> makeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = makeTable();

uint32_t extendSoftware(uint32_t crc, const std::byte* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    crc = kTable[(crc ^ std::to_integer<uint8_t>(p[i])) & 0xff] ^ (crc >> 8);
  }
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t extendHardware(uint32_t crc, const std::byte* p,
                                                          size_t n) {
  uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    c = _mm_crc32_u64(c, word);
  }
  auto c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, std::to_integer<uint8_t>(*p));
  return c32;
}

bool detectHardware() {
  __builtin_cpu_init();  // this runs during static initialisation, maybe before libgcc's own
  return __builtin_cpu_supports("sse4.2");
}
#else
uint32_t extendHardware(uint32_t crc, const std::byte* p, size_t n) {
  return extendSoftware(crc, p, n);
}
bool detectHardware() {
  return false;
}
#endif

const bool kHardware = detectHardware();

}  // namespace

uint32_t crc32cExtend(uint32_t crc, std::span<const std::byte> bytes) {
  crc = ~crc;
  crc = kHardware ? extendHardware(crc, bytes.data(), bytes.size())
                  : extendSoftware(crc, bytes.data(), bytes.size());
  return ~crc;
}

bool crc32cHardware() {
  return kHardware;
}

}  // namespace kolo::tcp
