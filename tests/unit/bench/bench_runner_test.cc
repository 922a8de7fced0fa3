#include "bench_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "support/threaded_world.h"

namespace kolo::bench {
namespace {

using ::testing::HasSubstr;

TEST(BenchRunner, TimeIterationsRunsHooksOutsideEveryTimedCall) {
  int calls = 0;
  int before = 0;
  int after = 0;
  auto times = timeIterations(
      2, 5,
      [&] {
        ++calls;
        return Status::ok();
      },
      [&] { ++before; }, [&] { ++after; });
  ASSERT_TRUE(times) << times.status().toString();
  EXPECT_EQ(times->size(), 5u);
  EXPECT_EQ(calls, 7);
  EXPECT_EQ(before, 5);
  EXPECT_EQ(after, 5);
  for (double t : *times) EXPECT_GE(t, 0.0);
}

TEST(BenchRunner, TimeIterationsNamesTheFailingIteration) {
  int calls = 0;
  auto failing = [&] {
    return ++calls == 4 ? makeStatus(Code::kIoError, "peer 1 went away") : Status::ok();
  };
  auto times = timeIterations(1, 5, failing, {}, {});
  ASSERT_FALSE(times);
  EXPECT_EQ(times.status().code(), Code::kIoError);
  EXPECT_THAT(times.status().message(), HasSubstr("timed iteration 2"));
  EXPECT_THAT(times.status().message(), HasSubstr("peer 1 went away"));

  calls = 3;
  times = timeIterations(3, 5, failing, {}, {});
  ASSERT_FALSE(times);
  EXPECT_THAT(times.status().message(), HasSubstr("warmup iteration 0"));
}

TEST(BenchRunner, SummarizeTakesTheSlowestRankPerIteration) {
  SizePlan plan{{4096, 1024}, 0, 3, false};
  // Per rank: 3 Kolo times, 2 MPI times, wrong elements.
  std::vector<double> gathered = {1, 5, 3, 10, 30, 0,  //
                                  4, 2, 6, 20, 10, 2};
  RowResult row = summarizeGathered(gathered, 2, plan, 2);
  EXPECT_EQ(row.shape.bytes, 4096u);
  EXPECT_EQ(row.medianUs, 5.0);  // slowest per iteration: 4 5 6
  EXPECT_EQ(row.p99Us, 6.0);
  ASSERT_TRUE(row.mpiMedianUs.has_value());
  EXPECT_EQ(*row.mpiMedianUs, 25.0);  // slowest per iteration: 20 30
  EXPECT_EQ(*row.mpiP99Us, 30.0);
  EXPECT_EQ(row.wrong, 2u);

  RowResult noMpi = summarizeGathered(std::vector<double>{1, 5, 3, 0, 4, 2, 6, 1}, 2, plan, 0);
  EXPECT_EQ(noMpi.medianUs, 5.0);
  EXPECT_FALSE(noMpi.mpiMedianUs.has_value());
  EXPECT_EQ(noMpi.wrong, 1u);
}

// A whole size on three threads, checking every iteration: no wrong element, and every rank
// ends with the same row (the times were gathered, not taken locally).
TEST(BenchRunner, RunSizeGivesEveryRankTheSameCheckedRow) {
  for (Collective c : {Collective::kAllreduce, Collective::kAlltoall, Collective::kBroadcast}) {
    constexpr int kRanks = 3;
    SizeShape shape = shapeFor(c, DataType::kInt32, kRanks, 12'000);
    SizePlan plan{shape, 1, 4, true};
    std::mutex mu;
    std::vector<RowResult> rows(kRanks);
    auto results = test::runThreadedWorld(kRanks, [&](Communicator& comm) -> Status {
      KOLO_ASSIGN_OR_RETURN(auto bench,
                            CollectiveBench::create(
                                OpConfig{c, DataType::kInt32, ReduceOp::kMax, 1,
                                         coll::AllreduceAlgorithm::kAuto, comm.rank(), comm.size()},
                                shape.bytes));
      KOLO_ASSIGN_OR_RETURN(RowResult row, runSize(comm, *bench, plan, nullptr));
      std::lock_guard lock(mu);
      rows[static_cast<size_t>(comm.rank())] = row;
      return Status::ok();
    });
    for (int r = 0; r < kRanks; ++r) {
      ASSERT_TRUE(results[r].isOk()) << collectiveName(c) << ": " << results[r].toString();
      EXPECT_EQ(rows[r].wrong, 0u) << collectiveName(c) << " rank " << r;
      EXPECT_EQ(rows[r].shape.bytes, shape.bytes);
      EXPECT_EQ(rows[r].medianUs, rows[0].medianUs) << "rank " << r;
      EXPECT_EQ(rows[r].p99Us, rows[0].p99Us) << "rank " << r;
      EXPECT_FALSE(rows[r].mpiMedianUs.has_value());
    }
  }
}

TEST(BenchRunner, DeadPeerFailsTheSizeInsteadOfHanging) {
  test::ThreadedWorldOptions options;
  options.opTimeoutSeconds = 5.0;
  options.faults = std::make_shared<FaultPlan>();
  options.faults->kill(1);
  SizeShape shape = shapeFor(Collective::kAllreduce, DataType::kFloat32, 2, 4096);
  SizePlan plan{shape, 1, 2, false};
  auto results = test::runThreadedWorld(
      2,
      [&](Communicator& comm) -> Status {
        KOLO_ASSIGN_OR_RETURN(
            auto bench, CollectiveBench::create(
                            OpConfig{Collective::kAllreduce, DataType::kFloat32, ReduceOp::kSum, 0,
                                     coll::AllreduceAlgorithm::kAuto, comm.rank(), comm.size()},
                            shape.bytes));
        return runSize(comm, *bench, plan, nullptr).status();
      },
      options);
  ASSERT_FALSE(results[0].isOk());
  EXPECT_THAT(results[0].message(), HasSubstr("barrier before the timed loop"));
  EXPECT_THAT(results[0].message(), HasSubstr("rank 1"));
}

}  // namespace
}  // namespace kolo::bench
