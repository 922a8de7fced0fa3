// Allreduce sweeps: every world size x count x dtype x op for every registry algorithm that runs
// on a threaded world (ring, recursive doubling, ...) and the automatic choice, compared bit for
// bit with the rank-order reference (exact inputs, so any correct algorithm must match it exactly,
// and therefore every rank matches every other).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <tuple>

#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "support/algorithm_choice.h"
#include "support/collective_reference.h"
#include "support/threaded_world.h"

namespace kolo::coll {
namespace {

using test::compareExact;
using test::runThreadedWorld;

constexpr int kWorldSizes[] = {1, 2, 3, 4, 5, 7, 8};
constexpr size_t kSmallCounts[] = {0, 1, 7, 1000};
constexpr size_t kBigCount = (size_t{1} << 20) + 3;

// Runs one allreduce on every rank (in place when `inPlace`) and checks it against `expected`.
void checkAllreduce(int n, size_t count, DataType type, ReduceOp op, const std::string& algorithm,
                    bool inPlace = false) {
  const uint64_t seed =
      17 + count + static_cast<uint64_t>(type) * 131 + static_cast<uint64_t>(op) * 1009;
  std::vector<std::byte> expected(count * dataTypeSize(type));
  test::referenceAllreduce(type, op, n, count, seed, expected.data());
  auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
    auto input = test::makeInput(type, op, comm.rank(), n, count, seed);
    std::vector<std::byte> output(input.size(), std::byte{0x5A});
    void* recv = inPlace ? input.data() : output.data();
    KOLO_RETURN_IF_ERROR(allreduce(comm, input.data(), recv, count, type, op, algorithm));
    std::string diff = compareExact(type, expected.data(), recv, count);
    if (!diff.empty()) return Status(Code::kInternal, diff);
    return Status::ok();
  });
  EXPECT_EQ(test::describeFailures(results), "")
      << "n=" << n << " count=" << count << " " << dataTypeName(type) << " " << reduceOpName(op)
      << " " << algorithm;
}

class AllreduceSweep : public ::testing::TestWithParam<std::tuple<int, std::string>> {};

TEST_P(AllreduceSweep, EveryDtypeAndOpAtSmallCounts) {
  auto [n, algorithm] = GetParam();
  for (size_t count : kSmallCounts) {
    for (DataType type : kAllDataTypes) {
      for (ReduceOp op : kAllReduceOps) checkAllreduce(n, count, type, op, algorithm);
    }
  }
}

// Auto is left out: at this size it runs ring.
class AllreduceLarge : public AllreduceSweep {};

TEST_P(AllreduceLarge, LargeCount) {
  auto [n, algorithm] = GetParam();
  // Every dtype with sum, every op with one float and one integer type.
  for (DataType type : kAllDataTypes) {
    checkAllreduce(n, kBigCount, type, ReduceOp::kSum, algorithm);
  }
  for (ReduceOp op : {ReduceOp::kAverage, ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kProduct}) {
    checkAllreduce(n, kBigCount, DataType::kFloat32, op, algorithm);
    checkAllreduce(n, kBigCount, DataType::kInt32, op, algorithm);
  }
}

TEST_P(AllreduceSweep, InPlace) {
  auto [n, algorithm] = GetParam();
  checkAllreduce(n, 1000, DataType::kFloat32, ReduceOp::kSum, algorithm, /*inPlace=*/true);
  checkAllreduce(n, 300000, DataType::kInt64, ReduceOp::kAverage, algorithm, /*inPlace=*/true);
}

std::string worldName(const ::testing::TestParamInfo<std::tuple<int, std::string>>& info) {
  return "n" + std::to_string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
}

// Every allreduce algorithm of the registry that runs on a threaded loopback world.
std::vector<std::string> channelAlgorithms() {
  return test::runnableAlgorithms(CollectiveKind::kAllreduce);
}
std::vector<std::string> channelAlgorithmsAndAuto() {
  std::vector<std::string> names = channelAlgorithms();
  names.emplace_back(kAutoAlgorithm);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Worlds, AllreduceSweep,
                         ::testing::Combine(::testing::ValuesIn(kWorldSizes),
                                            ::testing::ValuesIn(channelAlgorithmsAndAuto())),
                         worldName);
INSTANTIATE_TEST_SUITE_P(Worlds, AllreduceLarge,
                         ::testing::Combine(::testing::ValuesIn(kWorldSizes),
                                            ::testing::ValuesIn(channelAlgorithms())),
                         worldName);

// Inputs whose sums round (random fractions): results differ from a rank-order reference, but
// must still be bit-identical on every rank.
TEST(AllreduceBitIdentity, RoundedSumsAgreeOnEveryRank) {
  for (int n : {3, 5, 8}) {
    for (const std::string& algorithm : channelAlgorithms()) {
      for (DataType type : {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat32}) {
        const size_t count = 100003;
        std::vector<std::vector<std::byte>> out(n);
        auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
          std::vector<std::byte> buf(count * dataTypeSize(type));
          for (size_t i = 0; i < count; ++i) {
            uint64_t h = test::mixBits(99, comm.rank(), i);
            test::storeValue(type, static_cast<double>(h % 100000) / 977.0 - 50.0, buf.data(), i);
          }
          KOLO_RETURN_IF_ERROR(
              allreduce(comm, buf.data(), buf.data(), count, type, ReduceOp::kAverage, algorithm));
          out[comm.rank()] = std::move(buf);
          return Status::ok();
        });
        ASSERT_EQ(test::describeFailures(results), "");
        for (int r = 1; r < n; ++r) {
          EXPECT_EQ(compareExact(type, out[0].data(), out[r].data(), count), "")
              << "rank " << r << " vs rank 0, n=" << n << " " << algorithm;
        }
      }
    }
  }
}

}  // namespace
}  // namespace kolo::coll
