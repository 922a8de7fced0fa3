// reduceInto / reduceTwo / scaleBuffer / divideBuffer through the public API (the variant this
// CPU dispatches to), every op x dtype against the independent reference.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kolo/collectives/reduce.h"
#include "reduce_inputs.h"
#include "reduce_reference.h"

namespace kolo {
namespace {

using testing::UnalignedBuffer;

constexpr size_t kCounts[] = {0, 1, 7, 15, 16, 17, 1000, 4099};
constexpr unsigned char kCanary = 0xa5;

enum class Aliasing { kDistinct, kDstIsA, kDstIsB, kAllSame, kReduceInto };
const char* aliasingName(Aliasing a) {
  switch (a) {
    case Aliasing::kDistinct:
      return "distinct";
    case Aliasing::kDstIsA:
      return "dst==a";
    case Aliasing::kDstIsB:
      return "dst==b";
    case Aliasing::kAllSame:
      return "dst==a==b";
    case Aliasing::kReduceInto:
      return "reduceInto";
  }
  return "?";
}

std::string hexBytes(const void* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s = "0x";
  for (size_t i = n; i-- > 0;) {
    const auto byte = static_cast<const unsigned char*>(p)[i];
    s += kDigits[byte >> 4];
    s += kDigits[byte & 15];
  }
  return s;
}

using OpCase = std::tuple<DataType, ReduceOp>;

class ReduceOpsTest : public ::testing::TestWithParam<OpCase> {};

TEST_P(ReduceOpsTest, MatchesReferenceForEveryCountAndAliasing) {
  const auto [type, op] = GetParam();
  const size_t size = dataTypeSize(type);
  std::mt19937_64 rng(static_cast<uint64_t>(type) * 31 + static_cast<uint64_t>(op));
  for (const size_t count : kCounts) {
    for (const Aliasing aliasing : {Aliasing::kDistinct, Aliasing::kDstIsA, Aliasing::kDstIsB,
                                    Aliasing::kAllSame, Aliasing::kReduceInto}) {
      UnalignedBuffer a(type, count), b(type, count), dst(type, count), want(type, count);
      testing::fillRandom(type, a.data(), count, rng);
      testing::fillRandom(type, b.data(), count, rng);
      std::memset(dst.data(), kCanary, (count + 1) * size);
      const char* rhs = aliasing == Aliasing::kAllSame ? a.data() : b.data();
      testing::refReduce(type, op, want.data(), a.data(), rhs, count);
      switch (aliasing) {
        case Aliasing::kDistinct:
          reduceTwo(type, op, dst.data(), a.data(), b.data(), count);
          break;
        case Aliasing::kDstIsA:
          std::memcpy(dst.data(), a.data(), count * size);
          reduceTwo(type, op, dst.data(), dst.data(), b.data(), count);
          break;
        case Aliasing::kDstIsB:
          std::memcpy(dst.data(), b.data(), count * size);
          reduceTwo(type, op, dst.data(), a.data(), dst.data(), count);
          break;
        case Aliasing::kAllSame:
          std::memcpy(dst.data(), a.data(), count * size);
          reduceTwo(type, op, dst.data(), dst.data(), dst.data(), count);
          break;
        case Aliasing::kReduceInto:
          std::memcpy(dst.data(), a.data(), count * size);
          reduceInto(type, op, dst.data(), b.data(), count);
          break;
      }
      for (size_t i = 0; i < count; ++i) {
        const char* got = dst.data() + i * size;
        const char* exp = want.data() + i * size;
        ASSERT_TRUE(testing::sameElement(type, got, exp))
            << dataTypeName(type) << " " << reduceOpName(op) << " " << aliasingName(aliasing)
            << " count " << count << " index " << i << ": " << hexBytes(a.data() + i * size, size)
            << " op " << hexBytes(rhs + i * size, size) << " gave " << hexBytes(got, size)
            << ", want " << hexBytes(exp, size);
      }
      for (size_t k = 0; k < size; ++k) {
        ASSERT_EQ(static_cast<unsigned char>(dst.data()[count * size + k]), kCanary)
            << dataTypeName(type) << " " << reduceOpName(op) << " count " << count
            << ": wrote past the end";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllOpsAllTypes, ReduceOpsTest,
                         ::testing::Combine(::testing::ValuesIn(kAllDataTypes),
                                            ::testing::ValuesIn(kAllReduceOps)),
                         [](const auto& info) {
                           return std::string(dataTypeName(std::get<0>(info.param))) + "_" +
                                  std::string(reduceOpName(std::get<1>(info.param)));
                         });

TEST(ReduceOps, MinMaxNanAndSignedZeroFollowStdMinMaxOperandOrder) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float a[] = {nan, 1.0f, -0.0f, 0.0f, nan};
  const float b[] = {1.0f, nan, 0.0f, -0.0f, -nan};
  float mn[5], mx[5];
  reduceTwo(DataType::kFloat32, ReduceOp::kMin, mn, a, b, 5);
  reduceTwo(DataType::kFloat32, ReduceOp::kMax, mx, a, b, 5);
  for (const float* r : {mn, mx}) {
    EXPECT_TRUE(std::isnan(r[0]));    // NaN first: NaN
    EXPECT_EQ(r[1], 1.0f);            // NaN second: the first operand
    EXPECT_TRUE(std::signbit(r[2]));  // a tie keeps the first operand: -0
    EXPECT_FALSE(std::signbit(r[3]));
    EXPECT_FALSE(std::signbit(r[4]));  // the first NaN, not the second
  }
}

TEST(ReduceOps, IntegerArithmeticWraps) {
  const int32_t a[] = {INT32_MAX, INT32_MIN, 65536};
  const int32_t b[] = {1, -1, 65536};
  int32_t sum[3], prod[3];
  reduceTwo(DataType::kInt32, ReduceOp::kSum, sum, a, b, 3);
  reduceTwo(DataType::kInt32, ReduceOp::kProduct, prod, a, b, 3);
  EXPECT_EQ(sum[0], INT32_MIN);
  EXPECT_EQ(sum[1], INT32_MAX);
  EXPECT_EQ(prod[2], 0);  // 2^32 wraps to 0
  const uint8_t ua[] = {200, 16};
  const uint8_t ub[] = {100, 17};
  uint8_t usum[2], uprod[2];
  reduceTwo(DataType::kUInt8, ReduceOp::kSum, usum, ua, ub, 2);
  reduceTwo(DataType::kUInt8, ReduceOp::kProduct, uprod, ua, ub, 2);
  EXPECT_EQ(usum[0], 44);
  EXPECT_EQ(uprod[1], static_cast<uint8_t>(16 * 17));
}

TEST(ReduceOps, Int16WrapsAndComparesSigned) {
  // 40 elements, so every variant's vector body runs as well as its scalar tail.
  std::vector<int16_t> a(40), b(40), sum(40), prod(40), low(40), high(40);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<int16_t>(i % 2 == 0 ? INT16_MAX - static_cast<int>(i) : -300 * i);
    b[i] = static_cast<int16_t>(i % 3 == 0 ? 1000 : -7);
  }
  reduceTwo(DataType::kInt16, ReduceOp::kSum, sum.data(), a.data(), b.data(), a.size());
  reduceTwo(DataType::kInt16, ReduceOp::kProduct, prod.data(), a.data(), b.data(), a.size());
  reduceTwo(DataType::kInt16, ReduceOp::kMin, low.data(), a.data(), b.data(), a.size());
  reduceTwo(DataType::kInt16, ReduceOp::kMax, high.data(), a.data(), b.data(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const int x = a[i], y = b[i];
    EXPECT_EQ(sum[i], static_cast<int16_t>(static_cast<uint16_t>(x + y))) << i;
    EXPECT_EQ(prod[i], static_cast<int16_t>(static_cast<uint16_t>(x * y))) << i;
    EXPECT_EQ(low[i], std::min(x, y)) << i;
    EXPECT_EQ(high[i], std::max(x, y)) << i;
  }
  EXPECT_EQ(sum[0], static_cast<int16_t>(INT16_MIN + 999));  // 32767 + 1000 wraps
}

// ---- scale / divide ----------------------------------------------------------------------------

template <class T>
std::vector<T> randomValues(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<T> v(n);
  testing::fillTyped<T>(v.data(), n, rng);
  return v;
}

template <class T>
void expectIntegerDivide(DataType type) {
  for (const int64_t divisor : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, int64_t{-1},
                                int64_t{-3}, int64_t{1} << 40}) {
    auto v = randomValues<T>(1001, 77);
    v[0] = std::numeric_limits<T>::min();
    v[1] = std::numeric_limits<T>::max();
    const auto orig = v;
    divideBuffer(type, v.data(), v.size(), divisor);
    for (size_t i = 0; i < v.size(); ++i) {
      // The quotient is exact in __int128; the cast keeps its low bits (INT_MIN / -1 wraps).
      const auto want = static_cast<T>(static_cast<__int128>(orig[i]) / divisor);
      ASSERT_EQ(v[i], want) << dataTypeName(type) << " " << +orig[i] << " / " << divisor;
    }
  }
}

TEST(DivideBuffer, IntegersTruncateExactly) {
  expectIntegerDivide<int8_t>(DataType::kInt8);
  expectIntegerDivide<uint8_t>(DataType::kUInt8);
  expectIntegerDivide<int16_t>(DataType::kInt16);
  expectIntegerDivide<int32_t>(DataType::kInt32);
  expectIntegerDivide<int64_t>(DataType::kInt64);
}

// Powers of two multiply by the exact reciprocal: the results must still be the quotients,
// bit for bit, down to subnormals and signed zeros, with infinities and NaNs kept.
TEST(DivideBuffer, PowersOfTwoGiveTheQuotientsBitForBit) {
  std::vector<float> f = randomValues<float>(999, 7);
  std::vector<double> d = randomValues<double>(999, 8);
  for (float v : {0.0f, -0.0f, 1e-45f, -3e-45f, 1.17549435e-38f, 3.4028235e38f,
                  std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                  0.75f, -1.5e-40f}) {
    f.push_back(v);
  }
  for (double v : {0.0, -0.0, 5e-324, -1e-310, 2.2250738585072014e-308, 1.7976931348623157e308,
                   std::numeric_limits<double>::infinity(), 3.0}) {
    d.push_back(v);
  }
  for (int64_t divisor : {2, 4, 8, 64, 1024}) {
    std::vector<float> fq = f;
    std::vector<double> dq = d;
    divideBuffer(DataType::kFloat32, fq.data(), fq.size(), divisor);
    divideBuffer(DataType::kFloat64, dq.data(), dq.size(), divisor);
    for (size_t i = 0; i < f.size(); ++i) {
      const float want = f[i] / static_cast<float>(divisor);
      ASSERT_TRUE(testing::sameElement(DataType::kFloat32, &fq[i], &want))
          << f[i] << " / " << divisor << " gave " << fq[i];
    }
    for (size_t i = 0; i < d.size(); ++i) {
      const double want = d[i] / static_cast<double>(divisor);
      ASSERT_TRUE(testing::sameElement(DataType::kFloat64, &dq[i], &want))
          << d[i] << " / " << divisor << " gave " << dq[i];
    }
  }
}

TEST(DivideBuffer, FloatsDivideInTheirOwnPrecision) {
  auto f = randomValues<float>(1003, 5);
  auto d = randomValues<double>(1003, 6);
  const auto f0 = f;
  const auto d0 = d;
  divideBuffer(DataType::kFloat32, f.data(), f.size(), 3);
  divideBuffer(DataType::kFloat64, d.data(), d.size(), 3);
  for (size_t i = 0; i < f.size(); ++i) {
    const float wf = f0[i] / 3.0f;
    const double wd = d0[i] / 3.0;
    ASSERT_TRUE(testing::sameElement(DataType::kFloat32, &f[i], &wf)) << f0[i] << " / 3";
    ASSERT_TRUE(testing::sameElement(DataType::kFloat64, &d[i], &wd)) << d0[i] << " / 3";
  }
  for (const DataType type : {DataType::kFloat16, DataType::kBFloat16}) {
    const bool bf = type == DataType::kBFloat16;
    std::vector<uint16_t> h(65536);
    for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(i);
    divideBuffer(type, h.data(), h.size(), 7);
    for (size_t i = 0; i < h.size(); ++i) {
      const auto code = static_cast<uint16_t>(i);
      const float x = bf ? testing::refBfloat16ToFloat(code) : testing::refHalfToFloat(code);
      const uint16_t want =
          bf ? testing::refFloatToBfloat16(x / 7.0f) : testing::refFloatToHalf(x / 7.0f);
      ASSERT_TRUE(testing::sameElement(type, &h[i], &want))
          << dataTypeName(type) << " 0x" << std::hex << i << " / 7 gave 0x" << h[i];
    }
  }
}

TEST(ScaleBuffer, FloatsMultiplyInTheirOwnPrecision) {
  const double factor = 0.1;  // not exact in float: f32 must use float(0.1), f64 the double
  auto f = randomValues<float>(1003, 8);
  auto d = randomValues<double>(1003, 9);
  const auto f0 = f;
  const auto d0 = d;
  scaleBuffer(DataType::kFloat32, f.data(), f.size(), factor);
  scaleBuffer(DataType::kFloat64, d.data(), d.size(), factor);
  for (size_t i = 0; i < f.size(); ++i) {
    const float wf = f0[i] * static_cast<float>(factor);
    const double wd = d0[i] * factor;
    ASSERT_TRUE(testing::sameElement(DataType::kFloat32, &f[i], &wf)) << f0[i] << " * 0.1";
    ASSERT_TRUE(testing::sameElement(DataType::kFloat64, &d[i], &wd)) << d0[i] << " * 0.1";
  }
  for (const DataType type : {DataType::kFloat16, DataType::kBFloat16}) {
    const bool bf = type == DataType::kBFloat16;
    std::vector<uint16_t> h(65536);
    for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(i);
    scaleBuffer(type, h.data(), h.size(), factor);
    for (size_t i = 0; i < h.size(); ++i) {
      const auto code = static_cast<uint16_t>(i);
      const float x = bf ? testing::refBfloat16ToFloat(code) : testing::refHalfToFloat(code);
      const float y = x * static_cast<float>(factor);
      const uint16_t want = bf ? testing::refFloatToBfloat16(y) : testing::refFloatToHalf(y);
      ASSERT_TRUE(testing::sameElement(type, &h[i], &want))
          << dataTypeName(type) << " 0x" << std::hex << i << " * 0.1 gave 0x" << h[i];
    }
  }
}

TEST(ScaleBuffer, IntegersTruncateTowardZeroAndSaturate) {
  int8_t i8[] = {100, -100, 5, -5, 127, -128};
  scaleBuffer(DataType::kInt8, i8, 6, 1.5);
  EXPECT_EQ(std::vector<int>(i8, i8 + 6), (std::vector<int>{127, -128, 7, -7, 127, -128}));
  int32_t i32[] = {7, -7, 1 << 30};
  scaleBuffer(DataType::kInt32, i32, 3, 0.5);
  EXPECT_EQ(std::vector<int32_t>(i32, i32 + 3), (std::vector<int32_t>{3, -3, 1 << 29}));
  int64_t i64[] = {INT64_MAX, INT64_MIN, 10};
  scaleBuffer(DataType::kInt64, i64, 3, 2.0);
  EXPECT_EQ(std::vector<int64_t>(i64, i64 + 3), (std::vector<int64_t>{INT64_MAX, INT64_MIN, 20}));
  int16_t i16[] = {30000, -30000, 7, -7, INT16_MAX, INT16_MIN};
  scaleBuffer(DataType::kInt16, i16, 6, 1.5);
  EXPECT_EQ(std::vector<int>(i16, i16 + 6),
            (std::vector<int>{INT16_MAX, INT16_MIN, 10, -10, INT16_MAX, INT16_MIN}));
  uint8_t u8[] = {10, 200};
  scaleBuffer(DataType::kUInt8, u8, 2, -1.0);
  EXPECT_EQ(std::vector<int>(u8, u8 + 2), (std::vector<int>{0, 0}));
  int32_t nan[] = {5};
  scaleBuffer(DataType::kInt32, nan, 1, std::nan(""));
  EXPECT_EQ(nan[0], 0);
}

// A count above 2^31 must not be truncated to int anywhere. To keep this cheap, dst is one
// 2 MiB memfd mapped over and over (every period aliases the same memory) and src is untouched
// anonymous memory except its last page, so it reads as zeros. Adding zero keeps every aliased
// byte as it was, so the only change is at the tail, past 2^31, where src is non-zero.
TEST(ReduceOps, CountAboveTwoToThe31) {
  constexpr size_t kPeriod = size_t{2} << 20;
  const size_t count = (size_t{1} << 31) + 100;
  const size_t mapped = (count + kPeriod - 1) / kPeriod * kPeriod;
  const int fd = memfd_create("kolo-reduce-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, kPeriod), 0);
  void* dstMap =
      mmap(nullptr, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  void* srcMap = mmap(nullptr, mapped, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(dstMap, MAP_FAILED);
  ASSERT_NE(srcMap, MAP_FAILED);
  auto* d = static_cast<uint8_t*>(dstMap);
  auto* s = static_cast<uint8_t*>(srcMap);
  for (size_t off = 0; off < mapped; off += kPeriod) {
    ASSERT_NE(mmap(d + off, kPeriod, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0),
              MAP_FAILED);
  }
  madvise(s, mapped, MADV_HUGEPAGE);  // reads of untouched memory map the huge zero page
  for (size_t i = count - 64; i < count; ++i) s[i] = static_cast<uint8_t>(i * 7 + 1);
  d[count - 1] = 1;  // aliased everywhere at this offset; earlier periods add zero to it
  reduceInto(DataType::kUInt8, ReduceOp::kSum, d, s, count);
  for (size_t i = count - 64; i < count - 1; ++i) {
    ASSERT_EQ(d[i], static_cast<uint8_t>(i * 7 + 1)) << "index " << i;
  }
  EXPECT_EQ(d[count - 1], static_cast<uint8_t>((count - 1) * 7 + 2));
  EXPECT_EQ(d[(count - 64) % kPeriod - 1], 0);
  munmap(dstMap, mapped);
  munmap(srcMap, mapped);
  close(fd);
}

}  // namespace
}  // namespace kolo
