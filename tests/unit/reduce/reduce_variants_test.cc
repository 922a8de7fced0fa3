// Every kernel variant compiled in and supported by this CPU must produce the same bytes as the
// portable one, for every op x dtype, ragged counts, unaligned pointers and every aliasing.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kolo/collectives/reduce.h"
#include "reduce/reduce_kernels.h"
#include "reduce_inputs.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace kolo {
namespace {

using reduce_detail::ReduceKernels;
using testing::UnalignedBuffer;

const ReduceKernels& portable() {
  return *reduce_detail::supportedReduceKernels().front();
}

std::vector<const ReduceKernels*> accelerated() {
  auto all = reduce_detail::supportedReduceKernels();
  return {all.begin() + 1, all.end()};
}

size_t firstDifference(const char* x, const char* y, size_t elements, size_t size) {
  for (size_t i = 0; i < elements; ++i) {
    if (std::memcmp(x + i * size, y + i * size, size) != 0) return i;
  }
  return elements;
}

TEST(ReduceVariants, DispatchPicksTheWidestSupportedVariant) {
  const auto all = reduce_detail::supportedReduceKernels();
  ASSERT_FALSE(all.empty());
  EXPECT_STREQ(all.front()->name, "portable");
  EXPECT_STREQ(reduceKernelVariant(), all.back()->name);
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
  if (__builtin_cpu_supports("avx2") && f16c) {
    EXPECT_GE(all.size(), 2u) << "this CPU has AVX2+F16C but no accelerated variant is available";
  }
#endif
  std::string names;
  for (const auto* k : all) names += std::string(k->name) + " ";
  ::testing::Test::RecordProperty("variants", names);
}

TEST(ReduceVariants, ReduceIsBitIdenticalToPortable) {
  const auto variants = accelerated();
  if (variants.empty()) GTEST_SKIP() << "only the portable variant runs on this CPU";
  std::vector<size_t> counts;
  for (size_t c = 0; c <= 70; ++c) counts.push_back(c);
  counts.insert(counts.end(), {1000, 4099, 65537});
  std::mt19937_64 rng(42);
  for (const DataType type : kAllDataTypes) {
    const size_t size = dataTypeSize(type);
    for (const size_t count : counts) {
      UnalignedBuffer a(type, count), b(type, count), want(type, count), got(type, count);
      testing::fillRandom(type, a.data(), count, rng);
      testing::fillRandom(type, b.data(), count, rng);
      for (const ReduceOp op : kAllReduceOps) {
        for (int aliasing = 0; aliasing < 4; ++aliasing) {  // distinct, dst==a, dst==b, all same
          auto run = [&](const ReduceKernels& k, char* out) {
            if (aliasing == 1) std::memcpy(out, a.data(), count * size);
            if (aliasing == 2 || aliasing == 3) std::memcpy(out, b.data(), count * size);
            const void* lhs = aliasing == 1 || aliasing == 3 ? out : a.data();
            const void* rhs = aliasing == 2 || aliasing == 3 ? out : b.data();
            k.reduceTwo(type, op, out, lhs, rhs, count);
          };
          run(portable(), want.data());
          for (const ReduceKernels* k : variants) {
            run(*k, got.data());
            const size_t i = firstDifference(got.data(), want.data(), count, size);
            ASSERT_EQ(i, count) << k->name << " vs portable: " << dataTypeName(type) << " "
                                << reduceOpName(op) << " aliasing " << aliasing << " count "
                                << count << " first differs at " << i;
          }
        }
      }
    }
  }
}

// All 65536 encodings of each 16-bit type against rotated partners: every NaN payload, inf,
// subnormal and rounding case goes through each variant's vector conversions.
TEST(ReduceVariants, HalfTypesBitIdenticalOverAllEncodings) {
  const auto variants = accelerated();
  if (variants.empty()) GTEST_SKIP() << "only the portable variant runs on this CPU";
  std::vector<uint16_t> a(65536), b(65536), want(65536), got(65536);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint16_t>(i);
  for (const DataType type : {DataType::kFloat16, DataType::kBFloat16}) {
    for (const size_t rotation : {1u, 255u, 32768u, 40000u}) {
      for (size_t i = 0; i < b.size(); ++i) b[i] = a[(i + rotation) % a.size()];
      for (const ReduceOp op : kAllReduceOps) {
        portable().reduceTwo(type, op, want.data(), a.data(), b.data(), a.size());
        for (const ReduceKernels* k : variants) {
          k->reduceTwo(type, op, got.data(), a.data(), b.data(), a.size());
          const size_t i = firstDifference(reinterpret_cast<char*>(got.data()),
                                           reinterpret_cast<char*>(want.data()), a.size(), 2);
          ASSERT_EQ(i, a.size()) << k->name << " " << dataTypeName(type) << " " << reduceOpName(op)
                                 << " 0x" << std::hex << a[i] << ", 0x" << b[i] << " gave 0x"
                                 << got[i] << " want 0x" << want[i];
        }
      }
    }
  }
}

TEST(ReduceVariants, ScaleAndDivideAreBitIdenticalToPortable) {
  const auto variants = accelerated();
  if (variants.empty()) GTEST_SKIP() << "only the portable variant runs on this CPU";
  std::mt19937_64 rng(7);
  for (const DataType type : kAllDataTypes) {
    const size_t size = dataTypeSize(type);
    for (const size_t count : {size_t{0}, size_t{1}, size_t{17}, size_t{1029}, size_t{65536}}) {
      UnalignedBuffer input(type, count), want(type, count), got(type, count);
      testing::fillRandom(type, input.data(), count, rng);
      if (type == DataType::kFloat16 || type == DataType::kBFloat16) {
        for (size_t i = 0; i < count; ++i) {
          const auto code = static_cast<uint16_t>(i);
          std::memcpy(input.data() + 2 * i, &code, 2);
        }
      }
      for (const double factor : {0.125, 1.0 / 3.0, -7.5, 1e10}) {
        std::memcpy(want.data(), input.data(), count * size);
        portable().scaleBuffer(type, want.data(), count, factor);
        for (const ReduceKernels* k : variants) {
          std::memcpy(got.data(), input.data(), count * size);
          k->scaleBuffer(type, got.data(), count, factor);
          ASSERT_EQ(firstDifference(got.data(), want.data(), count, size), count)
              << k->name << " scale " << dataTypeName(type) << " by " << factor << " count "
              << count;
        }
      }
      for (const int64_t divisor :
           {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{-5}, int64_t{1000003}}) {
        std::memcpy(want.data(), input.data(), count * size);
        portable().divideBuffer(type, want.data(), count, divisor);
        for (const ReduceKernels* k : variants) {
          std::memcpy(got.data(), input.data(), count * size);
          k->divideBuffer(type, got.data(), count, divisor);
          ASSERT_EQ(firstDifference(got.data(), want.data(), count, size), count)
              << k->name << " divide " << dataTypeName(type) << " by " << divisor << " count "
              << count;
        }
      }
    }
  }
}

}  // namespace
}  // namespace kolo
