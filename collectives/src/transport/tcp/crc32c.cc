#include "transport/tcp/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
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

// Folding with carry-less multiplication (PCLMULQDQ), for long inputs: four 128-bit
// accumulators, each 64 bytes ahead of its last block. Folding a 128-bit value across D bits
// multiplies its low half by x^(D+31) and its high half by x^(D-33) mod P (bit-reflected, as
// the crc32 instruction's register is); the sum stays congruent to the message, and the crc32
// instruction reduces the last 128 bits. About twice the crc32 instruction's speed where
// multiplication is fast; checked against the table at startup, never used if it disagrees.
uint32_t xPowModP(int n) {  // x^n mod P, not reflected
  uint64_t r = 1;
  for (int i = 0; i < n; ++i) {
    r <<= 1;
    if ((r >> 32) != 0) r ^= (uint64_t{1} << 32) | 0x1EDC6F41;
  }
  return static_cast<uint32_t>(r);
}

uint64_t reflected(uint32_t v) {
  uint64_t r = 0;
  for (int i = 0; i < 32; ++i) r |= uint64_t{(v >> i) & 1} << (31 - i);
  return r;
}

struct FoldKeys {
  __m128i by384, by256, by128;
  __m512i by2048, by1536, by1024, by512;
  __attribute__((target("avx512f"))) FoldKeys()
      : by384(key(384)),
        by256(key(256)),
        by128(key(128)),
        by2048(key4(2048)),
        by1536(key4(1536)),
        by1024(key4(1024)),
        by512(key4(512)) {}
  static long long low(int bits) { return static_cast<long long>(reflected(xPowModP(bits + 31))); }
  static long long high(int bits) { return static_cast<long long>(reflected(xPowModP(bits - 33))); }
  static __m128i key(int bits) { return _mm_set_epi64x(high(bits), low(bits)); }
  __attribute__((target("avx512f"))) static __m512i key4(int bits) {
    const long long h = high(bits), l = low(bits);
    return _mm512_set_epi64(h, l, h, l, h, l, h, l);
  }
};

#define KOLO_FOLD_TARGET __attribute__((target("vpclmulqdq,avx512f,avx512vl,pclmul,sse4.2")))

// Four 128-bit lanes at once: each 64-byte register folds across `key`'s distance.
KOLO_FOLD_TARGET __m512i foldAcross512(__m512i x, __m512i key) {
  return _mm512_xor_si512(_mm512_clmulepi64_epi128(x, key, 0x00),
                          _mm512_clmulepi64_epi128(x, key, 0x11));
}

KOLO_FOLD_TARGET __m512i load512(const std::byte* p) {
  return _mm512_loadu_si512(reinterpret_cast<const void*>(p));
}

__attribute__((target("pclmul,sse4.2"))) __m128i foldAcross(__m128i x, __m128i key) {
  return _mm_xor_si128(_mm_clmulepi64_si128(x, key, 0x00), _mm_clmulepi64_si128(x, key, 0x11));
}

// The register after `n` bytes (n a multiple of 256, at least 256) from register `crc`: four
// 64-byte accumulators 256 bytes apart, then folded into one, whose four 128-bit lanes are
// folded into one, which the crc32 instruction reduces.
KOLO_FOLD_TARGET uint32_t extendFolded(uint32_t crc, const std::byte* p, size_t n) {
  static const FoldKeys keys;
  __m512i a = _mm512_xor_si512(load512(p), _mm512_zextsi128_si512(
                                               _mm_cvtsi32_si128(static_cast<int>(crc))));
  __m512i b = load512(p + 64), c = load512(p + 128), d = load512(p + 192);
  for (size_t at = 256; at < n; at += 256) {
    a = _mm512_xor_si512(foldAcross512(a, keys.by2048), load512(p + at));
    b = _mm512_xor_si512(foldAcross512(b, keys.by2048), load512(p + at + 64));
    c = _mm512_xor_si512(foldAcross512(c, keys.by2048), load512(p + at + 128));
    d = _mm512_xor_si512(foldAcross512(d, keys.by2048), load512(p + at + 192));
  }
  __m512i x = _mm512_xor_si512(foldAcross512(a, keys.by1536), foldAcross512(b, keys.by1024));
  x = _mm512_xor_si512(x, _mm512_xor_si512(foldAcross512(c, keys.by512), d));
  __m128i y = _mm_xor_si128(foldAcross(_mm512_maskz_extracti32x4_epi32(0xf, x, 0), keys.by384),
                            foldAcross(_mm512_maskz_extracti32x4_epi32(0xf, x, 1), keys.by256));
  y = _mm_xor_si128(y, _mm_xor_si128(foldAcross(_mm512_maskz_extracti32x4_epi32(0xf, x, 2), keys.by128),
                                     _mm512_maskz_extracti32x4_epi32(0xf, x, 3)));
  uint64_t r = _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(y)));
  return static_cast<uint32_t>(_mm_crc32_u64(r, static_cast<uint64_t>(_mm_extract_epi64(y, 1))));
}

bool detectHardware() {
  __builtin_cpu_init();  // this runs during static initialisation, maybe before libgcc's own
  return __builtin_cpu_supports("sse4.2");
}

bool detectFolding() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("sse4.2") || !__builtin_cpu_supports("pclmul") ||
      !__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vl") ||
      !__builtin_cpu_supports("vpclmulqdq")) {
    return false;
  }
  std::array<std::byte, 1024> probe{};
  for (size_t i = 0; i < probe.size(); ++i) probe[i] = static_cast<std::byte>(i * 131 + 7);
  return extendFolded(0x12345678, probe.data(), probe.size()) ==
         extendSoftware(0x12345678, probe.data(), probe.size());
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
#if defined(__x86_64__)
const bool kFolding = detectFolding();
#else
const bool kFolding = false;
uint32_t extendFolded(uint32_t crc, const std::byte*, size_t) { return crc; }
#endif
// Inputs at least this long are folded (below it the crc32 instruction's lanes are as fast).
constexpr size_t kFoldMin = 4096;

}  // namespace

uint32_t crc32cPortable(std::span<const std::byte> bytes) {
  return ~extendSoftware(~uint32_t{0}, bytes.data(), bytes.size());
}

uint32_t crc32cExtend(uint32_t crc, std::span<const std::byte> bytes) {
  crc = ~crc;
  const std::byte* p = bytes.data();
  size_t n = bytes.size();
  if (kFolding && n >= kFoldMin) {
    const size_t folded = n & ~size_t{255};
    crc = extendFolded(crc, p, folded);
    p += folded;
    n -= folded;
  }
  return crc32cUnfolded(~crc, {p, n});
}

bool crc32cHardware() {
  return kHardware;
}

bool crc32cFolded() {
  return kFolding;
}

uint32_t crc32cUnfolded(uint32_t crc, std::span<const std::byte> bytes) {
  crc = ~crc;
  crc = kHardware ? extendHardware(crc, bytes.data(), bytes.size())
                  : extendSoftware(crc, bytes.data(), bytes.size());
  return ~crc;
}

}  // namespace kolo::tcp
