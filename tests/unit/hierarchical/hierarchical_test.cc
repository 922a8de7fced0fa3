// Hierarchical allreduce and allgather(v) with ranks as threads on simulated hosts: two hosts of
// two, uneven hosts (2+1+2 with interleaved ranks, 3+1), one host, alternating hosts. Counts
// {0,1,7,1000,2^20+3} x dtypes x ops against the rank-order reference, bit for bit (exact
// inputs); random floats must give identical bits on every rank and on every run, within
// rounding of the flat ring.
#include "algorithms/hierarchical.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "hierarchical_world.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "support/collective_reference.h"
#include "support/scoped_env.h"
#include "support/threaded_world.h"

namespace kolo::coll {
namespace {

constexpr size_t kCounts[] = {0, 1, 7, 1000, (size_t{1} << 20) + 3};
constexpr size_t kLargeCount = (size_t{1} << 20) + 3;

struct Layout {
  const char* name;
  std::vector<std::string> hosts;  // host of each rank
};

// Names the layout in test output instead of gtest's byte dump.
void PrintTo(const Layout& layout, std::ostream* os) {
  *os << layout.name;
}

const Layout kLayouts[] = {
    {"TwoHostsOfTwo", {"a", "a", "b", "b"}},    {"Uneven212Interleaved", {"a", "b", "a", "c", "c"}},
    {"ThreePlusOne", {"a", "a", "a", "b"}},     {"OneHost", {"a", "a", "a"}},
    {"AlternatingHosts", {"a", "b", "a", "b"}},
};

// Large counts: every dtype with sum, every op with float32 and int32 (every kernel at size).
bool wanted(size_t count, DataType type, ReduceOp op) {
  return count < kLargeCount || op == ReduceOp::kSum || type == DataType::kFloat32 ||
         type == DataType::kInt32;
}

using test::ScopedEnv;

class Hierarchical : public ::testing::TestWithParam<Layout> {};

// The flat ring runs too: across hosts it orders its positions by host (alternating and
// interleaved layouts get a different ring than rank order), which must not change results.
TEST_P(Hierarchical, AllreduceMatchesReferenceForEveryDtypeAndOp) {
  const Layout& layout = GetParam();
  const int n = static_cast<int>(layout.hosts.size());
  for (size_t count : kCounts) {
    auto results = test::runHierarchicalWorld(layout.hosts, [&](Communicator& comm) -> Status {
      for (DataType type : kAllDataTypes) {
        for (ReduceOp op : kAllReduceOps) {
          for (std::string_view algorithm : {"hier", "ring"}) {
            if (!wanted(count, type, op)) continue;
            if (algorithm == "ring" && count == kLargeCount &&
                !(type == DataType::kFloat32 && op == ReduceOp::kSum)) {
              continue;
            }
            const uint64_t seed =
                count * 131 + static_cast<uint64_t>(type) * 7 + static_cast<uint64_t>(op);
            std::vector<std::byte> expected(count * dataTypeSize(type));
            test::referenceAllreduce(type, op, n, count, seed, expected.data());
            auto input = test::makeInput(type, op, comm.rank(), n, count, seed);
            // Out of place on odd ranks, in place on even ones.
            std::vector<std::byte> output(input.size(), std::byte{0x5A});
            void* recv = comm.rank() % 2 ? output.data() : input.data();
            KOLO_RETURN_IF_ERROR(allreduce(comm, input.data(), recv, count, type, op, algorithm));
            std::string diff = test::compareExact(type, expected.data(), recv, count);
            if (!diff.empty()) {
              return makeStatus(Code::kInternal, "{} count={} {} {}: {}", algorithm, count,
                                dataTypeName(type), reduceOpName(op), diff);
            }
          }
        }
      }
      return Status::ok();
    });
    EXPECT_EQ(test::describeFailures(results), "") << layout.name << " count=" << count;
  }
}

// Random floats: reduction order matters, so the result must be the same bits on every rank and
// on a second run, and within rounding of the flat ring's.
TEST_P(Hierarchical, RandomFloatsAreDeterministicAndCloseToRing) {
  const Layout& layout = GetParam();
  const int n = static_cast<int>(layout.hosts.size());
  const size_t count = 300001;
  std::vector<std::vector<float>> inputs(n, std::vector<float>(count));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-20, 20);
  for (auto& in : inputs) {
    for (float& x : in) x = std::ldexp(value(rng), exponent(rng));
  }
  std::vector<std::vector<float>> hier1(n), hier2(n), ring(n);
  auto results = test::runHierarchicalWorld(layout.hosts, [&](Communicator& comm) -> Status {
    const int r = comm.rank();
    for (auto* out : {&hier1[r], &hier2[r], &ring[r]}) {
      *out = inputs[r];
      const std::string_view algorithm = out == &ring[r] ? "ring" : "hier";
      KOLO_RETURN_IF_ERROR(allreduce(comm, out->data(), out->data(), count, DataType::kFloat32,
                                     ReduceOp::kSum, algorithm));
    }
    return Status::ok();
  });
  ASSERT_EQ(test::describeFailures(results), "");
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(std::memcmp(hier1[r].data(), hier1[0].data(), count * sizeof(float)), 0)
        << "rank " << r << " differs from rank 0";
    ASSERT_EQ(std::memcmp(hier1[r].data(), hier2[r].data(), count * sizeof(float)), 0)
        << "rank " << r << " differs between runs";
  }
  for (size_t i = 0; i < count; ++i) {
    double magnitude = 0;
    for (int r = 0; r < n; ++r) magnitude += std::fabs(inputs[r][i]);
    ASSERT_NEAR(hier1[0][i], ring[0][i], 4 * n * magnitude * 0x1p-24) << "element " << i;
  }
}

TEST_P(Hierarchical, AllgathervMatchesReference) {
  const Layout& layout = GetParam();
  const int n = static_cast<int>(layout.hosts.size());
  for (size_t count : kCounts) {
    auto results = test::runHierarchicalWorld(layout.hosts, [&](Communicator& comm) -> Status {
      const int me = comm.rank();
      // Equal blocks, then uneven ones (rank r: count + 3r bytes; rank 1 none at all).
      for (int variant = 0; variant < 2; ++variant) {
        std::vector<size_t> each(n, count);
        if (variant == 1) {
          for (int r = 0; r < n; ++r) each[r] = r == 1 ? 0 : count + 3 * static_cast<size_t>(r);
        }
        size_t total = 0;
        for (size_t b : each) total += b;
        const uint64_t seed = 99 + count + static_cast<uint64_t>(variant);
        std::vector<std::byte> expected(total), recv(total, std::byte{0x5A});
        test::referenceAllgatherv(each, seed, expected.data());
        std::vector<std::byte> send(each[me]);
        test::fillBytes(me, each[me], seed, send.data());
        KOLO_RETURN_IF_ERROR(hierarchicalAllgatherv(comm, send.data(), recv.data(), each));
        std::string diff = test::compareBytes(expected.data(), recv.data(), total);
        if (!diff.empty()) {
          return makeStatus(Code::kInternal, "allgatherv variant {} count={}: {}", variant, count,
                            diff);
        }
      }
      return Status::ok();
    });
    EXPECT_EQ(test::describeFailures(results), "") << layout.name << " count=" << count;
  }
}

// Through the public entry points with the switches set, in place (send inside recv).
TEST_P(Hierarchical, SwitchesRouteThePublicEntryPoints) {
  const Layout& layout = GetParam();
  const int n = static_cast<int>(layout.hosts.size());
  ScopedEnv gather("KOLO_HIERARCHICAL_ALLGATHER", "1");
  ScopedEnv reduce("KOLO_HIERARCHICAL_ALLREDUCE", "1");
  auto policy = selectionPolicyFromEnv();
  ASSERT_TRUE(policy.hasValue()) << policy.status().toString();
  const size_t bytes = 4099;
  auto results =
      test::runHierarchicalWorld(layout.hosts, *policy, [&](Communicator& comm) -> Status {
        if (!selectAlgorithm(comm, CollectiveKind::kAllgather, bytes * n).hierarchical ||
            !selectAlgorithm(comm, CollectiveKind::kAllreduce, bytes).hierarchical) {
          return Status(Code::kInternal, "the switches did not select the hierarchical algorithms");
        }
        std::vector<size_t> each(n, bytes);
        std::vector<std::byte> expected(bytes * n), recv(bytes * n);
        test::referenceAllgatherv(each, 5, expected.data());
        test::fillBytes(comm.rank(), bytes, 5, recv.data() + bytes * comm.rank());
        KOLO_RETURN_IF_ERROR(
            allgather(comm, recv.data() + bytes * comm.rank(), recv.data(), bytes));
        std::string diff = test::compareBytes(expected.data(), recv.data(), recv.size());
        if (!diff.empty()) return Status(Code::kInternal, diff);
        const size_t count = 1000;
        auto input = test::makeInput(DataType::kInt64, ReduceOp::kSum, comm.rank(), n, count, 3);
        std::vector<std::byte> want(input.size());
        test::referenceAllreduce(DataType::kInt64, ReduceOp::kSum, n, count, 3, want.data());
        KOLO_RETURN_IF_ERROR(
            allreduce(comm, input.data(), input.data(), count, DataType::kInt64, ReduceOp::kSum));
        diff = test::compareExact(DataType::kInt64, want.data(), input.data(), count);
        if (!diff.empty()) return Status(Code::kInternal, diff);
        return Status::ok();
      });
  EXPECT_EQ(test::describeFailures(results), "") << layout.name;
}

INSTANTIATE_TEST_SUITE_P(Layouts, Hierarchical, ::testing::ValuesIn(kLayouts),
                         [](const ::testing::TestParamInfo<Layout>& info) {
                           return std::string(info.param.name);
                         });

TEST(HierarchicalErrors, WithoutSubgroupsTheAlgorithmsSayWhy) {
  auto results = test::runThreadedWorld(2, [](Communicator& comm) -> Status {
    std::vector<int32_t> data(4, 1);
    Status s =
        hierarchicalAllreduce(comm, data.data(), data.size(), DataType::kInt32, ReduceOp::kSum);
    if (s.code() != Code::kInvalidUsage ||
        s.message().find("no node/cross subgroups") == std::string::npos) {
      return makeStatus(Code::kInternal, "unexpected: {}", s.toString());
    }
    std::vector<size_t> each(2, 4);
    std::vector<std::byte> out(8);
    s = hierarchicalAllgatherv(comm, data.data(), out.data(), each);
    if (s.code() != Code::kInvalidUsage) {
      return makeStatus(Code::kInternal, "unexpected: {}", s.toString());
    }
    // The public entry point falls back to a flat algorithm instead.
    KOLO_RETURN_IF_ERROR(allreduce(comm, data.data(), data.data(), data.size(), DataType::kInt32,
                                   ReduceOp::kSum, "hier"));
    if (data[0] != 2) return makeStatus(Code::kInternal, "fallback gave {}", data[0]);
    return Status::ok();
  });
  EXPECT_EQ(test::describeFailures(results), "");
}

TEST(HierarchicalShards, CoverTheDataOnceWithTheRemainderUpFront) {
  EXPECT_EQ(shardSizes(7, 2, 3), (std::vector<size_t>{4, 3, 0}));
  EXPECT_EQ(shardSizes(1, 3, 3), (std::vector<size_t>{1, 0, 0}));
  EXPECT_EQ(shardSizes(0, 2, 2), (std::vector<size_t>{0, 0}));
  EXPECT_EQ(shardSizes(9, 3, 4), (std::vector<size_t>{3, 3, 3, 0}));
}

}  // namespace
}  // namespace kolo::coll
