#include "bench_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kolo::bench {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Expected<BenchOptions> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "kolo-bench");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parseBenchOptions(static_cast<int>(argv.size()), argv.data());
}

TEST(BenchOptions, DefaultsFollowNcclTests) {
  auto options = parse({});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_EQ(options->collective, Collective::kAllreduce);
  EXPECT_EQ(options->minBytes, 8u);
  EXPECT_EQ(options->maxBytes, 128u << 20);
  EXPECT_EQ(options->stepFactor, 2.0);
  EXPECT_EQ(options->stepBytes, 0u);
  EXPECT_FALSE(options->iterations.has_value());
  EXPECT_FALSE(options->warmup.has_value());
  EXPECT_EQ(options->dtype, DataType::kFloat32);
  EXPECT_EQ(options->op, ReduceOp::kSum);
  EXPECT_EQ(options->algorithmName, "auto");
  EXPECT_FALSE(options->checkEveryIteration);
  EXPECT_FALSE(options->compareMpi);
  EXPECT_FALSE(options->helpRequested);
}

TEST(BenchOptions, ParsesEveryOption) {
  auto options = parse({"reducescatter",
                        "-b",
                        "1K",
                        "-e",
                        "256M",
                        "-f",
                        "4",
                        "-n",
                        "7",
                        "-w",
                        "2",
                        "-d",
                        "bf16",
                        "-o",
                        "max",
                        "-r",
                        "1",
                        "--algo",
                        "RING",
                        "--check",
                        "--json",
                        "out.json",
                        "--csv",
                        "out.csv",
                        "--compare",
                        "mpi"});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_EQ(options->collective, Collective::kReduceScatter);
  EXPECT_EQ(options->minBytes, 1024u);
  EXPECT_EQ(options->maxBytes, 256u << 20);
  EXPECT_EQ(options->stepFactor, 4.0);
  EXPECT_EQ(options->iterations, 7);
  EXPECT_EQ(options->warmup, 2);
  EXPECT_EQ(options->dtype, DataType::kBFloat16);
  EXPECT_EQ(options->op, ReduceOp::kMax);
  EXPECT_EQ(options->root, 1);
  EXPECT_EQ(options->algorithmName, "ring");
  EXPECT_TRUE(options->checkEveryIteration);
  EXPECT_EQ(options->jsonPath, "out.json");
  EXPECT_EQ(options->csvPath, "out.csv");
  EXPECT_TRUE(options->compareMpi);
}

TEST(BenchOptions, AcceptsCollectiveSpellings) {
  EXPECT_EQ(parseCollective("reduce_scatter"), Collective::kReduceScatter);
  EXPECT_EQ(parseCollective("Broadcast"), Collective::kBroadcast);
  EXPECT_EQ(parseCollective("bcast"), Collective::kBroadcast);
  EXPECT_EQ(parseCollective("alltoall"), Collective::kAlltoall);
  EXPECT_EQ(parseCollective("allgather"), Collective::kAllgather);
  EXPECT_FALSE(parseCollective("gather").has_value());
  for (auto c : {Collective::kAllreduce, Collective::kAllgather, Collective::kBroadcast,
                 Collective::kReduceScatter, Collective::kAlltoall}) {
    EXPECT_EQ(parseCollective(collectiveName(c)), c);
  }
}

TEST(BenchOptions, StepBytesReplacesFactor) {
  auto options = parse({"-b", "0", "-e", "12", "-i", "4"});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_EQ(options->stepBytes, 4u);
  EXPECT_THAT(
      sizeSweep(options->minBytes, options->maxBytes, options->stepFactor, options->stepBytes),
      ElementsAre(0u, 4u, 8u, 12u));
}

void expectInvalid(std::vector<std::string> args, const std::string& needle) {
  auto options = parse(args);
  ASSERT_FALSE(options) << "accepted: " << ::testing::PrintToString(args);
  EXPECT_EQ(options.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(options.status().message(), HasSubstr(needle));
}

TEST(BenchOptions, RejectsMalformedArgumentsNamingThem) {
  expectInvalid({"-b", "8X"}, "-b '8X'");
  expectInvalid({"-e", "lots"}, "-e 'lots'");
  expectInvalid({"-b", "1M", "-e", "1K"}, "-b 1048576 is larger than -e 1024");
  expectInvalid({"gather"}, "unknown collective 'gather'");
  expectInvalid({"-f", "1"}, "-f 1 must be a finite factor above 1");
  expectInvalid({"-n", "0"}, "-n 0 must be at least 1");
  expectInvalid({"-w", "-1"}, "-w -1 must not be negative");
  expectInvalid({"-d", "complex64"}, "unknown datatype 'complex64'");
  expectInvalid({"-o", "xor"}, "unknown reduction op 'xor'");
  expectInvalid({"-r", "-2"}, "-r -2 must not be negative");
  expectInvalid({"--compare", "nccl"}, "--compare 'nccl' is not supported");
  expectInvalid({"--bound", "--path", "runtime"}, "--bound runs on the raw path only");
  expectInvalid({"--no-such-flag"}, "--no-such-flag");
  expectInvalid({"-n", "many"}, "many");
}

TEST(BenchOptions, HelpDocumentsLargeSizeIterations) {
  auto options = parse({"--help"});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_TRUE(options->helpRequested);
  EXPECT_THAT(options->helpText, HasSubstr("above 64 MiB"));
  EXPECT_THAT(options->helpText, HasSubstr("--compare"));
  EXPECT_THAT(options->helpText, HasSubstr("--algo"));
}

TEST(BenchOptions, FewerDefaultIterationsForLargeSizes) {
  BenchOptions defaults;
  EXPECT_EQ(timedIterationsFor(defaults, 8), kDefaultIterations);
  EXPECT_EQ(timedIterationsFor(defaults, 64u << 20), kDefaultIterations);
  EXPECT_EQ(timedIterationsFor(defaults, 128u << 20), 10);
  EXPECT_EQ(timedIterationsFor(defaults, 256u << 20), 5);
  EXPECT_EQ(timedIterationsFor(defaults, uint64_t{4} << 30), 5);
  EXPECT_EQ(warmupIterationsFor(defaults, 64u << 20), kDefaultWarmup);
  EXPECT_EQ(warmupIterationsFor(defaults, 128u << 20), 2);
  EXPECT_EQ(warmupIterationsFor(defaults, 1u << 30), 1);

  BenchOptions explicitCounts;
  explicitCounts.iterations = 50;
  explicitCounts.warmup = 0;
  EXPECT_EQ(timedIterationsFor(explicitCounts, 1u << 30), 50);
  EXPECT_EQ(warmupIterationsFor(explicitCounts, 1u << 30), 0);
}

TEST(SizeSweep, MultipliesUpToAndIncludingMax) {
  EXPECT_THAT(sizeSweep(8, 128, 2.0, 0), ElementsAre(8u, 16u, 32u, 64u, 128u));
  EXPECT_THAT(sizeSweep(8, 100, 2.0, 0), ElementsAre(8u, 16u, 32u, 64u));
  EXPECT_THAT(sizeSweep(8, 256u << 20, 4.0, 0).size(), 13u);
  EXPECT_THAT(sizeSweep(8, 8, 2.0, 0), ElementsAre(8u));
}

TEST(SizeSweep, AdvancesWhenTheFactorDoesNotGrowTheSize) {
  EXPECT_THAT(sizeSweep(8, 12, 1.1, 0), ElementsAre(8u, 9u, 10u, 11u, 12u));
  EXPECT_THAT(sizeSweep(0, 2, 2.0, 0), ElementsAre(0u, 1u, 2u));
}

TEST(SizeSweep, StopsAtTheTopOfTheRange) {
  constexpr uint64_t kMax = UINT64_MAX;
  EXPECT_THAT(sizeSweep(kMax - 1, kMax, 2.0, 0), ElementsAre(kMax - 1));
  EXPECT_THAT(sizeSweep(kMax - 1, kMax, 2.0, 1), ElementsAre(kMax - 1, kMax));
  EXPECT_THAT(sizeSweep(kMax - 3, kMax, 2.0, 5), ElementsAre(kMax - 3));
}

TEST(SizeShape, RoundsToElementsAndToWorldBlocks) {
  EXPECT_EQ(shapeFor(Collective::kAllreduce, DataType::kFloat32, 3, 10).count, 2u);
  EXPECT_EQ(shapeFor(Collective::kAllreduce, DataType::kFloat32, 3, 10).bytes, 8u);
  EXPECT_EQ(shapeFor(Collective::kBroadcast, DataType::kInt8, 3, 7).count, 7u);
  // 32 B of float32 = 8 elements, 6 after rounding to a multiple of 3 ranks.
  for (auto c : {Collective::kAllgather, Collective::kReduceScatter, Collective::kAlltoall}) {
    SizeShape shape = shapeFor(c, DataType::kFloat32, 3, 32);
    EXPECT_EQ(shape.count, 6u) << collectiveName(c);
    EXPECT_EQ(shape.bytes, 24u) << collectiveName(c);
  }
  EXPECT_EQ(shapeFor(Collective::kAllgather, DataType::kFloat64, 4, 16).count, 0u);
}

TEST(SizeShape, SweepDropsSizesThatRoundToTheSameShape) {
  BenchOptions options;
  options.collective = Collective::kAllgather;
  options.minBytes = 4;
  options.maxBytes = 64;
  auto shapes = shapedSweep(options, 4);  // 4, 8 -> 0 B; 16, 32, 64 stay
  std::vector<uint64_t> bytes;
  for (const auto& s : shapes) bytes.push_back(s.bytes);
  EXPECT_THAT(bytes, ElementsAre(0u, 16u, 32u, 64u));
}

TEST(BenchOptions, PathAndWorkload) {
  auto options = parse({});
  ASSERT_TRUE(options);
  EXPECT_EQ(options->path, BenchPath::kRaw);
  EXPECT_TRUE(options->workload.empty());

  options = parse({"allreduce", "--path", "Runtime", "-b", "8", "-e", "8"});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_EQ(options->path, BenchPath::kRuntime);
  EXPECT_EQ(benchPathName(options->path), "runtime");

  options = parse({"--workload", "resnet50", "-n", "4", "-w", "1", "--json", "w.json"});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_EQ(options->workload, "resnet50");
  EXPECT_EQ(options->path, BenchPath::kRuntime);  // a workload always runs through the Engine
  EXPECT_EQ(options->iterations, 4);
  EXPECT_EQ(options->jsonPath, "w.json");

  options = parse({"--path", "fast"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("--path 'fast' is not raw or runtime"));
  options = parse({"broadcast", "--path", "runtime"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("allreduce only, not broadcast"));
}

TEST(BenchOptions, PlacementChoosesTheColumnGroups) {
  auto options = parse({});
  ASSERT_TRUE(options);
  EXPECT_EQ(options->placement, Placement::kBoth);
  options = parse({"--inplace", "1"});
  ASSERT_TRUE(options);
  EXPECT_EQ(options->placement, Placement::kInPlace);
  options = parse({"alltoall", "--inplace", "0"});
  ASSERT_TRUE(options);
  EXPECT_EQ(options->placement, Placement::kOutOfPlace);
  options = parse({"broadcast", "--inplace", "0"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("broadcast has no out-of-place form"));
  options = parse({"--inplace", "sometimes"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("--inplace 'sometimes'"));
}

TEST(BenchOptions, BaselineAndMaxRegress) {
  auto options = parse({"--baseline", "old.json", "--max-regress", "5"});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_EQ(options->baselinePath, "old.json");
  EXPECT_EQ(options->maxRegressPercent, 5.0);
  options = parse({"--baseline", "old.json"});
  ASSERT_TRUE(options);
  EXPECT_EQ(options->maxRegressPercent, 10.0);
  options = parse({"--baseline", "old.json", "--max-regress", "150"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("--max-regress 150 is not a percentage"));
}

TEST(BenchOptions, ShardedModeNeedsAWorkload) {
  auto options = parse({"--workload", "resnet50"});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_EQ(options->workloadMode, "allreduce");
  options = parse({"--workload", "bert-base", "--mode", "sharded"});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_EQ(options->workloadMode, "sharded");
  options = parse({"--mode", "sharded"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("--mode sharded needs --workload"));
  options = parse({"--workload", "resnet50", "--mode", "sharded", "--autotune"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("without --sweep-fusion and --autotune"));
  options = parse({"--workload", "resnet50", "--mode", "zero3"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("zero3"));
}

TEST(BenchOptions, SweepFusionNeedsAWorkloadAndHasADefaultGrid) {
  auto options = parse({"--workload", "resnet50", "--sweep-fusion"});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_TRUE(options->sweepFusion);
  EXPECT_EQ(options->sweepThresholds,
            (std::vector<uint64_t>{0, 1u << 20, 4u << 20, 16u << 20, 64u << 20, 128u << 20}));
  EXPECT_EQ(options->sweepCycleTimesMs, (std::vector<double>{0.5, 1.0, 5.0}));
  options = parse({"--workload", "bert-base", "--sweep-fusion", "--sweep-thresholds", "0,2M",
                   "--sweep-cycles", "1,10"});
  ASSERT_TRUE(options) << options.status().toString();
  EXPECT_EQ(options->sweepThresholds, (std::vector<uint64_t>{0, 2u << 20}));
  EXPECT_EQ(options->sweepCycleTimesMs, (std::vector<double>{1.0, 10.0}));
  options = parse({"--sweep-fusion"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("--sweep-fusion needs --workload"));
  options = parse({"--workload", "resnet50", "--sweep-thresholds", "lots"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("--sweep-thresholds 'lots'"));
  options = parse({"--workload", "resnet50", "--sweep-cycles", "0"});
  ASSERT_FALSE(options);
  EXPECT_THAT(options.status().message(), HasSubstr("--sweep-cycles 0 must be a positive"));
}

}  // namespace
}  // namespace kolo::bench
