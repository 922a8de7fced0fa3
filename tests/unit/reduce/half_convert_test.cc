// f16 / bf16 <-> f32 conversions: exhaustive over all 65536 encodings against the reference.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>

#include "kolo/collectives/reduce.h"
#include "reduce_reference.h"

namespace kolo {
namespace {

using testing::isBfloat16Nan;
using testing::isHalfNan;

struct Format {
  const char* name;
  float (*widen)(uint16_t);
  uint16_t (*narrow)(float);
  float (*refWiden)(uint16_t);
  uint16_t (*refNarrow)(float);
  bool (*isNan)(uint16_t);
  uint16_t infinity;
};

const Format kFormats[] = {
    {"float16", &halfToFloat, &floatToHalf, &testing::refHalfToFloat, &testing::refFloatToHalf,
     &isHalfNan, 0x7c00},
    {"bfloat16", &bfloat16ToFloat, &floatToBfloat16, &testing::refBfloat16ToFloat,
     &testing::refFloatToBfloat16, &isBfloat16Nan, 0x7f80},
};

class HalfConvertTest : public ::testing::TestWithParam<Format> {};

TEST_P(HalfConvertTest, WidenMatchesReferenceForEveryEncoding) {
  const Format& fmt = GetParam();
  for (uint32_t code = 0; code <= 0xffff; ++code) {
    const auto h = static_cast<uint16_t>(code);
    const float got = fmt.widen(h);
    const float want = fmt.refWiden(h);
    if (fmt.isNan(h)) {
      ASSERT_TRUE(std::isnan(got)) << fmt.name << " code 0x" << std::hex << code;
    } else {
      ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want))
          << fmt.name << " code 0x" << std::hex << code;
    }
  }
}

TEST_P(HalfConvertTest, NarrowRoundTripsEveryEncodingAndNanStaysNan) {
  const Format& fmt = GetParam();
  for (uint32_t code = 0; code <= 0xffff; ++code) {
    const auto h = static_cast<uint16_t>(code);
    const uint16_t back = fmt.narrow(fmt.widen(h));
    if (fmt.isNan(h)) {
      ASSERT_TRUE(fmt.isNan(back))
          << fmt.name << " NaN 0x" << std::hex << code << " became 0x" << back;
    } else {
      ASSERT_EQ(back, h) << fmt.name << " code 0x" << std::hex << code;
    }
  }
}

// Between each pair of adjacent finite values: the exact midpoint rounds to the even encoding,
// and the floats just either side of it round to the nearer value.
TEST_P(HalfConvertTest, NarrowRoundsToNearestEvenAtEveryMidpoint) {
  const Format& fmt = GetParam();
  for (uint32_t code = 0; code + 1 < fmt.infinity; ++code) {
    for (const uint16_t sign : {uint16_t{0}, uint16_t{0x8000}}) {
      const auto lo = static_cast<uint16_t>(code | sign);
      const auto hi = static_cast<uint16_t>((code + 1) | sign);
      // Exact: one more bit than the format; written so the largest pair does not overflow.
      const float mid = fmt.widen(lo) + (fmt.widen(hi) - fmt.widen(lo)) / 2;
      const uint16_t even = (code & 1) == 0 ? lo : hi;
      ASSERT_EQ(fmt.narrow(mid), even) << fmt.name << " midpoint after 0x" << std::hex << lo;
      ASSERT_EQ(fmt.narrow(std::nextafter(mid, 0.0f)), lo)
          << fmt.name << " below midpoint 0x" << std::hex << lo;
      ASSERT_EQ(fmt.narrow(std::nextafter(mid, mid * 2)), hi)
          << fmt.name << " above midpoint 0x" << std::hex << lo;
    }
  }
}

TEST_P(HalfConvertTest, NarrowMatchesReferenceOnRandomFloats) {
  const Format& fmt = GetParam();
  std::mt19937 rng(1234);
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    const uint16_t got = fmt.narrow(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(fmt.isNan(got)) << fmt.name << " input bits 0x" << std::hex
                                  << std::bit_cast<uint32_t>(f);
    } else {
      ASSERT_EQ(got, fmt.refNarrow(f))
          << fmt.name << " input " << f << " bits 0x" << std::hex << std::bit_cast<uint32_t>(f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, HalfConvertTest, ::testing::ValuesIn(kFormats),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(HalfConvert, OverflowAndUnderflowEdges) {
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00);  // midpoint to 2^16 rounds to even: infinity
  EXPECT_EQ(floatToHalf(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(floatToHalf(-1e30f), 0xfc00);
  EXPECT_EQ(floatToHalf(0x1p-24f), 0x0001);
  EXPECT_EQ(floatToHalf(0x1p-25f), 0x0000);  // tie between 0 and the smallest subnormal
  EXPECT_EQ(floatToHalf(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(floatToBfloat16(std::bit_cast<float>(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds up
  EXPECT_EQ(floatToBfloat16(std::bit_cast<float>(0x00000001u)),
            0x0000);  // subnormals round, not flush
  EXPECT_EQ(floatToBfloat16(std::bit_cast<float>(0x00008000u)), 0x0000);  // tie to even
  EXPECT_EQ(floatToBfloat16(std::bit_cast<float>(0x00018000u)), 0x0002);  // tie to even, upward
  EXPECT_EQ(floatToBfloat16(std::bit_cast<float>(0x7f800001u)) & 0x7fc0, 0x7fc0);  // sNaN -> qNaN
}

}  // namespace
}  // namespace kolo
