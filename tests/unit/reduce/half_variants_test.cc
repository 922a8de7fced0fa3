// f32 <-> f16 / bf16 conversion and the many-input 16-bit sum (reduceMany) in every kernel variant
// this CPU runs (portable, avx2+f16c, avx512, avx512+bf16 with VCVTNEPS2BF16): the same bits as
// the scalar conversions of reduce.h on ties, subnormals, infinities, NaNs and overflow, and the
// rounding those conversions promise (nearest even, NaN kept quiet).
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kolo/collectives/reduce.h"
#include "reduce/reduce_kernels.h"

namespace kolo {
namespace {

using reduce_detail::ReduceKernels;

constexpr DataType kHalfTypes[] = {DataType::kFloat16, DataType::kBFloat16};

uint16_t scalarNarrow(DataType type, float f) {
  return type == DataType::kFloat16 ? floatToHalf(f) : floatToBfloat16(f);
}

float scalarWiden(DataType type, uint16_t h) {
  return type == DataType::kFloat16 ? halfToFloat(h) : bfloat16ToFloat(h);
}

// Every upper half of a float32 with lower halves around each type's rounding points: the bf16
// tie (0x8000) and its neighbours, the f16 tie (0x1000) and neighbours, and zero / all ones. That
// covers every exponent (subnormal, inf and NaN included) of both targets.
std::vector<float> edgeFloats() {
  constexpr uint32_t kLow[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001,
                               0x3000, 0x7fff, 0x8000, 0x8001, 0xffff};
  std::vector<float> out;
  out.reserve(65536 * std::size(kLow));
  for (uint32_t high = 0; high < 65536; ++high) {
    for (uint32_t low : kLow) out.push_back(std::bit_cast<float>((high << 16) | low));
  }
  return out;
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

TEST(HalfVariants, ScalarConversionsRoundToNearestEvenAndKeepNaNsQuiet) {
  auto bf = [](uint32_t bits) { return floatToBfloat16(std::bit_cast<float>(bits)); };
  EXPECT_EQ(bf(0x3f808000), 0x3f80);  // tie, even below
  EXPECT_EQ(bf(0x3f818000), 0x3f82);  // tie, even above
  EXPECT_EQ(bf(0x3f808001), 0x3f81);
  EXPECT_EQ(bf(0x00008000), 0x0000);  // float32 subnormal tie rounds to +0
  EXPECT_EQ(bf(0x00018000), 0x0002);  // ... and to the even subnormal
  EXPECT_EQ(bf(0x7f7fffff), 0x7f80);  // FLT_MAX rounds up to inf
  EXPECT_EQ(bf(0xff800000), 0xff80);
  EXPECT_EQ(bf(0x7f800001), 0x7fc0);  // signaling NaN comes back quiet
  EXPECT_EQ(bf(0xffc12345), 0xffc1);  // NaN keeps sign and top payload
  auto h = [](float f) { return floatToHalf(f); };
  EXPECT_EQ(h(65504.0f), 0x7bff);
  EXPECT_EQ(h(65519.0f), 0x7bff);
  EXPECT_EQ(h(65520.0f), 0x7c00);    // halfway to 2^16 rounds to inf
  EXPECT_EQ(h(0x1p-25f), 0x0000);    // half the smallest subnormal: tie to zero
  EXPECT_EQ(h(0x1.8p-24f), 0x0002);  // 1.5 x smallest subnormal: tie to even (2)
  EXPECT_EQ(h(0x1.002p0f), 0x3c00);  // 1 + 2^-11: tie, even below
  EXPECT_EQ(h(0x1.006p0f), 0x3c02);  // 1 + 3 x 2^-11: tie, even above
  EXPECT_EQ(h(std::bit_cast<float>(0x7f800001u)), 0x7e00);
}

TEST(HalfVariants, NarrowMatchesTheScalarConversionInEveryVariant) {
  const std::vector<float> in = edgeFloats();
  std::vector<uint16_t> got(in.size());
  for (const ReduceKernels* k : reduce_detail::supportedReduceKernels()) {
    for (DataType type : kHalfTypes) {
      // Offsets 0 and 3: vector bodies at two alignments, and scalar tails.
      for (size_t offset : {size_t{0}, size_t{3}}) {
        const size_t n = in.size() - offset;
        k->narrow(type, in.data() + offset, got.data(), n);
        for (size_t i = 0; i < n; ++i) {
          const uint16_t want = scalarNarrow(type, in[offset + i]);
          ASSERT_EQ(got[i], want) << k->name << " " << dataTypeName(type) << " narrowing "
                                  << hex(std::bit_cast<uint32_t>(in[offset + i]));
        }
      }
    }
  }
}

TEST(HalfVariants, WidenIsExactForEveryEncodingInEveryVariant) {
  std::vector<uint16_t> in(65536);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<uint16_t>(i);
  std::vector<float> got(in.size());
  for (const ReduceKernels* k : reduce_detail::supportedReduceKernels()) {
    for (DataType type : kHalfTypes) {
      k->widen(type, in.data(), got.data(), in.size());
      for (size_t i = 0; i < in.size(); ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(got[i]),
                  std::bit_cast<uint32_t>(scalarWiden(type, in[i])))
            << k->name << " " << dataTypeName(type) << " widening 0x" << std::hex << in[i];
      }
    }
  }
}

// reduceMany of 16-bit sums: finite inputs against the scalar definition (f32 additions in input
// order, f32 division, one rounding), and any inputs (NaN, inf, subnormals) against the portable
// variant.
std::vector<std::vector<uint16_t>> randomHalfInputs(DataType type, int n, size_t count,
                                                    bool finiteOnly, std::mt19937_64& rng) {
  std::vector<std::vector<uint16_t>> inputs(n, std::vector<uint16_t>(count));
  for (auto& v : inputs) {
    for (auto& x : v) {
      do {
        x = static_cast<uint16_t>(rng());
      } while (finiteOnly && !std::isfinite(scalarWiden(type, x)));
    }
  }
  return inputs;
}

std::vector<uint16_t> scalarReduceMany(DataType type, const std::vector<std::vector<uint16_t>>& in,
                                       int64_t divisor) {
  std::vector<uint16_t> out(in[0].size());
  for (size_t i = 0; i < out.size(); ++i) {
    float acc = scalarWiden(type, in[0][i]);
    for (size_t q = 1; q < in.size(); ++q) acc += scalarWiden(type, in[q][i]);
    if (divisor != 0) acc /= static_cast<float>(divisor);
    out[i] = scalarNarrow(type, acc);
  }
  return out;
}

TEST(HalfVariants, ReduceManyAccumulatesInFloat32AndRoundsOnceInEveryVariant) {
  std::mt19937_64 rng(7);
  for (DataType type : kHalfTypes) {
    for (bool finiteOnly : {true, false}) {
      for (int n : {1, 2, 3, 8}) {
        const size_t count = 4099;
        const auto inputs = randomHalfInputs(type, n, count, finiteOnly, rng);
        std::vector<const void*> ptrs;
        for (const auto& v : inputs) ptrs.push_back(v.data());
        for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
          const int64_t divisor = op == ReduceOp::kAverage ? n : 0;
          std::vector<uint16_t> want(count);
          if (finiteOnly) {
            want = scalarReduceMany(type, inputs, divisor);
          } else {
            reduce_detail::supportedReduceKernels().front()->reduceMany(
                type, op, want.data(), ptrs.data(), n, count, divisor);
          }
          for (const ReduceKernels* k : reduce_detail::supportedReduceKernels()) {
            std::vector<uint16_t> got(count);
            k->reduceMany(type, op, got.data(), ptrs.data(), n, count, divisor);
            for (size_t i = 0; i < count; ++i) {
              ASSERT_EQ(got[i], want[i])
                  << k->name << " " << dataTypeName(type) << " " << reduceOpName(op) << " of " << n
                  << (finiteOnly ? " finite" : " arbitrary") << " inputs, element " << i;
            }
          }
        }
      }
    }
  }
}

TEST(HalfVariants, ReduceManyInPlaceOnTheFirstInput) {
  std::mt19937_64 rng(11);
  for (DataType type : kHalfTypes) {
    const auto inputs = randomHalfInputs(type, 4, 1500, true, rng);
    const std::vector<uint16_t> want = scalarReduceMany(type, inputs, 0);
    for (const ReduceKernels* k : reduce_detail::supportedReduceKernels()) {
      auto copy = inputs;
      std::vector<const void*> ptrs;
      for (const auto& v : copy) ptrs.push_back(v.data());
      k->reduceMany(type, ReduceOp::kSum, copy[0].data(), ptrs.data(), 4, 1500, 0);
      EXPECT_TRUE(copy[0] == want) << k->name << " " << dataTypeName(type);
    }
  }
}

TEST(HalfVariants, TheBf16VariantRunsWhereTheCpuHasAvx512Bf16) {
#if defined(__x86_64__)
  bool found = false;
  for (const ReduceKernels* k : reduce_detail::supportedReduceKernels()) {
    found = found || std::string(k->name) == "avx512+bf16";
  }
  EXPECT_EQ(found,
            __builtin_cpu_supports("avx512bf16") != 0 && __builtin_cpu_supports("avx512bw") != 0 &&
                __builtin_cpu_supports("avx512vl") != 0 && __builtin_cpu_supports("avx2") != 0);
#else
  GTEST_SKIP() << "x86-64 only";
#endif
}

}  // namespace
}  // namespace kolo
