#include "bench_ops.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kolo/collectives/reduce.h"
#include "support/threaded_world.h"

namespace kolo::bench {
namespace {

constexpr Collective kAllCollectives[] = {Collective::kAllreduce, Collective::kAllgather,
                                          Collective::kBroadcast, Collective::kReduceScatter,
                                          Collective::kAlltoall};

// The exactness claim of the pattern, checked against the real kernels: reducing every
// rank's input with reduceInto (and divideBuffer for avg) gives expectedReduction bit for
// bit, in every dtype, op and world size the benchmark may meet.
TEST(BenchPattern, ExpectedReductionMatchesTheKernels) {
  constexpr size_t kCount = 211;
  for (DataType type : kAllDataTypes) {
    const size_t es = dataTypeSize(type);
    for (ReduceOp op : kAllReduceOps) {
      for (int n : {1, 2, 3, 4, 5, 7, 8, 16}) {
        std::vector<std::byte> acc(kCount * es);
        std::vector<std::byte> input(kCount * es);
        for (size_t i = 0; i < kCount; ++i)
          storeElement(type, acc.data(), i, reduceInput(op, 0, n, i));
        for (int r = 1; r < n; ++r) {
          for (size_t i = 0; i < kCount; ++i) {
            storeElement(type, input.data(), i, reduceInput(op, r, n, i));
          }
          reduceInto(type, op, acc.data(), input.data(), kCount);
        }
        if (op == ReduceOp::kAverage) divideBuffer(type, acc.data(), kCount, n);
        std::byte expected[8];
        int mismatches = 0;
        for (size_t i = 0; i < kCount; ++i) {
          expectedReduction(type, op, n, i, expected);
          if (std::memcmp(acc.data() + i * es, expected, es) != 0) ++mismatches;
        }
        EXPECT_EQ(mismatches, 0) << dataTypeName(type) << " " << reduceOpName(op) << " n=" << n;
      }
    }
  }
}

TEST(BenchPattern, InputsAreSmallIntegers) {
  for (ReduceOp op : kAllReduceOps) {
    for (int r = 0; r < 8; ++r) {
      for (size_t i = 0; i < 100; ++i) {
        int64_t v = reduceInput(op, r, 8, i);
        EXPECT_GE(v, -1);
        EXPECT_LE(v, 6);
      }
    }
  }
  for (size_t i = 0; i < 300; ++i) {
    EXPECT_LT(allgatherValue(7, i), 128);
    EXPECT_LT(alltoallValue(3, 5, i), 128);
    EXPECT_LT(broadcastValue(2, i), 128);
  }
}

TEST(BenchPattern, StoreElementWrapsIntegersAndRoundsHalves) {
  std::byte out[8];
  storeElement(DataType::kUInt8, out, 0, -1);
  EXPECT_EQ(std::to_integer<uint8_t>(out[0]), 255);
  storeElement(DataType::kInt8, out, 0, 130);
  int8_t i8;
  std::memcpy(&i8, out, 1);
  EXPECT_EQ(i8, -126);
  storeElement(DataType::kFloat16, out, 0, 3);
  uint16_t half;
  std::memcpy(&half, out, 2);
  EXPECT_EQ(halfToFloat(half), 3.0f);
  storeElement(DataType::kBFloat16, out, 1, -2);
  std::memcpy(&half, out + 2, 2);
  EXPECT_EQ(bfloat16ToFloat(half), -2.0f);
}

struct BenchCase {
  Collective collective;
  DataType type;
  ReduceOp op;
};

// Every collective on worlds of 1..4 threads, in place and out of place: the checked call has
// no wrong element, and a call that wrote nothing (outputs still poisoned) is counted wrong
// element by element.
TEST(CollectiveBench, CorrectRunHasNoWrongElementsAndPoisonIsCaught) {
  std::vector<BenchCase> cases;
  for (Collective c : kAllCollectives) {
    cases.push_back({c, DataType::kFloat32, ReduceOp::kSum});
    cases.push_back({c, DataType::kBFloat16, ReduceOp::kAverage});
    cases.push_back({c, DataType::kInt8, ReduceOp::kProduct});
  }
  for (int n : {1, 2, 3, 4}) {
    for (const auto& bc : cases) {
      const int root = n - 1;
      SizeShape shape = shapeFor(bc.collective, bc.type, n, 1003 * dataTypeSize(bc.type));
      auto results = test::runThreadedWorld(n, [&](Communicator& comm) -> Status {
        KOLO_ASSIGN_OR_RETURN(auto created,
                              CollectiveBench::create(OpConfig{bc.collective, bc.type, bc.op, root,
                                                               "auto", comm.rank(), comm.size()},
                                                      shape.bytes));
        CollectiveBench& bench = *created;
        // In place (nccl-tests' second column group): the same exact results from the
        // buffers that hold the inputs.
        bench.setInPlace(true);
        bench.prepare(shape);
        KOLO_RETURN_IF_ERROR(bench.run(comm, shape).withContext("in place"));
        if (uint64_t wrong = bench.countWrong(shape); wrong != 0) {
          return makeStatus(Code::kInternal, "rank {}: {} wrong elements in place", comm.rank(),
                            wrong);
        }
        bench.setInPlace(false);
        bench.prepare(shape);
        uint64_t untouched = bench.countWrong(shape);
        const bool rootKeepsItsData =
            bc.collective == Collective::kBroadcast && comm.rank() == root;
        size_t outputs =
            bc.collective == Collective::kReduceScatter ? shape.count / n : shape.count;
        if (untouched != (rootKeepsItsData ? 0 : outputs)) {
          return makeStatus(Code::kInternal, "rank {}: {} of {} poisoned outputs counted wrong",
                            comm.rank(), untouched, outputs);
        }
        KOLO_RETURN_IF_ERROR(bench.run(comm, shape));
        uint64_t wrong = bench.countWrong(shape);
        if (wrong != 0) {
          return makeStatus(Code::kInternal, "rank {}: {} wrong elements", comm.rank(), wrong);
        }
        return Status::ok();
      });
      for (int r = 0; r < n; ++r) {
        EXPECT_TRUE(results[r].isOk())
            << collectiveName(bc.collective) << " " << dataTypeName(bc.type) << " n=" << n << ": "
            << results[r].toString();
      }
    }
  }
}

TEST(CollectiveBench, MpiAllreduceDataIsAFixedPointOfTheOp) {
  // MPI reduces in place over and over: zeros stay zeros under sum and prod, equal values on
  // every rank stay under min and max.
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kProduct, ReduceOp::kMin, ReduceOp::kMax}) {
    SizeShape shape = shapeFor(Collective::kAllreduce, DataType::kFloat32, 2, 64);
    std::vector<std::vector<float>> perRank;
    for (int rank = 0; rank < 2; ++rank) {
      auto bench = CollectiveBench::create(
          OpConfig{Collective::kAllreduce, DataType::kFloat32, op, 0, "auto", rank, 2},
          shape.bytes);
      ASSERT_TRUE(bench) << bench.status().toString();
      MpiCall call = (*bench)->prepareMpi(shape);
      EXPECT_EQ(call.count, shape.count);
      const auto* values = static_cast<const float*>(call.recv);
      perRank.emplace_back(values, values + shape.count);
    }
    for (size_t i = 0; i < shape.count; ++i) {
      float a = perRank[0][i];
      float b = perRank[1][i];
      float combined = op == ReduceOp::kSum       ? a + b
                       : op == ReduceOp::kProduct ? a * b
                       : op == ReduceOp::kMin     ? std::min(a, b)
                                                  : std::max(a, b);
      EXPECT_EQ(combined, a) << reduceOpName(op) << " element " << i;
    }
  }
}

TEST(CollectiveBench, ImpossibleAllocationIsAnErrorNamingTheSize) {
  auto bench = CollectiveBench::create(OpConfig{}, UINT64_MAX);
  ASSERT_FALSE(bench);
  EXPECT_EQ(bench.status().code(), Code::kUnavailable);
  EXPECT_THAT(bench.status().message(),
              ::testing::HasSubstr("allreduce up to 18446744073709551615 B"));
}

}  // namespace
}  // namespace kolo::bench
