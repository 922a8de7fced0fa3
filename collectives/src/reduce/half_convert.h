// Internal: scalar f16 / bf16 <-> f32 conversions, inline so every kernel variant can use them for
// loop tails. They reproduce the x86 F16C instructions bit for bit (a NaN is quieted when widened
// and keeps the top of its payload when narrowed), which is what makes the scalar tail and the
// vector body of a kernel agree. Thread: any; pure functions.
#pragma once

#include <bit>
#include <cstdint>

namespace kolo::reduce_detail {
// Internal linkage on purpose: kernel files are compiled with different -m flags, and a shared
// out-of-line copy could hand AVX-512 code to the portable path.
namespace {

// Both directions are written with selects instead of early returns so that loops over them
// vectorize even where the CPU has no conversion instruction.
inline float halfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t shifted = static_cast<uint32_t>(h & 0x7fffu) << 13;  // exponent and mantissa
  const uint32_t exponent = shifted & 0x0f800000u;
  const uint32_t normal = shifted + 0x38000000u;  // rebias 15 -> 127
  // Inf/NaN: exponent to 255; a NaN also gets the quiet bit, as VCVTPH2PS does.
  const uint32_t quiet = (shifted & 0x007fe000u) != 0 ? 0x00400000u : 0u;
  const uint32_t special = (normal + 0x38000000u) | quiet;
  // Zero/subnormal: mantissa * 2^-24, exact in f32 (the magic subtraction renormalizes).
  const uint32_t subnormal = std::bit_cast<uint32_t>(
      std::bit_cast<float>(shifted + 0x38800000u) - std::bit_cast<float>(0x38800000u));
  const uint32_t magnitude =
      exponent == 0x0f800000u ? special : (exponent == 0 ? subnormal : normal);
  return std::bit_cast<float>(sign | magnitude);
}

inline uint16_t floatToHalfBits(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t magnitude = bits & 0x7fffffffu;
  // NaN: quiet, keep the top 9 payload bits. At or above 2^16 (and inf): infinity. Values from
  // 65520 up round to infinity through the normal path's carry.
  const uint32_t nan = 0x7e00u | ((magnitude >> 13) & 0x3ffu);
  const uint32_t large = magnitude > 0x7f800000u ? nan : 0x7c00u;
  // Normal half: rebias the exponent, round to nearest even on the 13 dropped bits.
  const uint32_t normal = (magnitude - 0x38000000u + 0xfffu + ((magnitude >> 13) & 1u)) >> 13;
  // Below 2^-14: adding 0.5 makes the FPU round the value to a multiple of 2^-24 (nearest
  // even), leaving the half's subnormal encoding in the low mantissa bits.
  const uint32_t subnormal =
      std::bit_cast<uint32_t>(std::bit_cast<float>(magnitude) + 0.5f) - 0x3f000000u;
  const uint32_t result =
      magnitude >= 0x47800000u ? large : (magnitude < 0x38800000u ? subnormal : normal);
  return static_cast<uint16_t>(sign | result);
}

inline float bfloat16BitsToFloat(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

inline uint16_t floatToBfloat16Bits(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  // Round to nearest even; a carry into the exponent correctly produces the next binade or inf.
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace
}  // namespace kolo::reduce_detail
