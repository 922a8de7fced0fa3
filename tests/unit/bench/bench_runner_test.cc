#include "bench_runner.h"

#include <fmt/format.h>
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
  SideResult row = summarizeGathered(gathered, 2, plan, 2);
  EXPECT_EQ(row.kolo.medianUs, 5.0);  // slowest per iteration: 4 5 6
  EXPECT_EQ(row.kolo.p99Us, 6.0);
  ASSERT_TRUE(row.mpi.has_value());
  EXPECT_EQ(row.mpi->medianUs, 25.0);  // slowest per iteration: 20 30
  EXPECT_EQ(row.mpi->p99Us, 30.0);
  EXPECT_EQ(row.kolo.wrong, 2u);

  SideResult noMpi = summarizeGathered(std::vector<double>{1, 5, 3, 0, 4, 2, 6, 1}, 2, plan, 0);
  EXPECT_EQ(noMpi.kolo.medianUs, 5.0);
  EXPECT_FALSE(noMpi.mpi.has_value());
  EXPECT_EQ(noMpi.kolo.wrong, 1u);
}

// A whole size on three threads, out of place and in place, checking every iteration: no
// wrong element, and every rank ends with the same row (the times were gathered, not taken
// locally).
TEST(BenchRunner, RunSizeGivesEveryRankTheSameCheckedRow) {
  for (Collective c : {Collective::kAllreduce, Collective::kAllgather, Collective::kReduceScatter,
                       Collective::kAlltoall, Collective::kBroadcast}) {
    for (bool inPlace : {false, true}) {
      constexpr int kRanks = 3;
      SizeShape shape = shapeFor(c, DataType::kInt32, kRanks, 12'000);
      SizePlan plan{shape, 1, 4, true};
      std::mutex mu;
      std::vector<SideResult> rows(kRanks);
      auto results = test::runThreadedWorld(kRanks, [&](Communicator& comm) -> Status {
        KOLO_ASSIGN_OR_RETURN(
            auto bench, CollectiveBench::create(OpConfig{c, DataType::kInt32, ReduceOp::kMax, 1,
                                                         "auto", comm.rank(), comm.size(), inPlace},
                                                shape.bytes));
        KOLO_ASSIGN_OR_RETURN(SideResult row, runSize(comm, *bench, plan, nullptr));
        std::lock_guard lock(mu);
        rows[static_cast<size_t>(comm.rank())] = row;
        return Status::ok();
      });
      const std::string what = fmt::format("{} {}", collectiveName(c), inPlace ? "in" : "out");
      for (int r = 0; r < kRanks; ++r) {
        ASSERT_TRUE(results[r].isOk()) << what << ": " << results[r].toString();
        EXPECT_EQ(rows[r].kolo.wrong, 0u) << what << " rank " << r;
        EXPECT_EQ(rows[r].kolo.medianUs, rows[0].kolo.medianUs) << "rank " << r;
        EXPECT_EQ(rows[r].kolo.p99Us, rows[0].kolo.p99Us) << "rank " << r;
        EXPECT_FALSE(rows[r].mpi.has_value());
      }
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
            auto bench,
            CollectiveBench::create(OpConfig{Collective::kAllreduce, DataType::kFloat32,
                                             ReduceOp::kSum, 0, "auto", comm.rank(), comm.size()},
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
