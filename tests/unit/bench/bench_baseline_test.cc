#include "bench_baseline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace kolo::bench {
namespace {

using ::testing::HasSubstr;

nlohmann::json side(double busbw) {
  return {{"median_us", 1.0}, {"busbw", busbw}};
}

nlohmann::json sweep(const std::string& collective, double oop8, double ip8, double oop1m,
                     double ip1m) {
  return {{"collective", collective},
          {"results",
           {{{"bytes", 8}, {"out_of_place", side(oop8)}, {"in_place", side(ip8)}},
            {{"bytes", 1048576}, {"out_of_place", side(oop1m)}, {"in_place", side(ip1m)}}}}};
}

TEST(BenchBaseline, DropsBeyondTheLimitAreRegressionsNamingSizeAndSide) {
  nlohmann::json now = sweep("allreduce", 1.0, 1.0, 10.0, 8.5);
  nlohmann::json before = sweep("allreduce", 1.05, 1.0, 10.0, 10.0);
  auto check = compareWithBaseline(now, before, 10.0);
  ASSERT_TRUE(check) << check.status().toString();
  EXPECT_EQ(check->compared, 4u);
  ASSERT_EQ(check->regressions.size(), 1u);  // 1.0 vs 1.05 is within 10 %; 8.5 vs 10 is not
  EXPECT_EQ(check->regressions[0].bytes, 1048576u);
  EXPECT_EQ(check->regressions[0].side, "in-place");
  EXPECT_DOUBLE_EQ(check->regressions[0].dropPercent, 15.0);
  std::string text = formatBaselineCheck(*check, "old.json", 10.0);
  EXPECT_THAT(text, HasSubstr("# Regression : size 1048576 in-place: busbw 8.5 GB/s is 15.0% "
                              "below the baseline's 10 GB/s\n"));
  EXPECT_THAT(text, HasSubstr("# Baseline old.json : 4 busbw figures compared, max regress 10% "
                              ": FAILED\n"));
  // A looser limit lets the same drop pass.
  auto loose = compareWithBaseline(now, before, 20.0);
  ASSERT_TRUE(loose);
  EXPECT_TRUE(loose->regressions.empty());
  EXPECT_THAT(formatBaselineCheck(*loose, "old.json", 20.0), HasSubstr(": OK\n"));
}

TEST(BenchBaseline, FasterOrMissingSidesPass) {
  nlohmann::json now = sweep("allgather", 2.0, 2.0, 20.0, 20.0);
  now["results"][1]["in_place"] = nullptr;  // not measured this time
  auto check = compareWithBaseline(now, sweep("allgather", 1.0, 1.0, 10.0, 10.0), 0.0);
  ASSERT_TRUE(check);
  EXPECT_EQ(check->compared, 3u);
  EXPECT_TRUE(check->regressions.empty());
}

TEST(BenchBaseline, OlderSingleBusbwFilesAreComparedAtTheTopLevel) {
  nlohmann::json before = {{"collective", "allreduce"},
                           {"results", {{{"bytes", 8}, {"busbw", 5.0}}}}};
  nlohmann::json now = {{"collective", "allreduce"},
                        {"results", {{{"bytes", 8}, {"busbw", 1.0}, {"in_place", side(1.0)}}}}};
  auto check = compareWithBaseline(now, before, 50.0);
  ASSERT_TRUE(check);
  ASSERT_EQ(check->regressions.size(), 1u);
  EXPECT_EQ(check->regressions[0].side, "busbw");
}

TEST(BenchBaseline, MismatchedOrEmptyBaselinesAreErrors) {
  nlohmann::json now = sweep("allreduce", 1, 1, 1, 1);
  auto other = compareWithBaseline(now, sweep("alltoall", 1, 1, 1, 1), 10.0);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(other.status().message(), HasSubstr("measured alltoall, this run allreduce"));
  nlohmann::json disjoint = sweep("allreduce", 1, 1, 1, 1);
  disjoint["results"][0]["bytes"] = 16;
  disjoint["results"][1]["bytes"] = 32;
  auto none = compareWithBaseline(now, disjoint, 10.0);
  ASSERT_FALSE(none);
  EXPECT_THAT(none.status().message(), HasSubstr("no size of this run is in the baseline"));
  auto notSweep = compareWithBaseline(now, nlohmann::json{{"workload", "resnet50"}}, 10.0);
  ASSERT_FALSE(notSweep);
  EXPECT_THAT(notSweep.status().message(), HasSubstr("no \"results\" array"));
}

TEST(BenchBaseline, ReadJsonFileNamesThePath) {
  auto missing = readJsonFile("/nonexistent-kolo-dir/base.json");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent-kolo-dir/base.json"));
  std::string path = ::testing::TempDir() + "kolo_bench_baseline_test.json";
  {
    std::ofstream out(path);
    out << "{not json";
  }
  auto broken = readJsonFile(path);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(broken.status().message(), HasSubstr("is not JSON"));
  {
    std::ofstream out(path);
    out << R"({"collective": "allreduce", "results": []})";
  }
  auto good = readJsonFile(path);
  ASSERT_TRUE(good);
  EXPECT_EQ((*good)["collective"], "allreduce");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kolo::bench
