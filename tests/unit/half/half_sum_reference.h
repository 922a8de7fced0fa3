// Inputs and float64 references for the tests of 16-bit float sums across ranks (f16 / bf16
// allreduce and reduce-scatter with kSum / kAverage, which accumulate in float32 and round once
// per element: collectives/src/algorithms/wide_accumulation.h).
//
// Two kinds of input:
//  - exact: k * 2^-10 (f16, |k| <= 2047) or k * 2^-7 (bf16, |k| <= 255). Every partial sum of up
//    to 8 ranks is exact in float32 whatever the order, but most totals need rounding to 16 bits,
//    so every algorithm must return round16(float64 sum) bit for bit (and rounding after every
//    pairwise step would not);
//  - spread: random 16-bit values over 2^-6 .. 2^6 with both signs. The float32 sum may round;
//    with |error| <= gamma = (n-1) * 2^-24 * sum|x| (float32 recursive summation) the result must
//    lie in [round16(sum - gamma), round16(sum + gamma)], which single rounding guarantees.
// Thread: any; pure functions.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "kolo/collectives/dtype.h"
#include "kolo/collectives/reduce.h"
#include "support/collective_reference.h"

namespace kolo::test {

enum class HalfInputs { kExact, kSpread };

inline double halfValue(DataType type, uint16_t bits) {
  return type == DataType::kFloat16 ? halfToFloat(bits) : bfloat16ToFloat(bits);
}

inline uint16_t toHalf(DataType type, float v) {
  return type == DataType::kFloat16 ? floatToHalf(v) : floatToBfloat16(v);
}

// Element i of `rank`'s input.
inline uint16_t halfInput(DataType type, HalfInputs kind, int rank, size_t i, uint64_t seed) {
  const uint64_t h = mixBits(seed, static_cast<uint64_t>(rank), i);
  const bool f16 = type == DataType::kFloat16;
  if (kind == HalfInputs::kExact) {
    const int64_t k =
        f16 ? static_cast<int64_t>(h % 4095) - 2047 : static_cast<int64_t>(h % 511) - 255;
    return toHalf(type, std::ldexp(static_cast<float>(k), f16 ? -10 : -7));
  }
  const double unit = static_cast<double>(h >> 11) * 0x1p-53;  // [0, 1)
  const int exponent = static_cast<int>((h >> 3) % 13) - 6;
  const double sign = (h & 1) != 0 ? -1.0 : 1.0;
  return toHalf(type, static_cast<float>(sign * (1.0 + unit) * std::ldexp(1.0, exponent)));
}

inline std::vector<uint16_t> halfInputs(DataType type, HalfInputs kind, int rank, size_t count,
                                        uint64_t seed) {
  std::vector<uint16_t> v(count);
  for (size_t i = 0; i < count; ++i) v[i] = halfInput(type, kind, rank, i, seed);
  return v;
}

// The float32 values just below / above x (x itself when it is a float32).
inline float floatDown(double x) {
  const float f = static_cast<float>(x);
  return static_cast<double>(f) > x ? std::nextafter(f, -std::numeric_limits<float>::infinity())
                                    : f;
}
inline float floatUp(double x) {
  const float f = static_cast<float>(x);
  return static_cast<double>(f) < x ? std::nextafter(f, std::numeric_limits<float>::infinity()) : f;
}

// What element i of an n-rank allreduce must hold: [lo, hi] as 16-bit values (lo == hi for exact
// inputs). kAverage divides by n (exact for the power-of-two n of these tests).
struct HalfBounds {
  double lo = 0, hi = 0;
};

inline HalfBounds halfBounds(DataType type, HalfInputs kind, ReduceOp op, int n, size_t i,
                             uint64_t seed) {
  double sum = 0, magnitude = 0;
  for (int q = 0; q < n; ++q) {
    const double x = halfValue(type, halfInput(type, kind, q, i, seed));
    sum += x;  // exact in float64: at most 8 multiples of 2^-24 below 2^8
    magnitude += std::fabs(x);
  }
  const double scale = op == ReduceOp::kAverage ? 1.0 / n : 1.0;
  const double gamma = kind == HalfInputs::kExact ? 0.0 : (n - 1) * 0x1p-24 * magnitude;
  return {halfValue(type, toHalf(type, floatDown((sum - gamma) * scale))),
          halfValue(type, toHalf(type, floatUp((sum + gamma) * scale)))};
}

// Rank-order pairwise reduction rounded to 16 bits after every step (the behaviour that float32
// accumulation replaces), for showing that the exact inputs tell the two apart.
inline std::vector<uint16_t> pairwiseRoundedSum(DataType type, HalfInputs kind, int n, size_t count,
                                                uint64_t seed) {
  std::vector<uint16_t> acc = halfInputs(type, kind, 0, count, seed);
  for (int q = 1; q < n; ++q) {
    const std::vector<uint16_t> next = halfInputs(type, kind, q, count, seed);
    reduceInto(type, ReduceOp::kSum, acc.data(), next.data(), count);
  }
  return acc;
}

}  // namespace kolo::test
