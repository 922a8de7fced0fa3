// op=adasum on threaded worlds: the pairwise combination in rank order (pairs at distance 1, 2,
// 4, ..., float64 dot products and norms, each level rounded to the dtype) within a per-dtype
// bound, identical bytes on every rank, and the errors for what it does not run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kolo/collectives/collectives.h"
#include "kolo/collectives/reduce.h"
#include "support/threaded_world.h"

namespace kolo::coll {
namespace {

using test::runThreadedWorld;

double load(DataType t, const std::vector<std::byte>& v, size_t i) {
  if (t == DataType::kFloat16) {
    uint16_t h;
    std::memcpy(&h, v.data() + 2 * i, 2);
    return halfToFloat(h);
  }
  if (t == DataType::kFloat32) {
    float f;
    std::memcpy(&f, v.data() + 4 * i, 4);
    return f;
  }
  double d;
  std::memcpy(&d, v.data() + 8 * i, 8);
  return d;
}

void store(DataType t, std::vector<std::byte>& v, size_t i, double x) {
  if (t == DataType::kFloat16) {
    const uint16_t h = floatToHalf(static_cast<float>(x));
    std::memcpy(v.data() + 2 * i, &h, 2);
  } else if (t == DataType::kFloat32) {
    const float f = static_cast<float>(x);
    std::memcpy(v.data() + 4 * i, &f, 4);
  } else {
    std::memcpy(v.data() + 8 * i, &x, 8);
  }
}

std::vector<std::byte> input(DataType t, int rank, size_t count) {
  std::mt19937 shared(11);
  std::mt19937 own(100 + rank);
  std::normal_distribution<double> normal;
  std::vector<std::byte> v(count * dataTypeSize(t));
  for (size_t i = 0; i < count; ++i) store(t, v, i, normal(shared) + 0.7 * normal(own));
  return v;
}

std::vector<std::byte> combine(DataType t, const std::vector<std::byte>& a,
                               const std::vector<std::byte>& b, size_t count) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < count; ++i) {
    ab += load(t, a, i) * load(t, b, i);
    aa += load(t, a, i) * load(t, a, i);
    bb += load(t, b, i) * load(t, b, i);
  }
  const double ca = aa == 0 ? 1.0 : 1.0 - ab / (2 * aa);
  const double cb = bb == 0 ? 1.0 : 1.0 - ab / (2 * bb);
  std::vector<std::byte> out(a.size());
  for (size_t i = 0; i < count; ++i) store(t, out, i, ca * load(t, a, i) + cb * load(t, b, i));
  return out;
}

std::vector<std::byte> reference(DataType t, int n, size_t count) {
  std::vector<std::vector<std::byte>> level;
  for (int r = 0; r < n; ++r) level.push_back(input(t, r, count));
  while (level.size() > 1) {
    std::vector<std::vector<std::byte>> next;
    for (size_t i = 0; i < level.size(); i += 2) {
      next.push_back(combine(t, level[i], level[i + 1], count));
    }
    level = std::move(next);
  }
  return level[0];
}

// A few units in the last place of the largest element (the float64 sums' order differs).
double tolerance(DataType t) {
  if (t == DataType::kFloat16) return 4 * std::ldexp(1.0, -10);
  if (t == DataType::kFloat32) return 8 * std::ldexp(1.0, -23);
  return 1e-12;
}

class AdasumSweep : public ::testing::TestWithParam<std::tuple<int, DataType>> {};

TEST_P(AdasumSweep, MatchesThePairwiseReferenceAndIsIdenticalEverywhere) {
  const auto [n, type] = GetParam();
  for (size_t count : {size_t{0}, size_t{1}, size_t{3}, size_t{1000}, size_t{100003}}) {
    const std::vector<std::byte> expected = reference(type, n, count);
    double scale = 1.0;
    for (size_t i = 0; i < count; ++i) scale = std::max(scale, std::abs(load(type, expected, i)));
    std::vector<std::vector<std::byte>> results(n);
    auto statuses = runThreadedWorld(n, [&](Communicator& comm) -> Status {
      auto in = input(type, comm.rank(), count);
      std::vector<std::byte> out(in.size());
      // Odd ranks in place, even ranks into another buffer.
      void* recv = comm.rank() % 2 == 1 ? in.data() : out.data();
      KOLO_RETURN_IF_ERROR(allreduce(comm, in.data(), recv, count, type, ReduceOp::kAdasum));
      results[comm.rank()] = comm.rank() % 2 == 1 ? in : out;
      return Status::ok();
    });
    ASSERT_EQ(test::describeFailures(statuses), "") << "n=" << n << " count=" << count;
    for (int r = 1; r < n; ++r) EXPECT_EQ(results[r], results[0]) << "rank " << r;
    double worst = 0;
    for (size_t i = 0; i < count; ++i) {
      worst = std::max(worst, std::abs(load(type, results[0], i) - load(type, expected, i)));
    }
    EXPECT_LE(worst, tolerance(type) * scale)
        << "n=" << n << " count=" << count << " " << dataTypeName(type);
  }
}

INSTANTIATE_TEST_SUITE_P(PowersOfTwo, AdasumSweep,
                         ::testing::Combine(::testing::Values(1, 2, 4, 8),
                                            ::testing::Values(DataType::kFloat16,
                                                              DataType::kFloat32,
                                                              DataType::kFloat64)),
                         [](const auto& info) {
                           return fmt::format("n{}_{}", std::get<0>(info.param),
                                              dataTypeName(std::get<1>(info.param)));
                         });

TEST(Adasum, RefusesOtherWorldsIntegersAndOtherCollectives) {
  auto statuses = runThreadedWorld(3, [](Communicator& comm) -> Status {
    std::vector<float> v(4, 1.0f);
    Status s = allreduce(comm, v.data(), v.data(), 4, DataType::kFloat32, ReduceOp::kAdasum);
    if (s.code() != Code::kInvalidArgument ||
        s.message().find("power-of-two") == std::string::npos) {
      return Status(Code::kInternal, "3 ranks: " + s.toString());
    }
    return Status::ok();
  });
  EXPECT_EQ(test::describeFailures(statuses), "");
  statuses = runThreadedWorld(2, [](Communicator& comm) -> Status {
    std::vector<int32_t> v(4, 1);
    Status s = allreduce(comm, v.data(), v.data(), 4, DataType::kInt32, ReduceOp::kAdasum);
    if (s.code() != Code::kInvalidArgument)
      return Status(Code::kInternal, "int32: " + s.toString());
    std::vector<float> f(4, 1.0f), out(2);
    const size_t counts[] = {2, 2};
    s = reduceScatter(comm, f.data(), out.data(), counts, DataType::kFloat32, ReduceOp::kAdasum);
    if (s.code() != Code::kInvalidArgument) return Status(Code::kInternal, "rs: " + s.toString());
    // Forcing the adasum algorithm for an elementwise op falls back to the selector's choice.
    s = allreduce(comm, f.data(), f.data(), 4, DataType::kFloat32, ReduceOp::kSum, "adasum");
    KOLO_RETURN_IF_ERROR(s);
    return f[0] == 2.0f ? Status::ok() : Status(Code::kInternal, "forced adasum for sum");
  });
  EXPECT_EQ(test::describeFailures(statuses), "");
}

}  // namespace
}  // namespace kolo::coll
