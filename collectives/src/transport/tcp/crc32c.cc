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
__attribute__((target("sse4.2"))) uint64_t extendOneLane(uint64_t c, const std::byte* p, size_t n) {
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    c = _mm_crc32_u64(c, word);
  }
  return c;
}

// The crc32 instruction takes three cycles and a new one can start every cycle, so three
// independent streams over adjacent lanes of kLane bytes run about three times as fast as one.
// The lanes' CRCs are then joined: the register after A then B equals the register after A,
// advanced over kLane zero bytes, xor the register of B alone (a raw CRC is linear in its
// start value). Advancing over kLane zeros is a fixed linear map, applied by table.
constexpr size_t kLane = 8192;

struct LaneShift {
  std::array<std::array<uint32_t, 256>, 4> table{};
  __attribute__((target("sse4.2"))) LaneShift() {
    static const std::array<std::byte, kLane> zeros{};
    std::array<uint32_t, 32> basis{};
    for (int bit = 0; bit < 32; ++bit) {
      basis[bit] = static_cast<uint32_t>(extendOneLane(uint32_t{1} << bit, zeros.data(), kLane));
    }
    for (int k = 0; k < 4; ++k) {
      for (uint32_t b = 0; b < 256; ++b) {
        uint32_t v = 0;
        for (int j = 0; j < 8; ++j) {
          if ((b >> j) & 1) v ^= basis[8 * k + j];
        }
        table[k][b] = v;
      }
    }
  }
  uint32_t operator()(uint32_t c) const {
    return table[0][c & 0xff] ^ table[1][(c >> 8) & 0xff] ^ table[2][(c >> 16) & 0xff] ^
           table[3][c >> 24];
  }
};

__attribute__((target("sse4.2"))) uint32_t extendHardware(uint32_t crc, const std::byte* p,
                                                          size_t n) {
  static const LaneShift shift;
  uint64_t c = crc;
  for (; n >= 3 * kLane; n -= 3 * kLane, p += 3 * kLane) {
    uint64_t a = c, b = 0, d = 0;
    for (size_t i = 0; i < kLane; i += 8) {
      uint64_t wa, wb, wd;
      std::memcpy(&wa, p + i, 8);
      std::memcpy(&wb, p + kLane + i, 8);
      std::memcpy(&wd, p + 2 * kLane + i, 8);
      a = _mm_crc32_u64(a, wa);
      b = _mm_crc32_u64(b, wb);
      d = _mm_crc32_u64(d, wd);
    }
    const uint32_t ab = shift(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b);
    c = shift(ab) ^ static_cast<uint32_t>(d);
  }
  c = extendOneLane(c, p, n & ~size_t{7});
  p += n & ~size_t{7};
  n &= 7;
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

uint32_t crc32cPortable(std::span<const std::byte> bytes) {
  return ~extendSoftware(~uint32_t{0}, bytes.data(), bytes.size());
}

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
