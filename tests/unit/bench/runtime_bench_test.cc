// The runtime path over sessions (kolo/bench_interface.h) on threaded loopback worlds: the same
// checked results as the raw path, and the workload replay's checked step.
#include "runtime_bench.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "fusion_sweep.h"
#include "kolo/bench_interface.h"
#include "unit/engine/engine_world.h"
#include "workload_bench.h"

namespace kolo::bench {
namespace {

using ::testing::HasSubstr;

// One session per rank (openBenchSession over a loopback communicator), ranks as threads, as
// kolo-bench opens it over the world it connected.
std::vector<Status> runSessions(int n, const std::function<Status(const Session&)>& body) {
  auto transports = makeLoopbackWorld(n, nullptr);
  return test::runRankThreads(
      n,
      [&](int r) {
        CommunicatorOptions options;
        options.timeoutSeconds = 20.0;
        auto comm =
            std::make_shared<Communicator>(transports[static_cast<size_t>(r)], nullptr, options);
        auto session = openBenchSession(comm);
        if (!session) return session.status();
        Status status = body(*session);
        Status stopped = session->shutdown();
        return status.isOk() ? stopped : status;
      },
      60.0, "session world");
}

TEST(RuntimeBench, AllreduceThroughTheSessionIsExactAndPoisonIsCaught) {
  struct Case {
    DataType type;
    ReduceOp op;
    bool inPlace;
  };
  const Case cases[] = {{DataType::kFloat32, ReduceOp::kSum, true},
                        {DataType::kInt32, ReduceOp::kMax, false},
                        {DataType::kBFloat16, ReduceOp::kAverage, true}};
  for (int n : {1, 2, 3}) {
    for (const Case& c : cases) {
      auto results = runSessions(n, [&](const Session& session) -> Status {
        OpConfig config{Collective::kAllreduce, c.type,         c.op,           0, "auto",
                        session.rank(),         session.size(), c.inPlace};
        KOLO_ASSIGN_OR_RETURN(auto bench, CollectiveBench::create(config, 40000));
        for (uint64_t bytes : {uint64_t{8}, uint64_t{4004}, uint64_t{40000}}) {
          SizeShape shape = shapeFor(Collective::kAllreduce, c.type, n, bytes);
          bench->prepare(shape);
          // The check is meaningful: rank 0's unreduced inputs are wrong once n > 1 (the
          // last rank of an odd world contributes the average itself, so not every rank).
          uint64_t before = bench->countWrong(shape);
          KOLO_CHECK(n == 1 || session.rank() != 0 || before > 0,
                     "rank {}: unreduced data passed the check", session.rank());
          KOLO_RETURN_IF_ERROR(runtimeAllreduce(session, *bench, shape, "t", 20));
          uint64_t wrong = bench->countWrong(shape);
          KOLO_CHECK(wrong == 0, "rank {} {} B {} {}: {} wrong of {}", session.rank(), bytes,
                     dataTypeName(c.type), static_cast<int>(c.op), wrong, shape.count);
          SizePlan plan{shape, 1, 3, true};
          KOLO_ASSIGN_OR_RETURN(SideResult row, runRuntimeSize(session, *bench, plan, 20, nullptr));
          KOLO_CHECK(row.kolo.wrong == 0, "rank {}: row of {} B has {} wrong", session.rank(),
                     bytes, row.kolo.wrong);
          KOLO_CHECK(row.kolo.medianUs > 0 && row.kolo.p99Us >= row.kolo.medianUs && !row.mpi,
                     "rank {}: row times {} / {}", session.rank(), row.kolo.medianUs,
                     row.kolo.p99Us);
        }
        return Status::ok();
      });
      test::expectAllOk(results);
    }
  }
}

TEST(RuntimeBench, MaxAndSumAcrossRanksCombineEveryRank) {
  auto results = runSessions(3, [](const Session& session) -> Status {
    const double r = session.rank();
    std::vector<double> mine = {r, 10 - r, r == 1 ? 50.0 : 1.0};
    KOLO_ASSIGN_OR_RETURN(auto slowest, maxAcrossRanks(session, "times", mine));
    KOLO_CHECK((slowest == std::vector<double>{2, 10, 50}), "rank {}: max {} {} {}", session.rank(),
               slowest[0], slowest[1], slowest[2]);
    KOLO_ASSIGN_OR_RETURN(uint64_t sum, sumAcrossRanks(session, "wrong", session.rank() + 1));
    KOLO_CHECK(sum == 6, "rank {}: sum {}", session.rank(), sum);
    return Status::ok();
  });
  test::expectAllOk(results);
}

TEST(WorkloadBench, StepsAreCheckedAndEveryRankGetsTheSameResult) {
  auto workload =
      parseWorkload("head.bias 10\nhead.weight 10x300\nbody 1000x1100\nstem 7\n", "tiny.txt");
  ASSERT_TRUE(workload) << workload.status().toString();
  for (int n : {2, 3}) {
    std::vector<WorkloadResult> results(static_cast<size_t>(n));
    auto statuses = runSessions(n, [&](const Session& session) -> Status {
      WorkloadOptions options;
      options.iterations = 3;
      options.warmup = 1;
      options.timeoutSeconds = 20;
      KOLO_ASSIGN_OR_RETURN(results[static_cast<size_t>(session.rank())],
                            runWorkload(session, *workload, options, nullptr));
      return Status::ok();
    });
    test::expectAllOk(statuses);
    for (const auto& r : results) {
      EXPECT_EQ(r.wrong, 0u);
      EXPECT_EQ(r.tensors, 4u);
      EXPECT_EQ(r.bytes, 4u * (10 + 3000 + 1100000 + 7));
      EXPECT_EQ(r.worldSize, n);
      // What benchSessionSettings reads back: the built-in defaults (no KOLO_* set here).
      EXPECT_EQ(r.fusionThresholdBytes, uint64_t{64} << 20);
      EXPECT_EQ(r.largeTensorBytes, uint64_t{1} << 20);
      EXPECT_GT(r.kolo.medianMs, 0.0);
      EXPECT_EQ(r.kolo.medianMs, results[0].kolo.medianMs);
      EXPECT_FALSE(r.mpiPerTensor);
    }
    std::string report = formatWorkloadReport(results[0], "host (n ranks)", "loopback");
    EXPECT_THAT(report, HasSubstr("# kolo-bench workload tiny: 4 float32 tensors, 1103017"));
    EXPECT_THAT(report, HasSubstr("# Out of bounds values : 0 OK"));
    EXPECT_THAT(report, HasSubstr("run with KOLO_TIMELINE=FILE"));
    nlohmann::json json = workloadJson(results[0]);
    EXPECT_EQ(json["median_step_ms"], results[0].kolo.medianMs);
    EXPECT_EQ(json["parameters"], 1103017);
  }
}

TEST(WorkloadBench, ReportComparesWithTheFasterMpiStrategyAndShowsTheBreakdown) {
  WorkloadResult r;
  r.workload = "resnet50";
  r.tensors = 161;
  r.elements = 25557032;
  r.bytes = 102228128;
  r.worldSize = 2;
  r.kolo = {20.0, 22.0, 19.0};
  r.mpiPerTensor = StepTimes{25.0, 26.0, 24.0};
  r.mpiPacked = StepTimes{40.0, 41.0, 39.0};
  r.mpiPackCopies = StepTimes{15.0, 16.0, 14.0};
  r.breakdown = TimelineBreakdown{120.0, 20.0, 40, 10};
  r.timelineSteps = 10;
  r.localAllStepsMs = 200.0;
  std::string report = formatWorkloadReport(r, "host (2 ranks)", "shm");
  EXPECT_THAT(report, HasSubstr("# kolo / faster mpi (per tensor): 0.80"));
  EXPECT_THAT(report, HasSubstr("mean of 10 steps (20.00 ms, timeline on): "
                                "collectives 12.00 ms (60%), fusion copies 2.00 ms (10%), "
                                "negotiation/queueing/rest 6.00 ms (30%)"));
  EXPECT_THAT(report, HasSubstr("# median step : 20.000 ms"));
  EXPECT_THAT(report, HasSubstr("  of which pack+unpack copies"));
  nlohmann::json json = workloadJson(r);
  EXPECT_DOUBLE_EQ(json["kolo_over_faster_mpi"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(json["mpi_packed_copies"]["median_ms"].get<double>(), 15.0);
  EXPECT_DOUBLE_EQ(json["timeline"]["copy_ms_per_step"].get<double>(), 2.0);
}

// --sweep-fusion: a fresh session per setting on one communicator per rank (re-initialised
// in-process), every setting checked, every rank with the same figures.
TEST(FusionSweep, EverySettingRunsOnAFreshSessionOverOneCommunicator) {
  auto workload = parseWorkload("a 10\nb 300x20\nc 70000\n", "tiny.txt");
  ASSERT_TRUE(workload) << workload.status().toString();
  constexpr int kRanks = 2;
  const uint64_t thresholds[] = {0, uint64_t{1} << 20};
  const double cycles[] = {0.5, 2.0};
  const std::vector<FusionSetting> grid = fusionGrid(thresholds, cycles);
  ASSERT_EQ(grid.size(), 4u);
  EXPECT_EQ(grid[1].thresholdBytes, 0u);
  EXPECT_EQ(grid[1].cycleTimeMs, 2.0);
  EXPECT_EQ(grid[2].thresholdBytes, uint64_t{1} << 20);

  auto transports = makeLoopbackWorld(kRanks, nullptr);
  std::vector<Expected<FusionSweepResult>> results(kRanks, Status(Code::kInternal, "not run"));
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      CommunicatorOptions options;
      options.timeoutSeconds = 20.0;
      auto comm =
          std::make_shared<Communicator>(transports[static_cast<size_t>(r)], nullptr, options);
      WorkloadOptions workloadOptions;
      workloadOptions.iterations = 2;
      workloadOptions.warmup = 1;
      workloadOptions.timeoutSeconds = 20;
      results[static_cast<size_t>(r)] =
          runFusionSweep(comm, BenchSessionConfig{}, *workload, workloadOptions, grid);
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < kRanks; ++r) {
    ASSERT_TRUE(results[r]) << "rank " << r << ": " << results[r].status().toString();
    const FusionSweepResult& sweep = *results[r];
    ASSERT_EQ(sweep.points.size(), grid.size());
    EXPECT_EQ(sweep.largeTensorBytes, uint64_t{1} << 20);
    EXPECT_EQ(fusionSweepWrong(sweep), 0u);
    for (size_t i = 0; i < grid.size(); ++i) {
      EXPECT_EQ(sweep.points[i].setting.thresholdBytes, grid[i].thresholdBytes);
      EXPECT_GT(sweep.points[i].times.medianMs, 0.0);
      EXPECT_EQ(sweep.points[i].times.medianMs, results[0]->points[i].times.medianMs);
    }
  }
}

TEST(FusionSweep, ReportNamesTheFastestSettingAsEnvironmentVariables) {
  FusionSweepResult r;
  r.workload = "resnet50";
  r.tensors = 161;
  r.bytes = 100'000'000;
  r.worldSize = 2;
  r.largeTensorBytes = 1 << 20;
  r.points = {{{0, 1.0}, {30.0, 31.0, 29.0}, 0},
              {{uint64_t{4} << 20, 1.0}, {20.0, 22.0, 19.0}, 0},
              {{uint64_t{64} << 20, 5.0}, {20.0, 21.0, 19.0}, 0}};
  EXPECT_EQ(bestFusionPoint(r.points), 1u);  // the first of equal medians
  std::string report = formatFusionSweep(r, "vm (2 ranks)", "shm");
  EXPECT_THAT(report, HasSubstr("# best : KOLO_FUSION_THRESHOLD=4194304 KOLO_CYCLE_TIME=1 "
                                "(20.00 ms per step, 5.00 GB/s)"));
  EXPECT_THAT(report, HasSubstr("0 (off)"));
  EXPECT_THAT(report, HasSubstr("1.50"));  // 30 ms against the best 20
  EXPECT_THAT(report, HasSubstr("# Out of bounds values : 0 OK"));
  r.points[2].wrong = 4;
  EXPECT_THAT(formatFusionSweep(r, "vm", "shm"), HasSubstr("# Out of bounds values : 4 FAILED"));
  nlohmann::json json = fusionSweepJson(r);
  EXPECT_EQ(json["kind"], "fusion_sweep");
  EXPECT_EQ(json["best"]["fusion_threshold_bytes"], uint64_t{4} << 20);
  ASSERT_EQ(json["points"].size(), 3u);
  EXPECT_EQ(json["points"][2]["wrong"], 4);
}

}  // namespace
}  // namespace kolo::bench
