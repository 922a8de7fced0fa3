#include "kolo/core/fusion_planner.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace kolo::core {
namespace {

Response tensor(std::string name, int64_t elements, DataType dtype = DataType::kFloat32) {
  Response p;
  p.tensorNames = {std::move(name)};
  p.dtype = dtype;
  p.tensorElements = {elements};
  return p;
}

// (response index, offset) of each entry, for compact expectations.
std::vector<std::pair<size_t, uint64_t>> layout(const FusedBatch& b) {
  std::vector<std::pair<size_t, uint64_t>> out;
  for (const auto& e : b.entries) out.emplace_back(e.response, e.offset);
  return out;
}

TEST(FusionPlanner, SmallTensorsShareOneAlignedBuffer) {
  FusionPlanner planner;
  std::vector<Response> rs = {tensor("a", 3), tensor("b", 100), tensor("c", 1)};
  auto batches = planner.plan(rs);
  ASSERT_EQ(batches.size(), 1u);
  const FusedBatch& b = batches[0];
  EXPECT_TRUE(b.needsPacking);
  // 12 B at 0, 400 B at 64, 4 B at 512 (each offset rounded up to 64 B).
  EXPECT_EQ(layout(b), (std::vector<std::pair<size_t, uint64_t>>{{0, 0}, {1, 64}, {2, 512}}));
  EXPECT_EQ(b.entries[1].bytes, 400u);
  EXPECT_EQ(b.totalBytes, 516u);
  EXPECT_EQ(b.totalBytes % dataTypeSize(b.dtype), 0u);
}

TEST(FusionPlanner, ThresholdSplitsBatchesInOrder) {
  FusionOptions o;
  o.thresholdBytes = 1024;
  FusionPlanner planner(o);
  // 400 B each: two fit (400 + pad to 448 + 400 = 848), the third starts a new buffer.
  std::vector<Response> rs = {tensor("a", 100), tensor("b", 100), tensor("c", 100),
                              tensor("d", 100), tensor("e", 100)};
  auto batches = planner.plan(rs);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(layout(batches[0]), (std::vector<std::pair<size_t, uint64_t>>{{0, 0}, {1, 448}}));
  EXPECT_EQ(layout(batches[1]), (std::vector<std::pair<size_t, uint64_t>>{{2, 0}, {3, 448}}));
  EXPECT_EQ(layout(batches[2]), (std::vector<std::pair<size_t, uint64_t>>{{4, 0}}));
  EXPECT_TRUE(batches[0].needsPacking);
  EXPECT_FALSE(batches[2].needsPacking);  // a lone tensor runs in place
  EXPECT_EQ(batches[0].totalBytes, 848u);
}

TEST(FusionPlanner, ThresholdZeroDisablesFusion) {
  FusionOptions o;
  o.thresholdBytes = 0;
  FusionPlanner planner(o);
  std::vector<Response> rs = {tensor("a", 1), tensor("b", 2), tensor("c", 3)};
  auto batches = planner.plan(rs);
  ASSERT_EQ(batches.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(batches[i].needsPacking);
    EXPECT_EQ(layout(batches[i]), (std::vector<std::pair<size_t, uint64_t>>{{i, 0}}));
    EXPECT_EQ(batches[i].totalBytes, 4 * (i + 1));
  }
}

TEST(FusionPlanner, LargeTensorsRunInPlaceAndSmallOnesAroundThemFuse) {
  FusionPlanner planner;  // large: >= 1 MiB
  constexpr int64_t kMiBOfFloats = int64_t{256} * 1024;
  std::vector<Response> rs = {tensor("small1", 10), tensor("big", 2 * kMiBOfFloats),
                              tensor("small2", 10), tensor("edge", kMiBOfFloats),
                              tensor("under", kMiBOfFloats - 1)};
  auto batches = planner.plan(rs);
  ASSERT_EQ(batches.size(), 3u);
  // Batches are ordered by their first entry: the fused small ones (0, 2, 4), big, edge.
  EXPECT_EQ(layout(batches[0]),
            (std::vector<std::pair<size_t, uint64_t>>{{0, 0}, {2, 64}, {4, 128}}));
  EXPECT_TRUE(batches[0].needsPacking);
  EXPECT_EQ(layout(batches[1]), (std::vector<std::pair<size_t, uint64_t>>{{1, 0}}));
  EXPECT_FALSE(batches[1].needsPacking);
  EXPECT_EQ(batches[1].totalBytes, 2u << 20);
  EXPECT_EQ(layout(batches[2]), (std::vector<std::pair<size_t, uint64_t>>{{3, 0}}));
  EXPECT_FALSE(batches[2].needsPacking);
}

TEST(FusionPlanner, LargeAllreduceTensorsJoinBatchesWhereNothingIsPacked) {
  FusionOptions o;
  o.largeAllreduceJoins = true;
  FusionPlanner planner(o);
  constexpr int64_t kMiBOfFloats = int64_t{256} * 1024;
  Response scaled = tensor("scaled", 2 * kMiBOfFloats);
  scaled.prescale = 0.5;
  Response gpu = tensor("gpu", 2 * kMiBOfFloats);
  gpu.device = 0;
  std::vector<Response> rs = {tensor("small", 10),        tensor("big", 2 * kMiBOfFloats),
                              scaled,                     gpu,
                              tensor("edge", kMiBOfFloats), tensor("over", 65 * kMiBOfFloats)};
  auto batches = planner.plan(rs);
  // small, big and edge share one batch; scaled and gpu keep the large-tensor rule, and a
  // tensor over the 64 MiB threshold still runs alone.
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(layout(batches[0]),
            (std::vector<std::pair<size_t, uint64_t>>{{0, 0}, {1, 64}, {4, 64 + (2u << 20)}}));
  EXPECT_TRUE(batches[0].needsPacking);
  EXPECT_EQ(layout(batches[1]), (std::vector<std::pair<size_t, uint64_t>>{{2, 0}}));
  EXPECT_EQ(layout(batches[2]), (std::vector<std::pair<size_t, uint64_t>>{{3, 0}}));
  EXPECT_EQ(layout(batches[3]), (std::vector<std::pair<size_t, uint64_t>>{{5, 0}}));
  EXPECT_FALSE(batches[3].needsPacking);
}

TEST(FusionPlanner, OnlyCompatibleTensorsShareABatch) {
  FusionPlanner planner;
  std::vector<Response> rs;
  rs.push_back(tensor("f32", 4));
  rs.push_back(tensor("f16", 4, DataType::kFloat16));
  rs.push_back(tensor("max", 4));
  rs.back().reduceOp = ReduceOp::kMax;
  rs.push_back(tensor("scaled", 4));
  rs.back().postscale = 0.5;
  rs.push_back(tensor("gpu", 4));
  rs.back().device = 0;
  rs.push_back(tensor("set1", 4));
  rs.back().processSetId = 1;
  rs.push_back(tensor("bcast0", 4));
  rs.back().op = OpType::kBroadcast;
  rs.push_back(tensor("bcast1", 4));
  rs.back().op = OpType::kBroadcast;
  rs.back().rootRank = 1;
  rs.push_back(tensor("f32-again", 4));
  auto batches = planner.plan(rs);
  ASSERT_EQ(batches.size(), 8u);
  EXPECT_EQ(layout(batches[0]), (std::vector<std::pair<size_t, uint64_t>>{{0, 0}, {8, 64}}));
  for (size_t i = 1; i < 8; ++i) {
    ASSERT_EQ(batches[i].entries.size(), 1u) << i;
    EXPECT_EQ(batches[i].entries[0].response, i);
  }
  EXPECT_EQ(batches[3].postscale, 0.5);
  EXPECT_EQ(batches[7].rootRank, 1);
}

// Each Adasum tensor is its own vector for the dot products: never fused, with anything.
TEST(FusionPlanner, AdasumTensorsRunAlone) {
  FusionPlanner planner;
  std::vector<Response> rs = {tensor("sum", 4), tensor("ada1", 4), tensor("ada2", 4),
                              tensor("sum-again", 4)};
  rs[1].reduceOp = ReduceOp::kAdasum;
  rs[2].reduceOp = ReduceOp::kAdasum;
  Response grouped = tensor("g0", 4);
  grouped.tensorNames = {"g0", "g1"};
  grouped.tensorElements = {4, 4};
  grouped.reduceOp = ReduceOp::kAdasum;
  rs.push_back(grouped);
  auto batches = planner.plan(rs);
  ASSERT_EQ(batches.size(), 5u);
  EXPECT_EQ(layout(batches[0]), (std::vector<std::pair<size_t, uint64_t>>{{0, 0}, {3, 64}}));
  for (size_t i = 1; i < 5; ++i) {
    ASSERT_EQ(batches[i].entries.size(), 1u) << i;
    EXPECT_FALSE(batches[i].needsPacking) << i;
    EXPECT_EQ(batches[i].reduceOp, ReduceOp::kAdasum) << i;
  }
  EXPECT_EQ(batches[3].entries[0].tensor, 0u);
  EXPECT_EQ(batches[4].entries[0].tensor, 1u);
}

TEST(FusionPlanner, SkipsErrorsAndKeepsOtherOpsSeparate) {
  FusionPlanner planner;
  std::vector<Response> rs;
  rs.push_back(tensor("a", 4));
  rs.push_back(tensor("bad", 4));
  rs.back().errorCode = Code::kMismatch;
  rs.push_back(tensor("gather", 4));
  rs.back().op = OpType::kAllgather;
  rs.push_back(tensor("b", 4));
  Response barrier;
  barrier.op = OpType::kBarrier;
  barrier.tensorNames = {"barrier"};
  rs.push_back(barrier);
  Response group = tensor("g1", 2);
  group.tensorNames.push_back("g2");
  group.tensorElements.push_back(3);
  group.groupId = 4;
  rs.push_back(group);

  auto batches = planner.plan(rs);
  ASSERT_EQ(batches.size(), 3u);
  // 'a', 'b' and both group members fuse (group id is not a batch key).
  EXPECT_EQ(layout(batches[0]),
            (std::vector<std::pair<size_t, uint64_t>>{{0, 0}, {3, 64}, {5, 128}, {5, 192}}));
  EXPECT_EQ(batches[0].entries[2].tensor, 0u);
  EXPECT_EQ(batches[0].entries[3].tensor, 1u);
  EXPECT_EQ(batches[0].totalBytes, 204u);
  EXPECT_EQ(batches[1].op, OpType::kAllgather);
  EXPECT_FALSE(batches[1].needsPacking);
  EXPECT_EQ(batches[2].op, OpType::kBarrier);
  EXPECT_EQ(batches[2].totalBytes, 0u);
}

// Host allgathers and reducescatters fuse with their own kind (the executor packs them
// member-major); device ones run one tensor per batch. An allgather counts its whole gathered
// output against the threshold and the large-tensor cutoff.
TEST(FusionPlanner, AllgathersAndReducescattersFuseByKind) {
  FusionOptions o;
  o.thresholdBytes = 4096;
  o.largeTensorBytes = 2048;
  FusionPlanner planner(o);
  auto gather = [](std::string name, int64_t rowElements, std::vector<int64_t> rows) {
    Response p = tensor(std::move(name), rowElements);
    p.op = OpType::kAllgather;
    p.tensorSizes = std::move(rows);
    return p;
  };
  auto scatter = [](std::string name, int64_t elements, ReduceOp op = ReduceOp::kSum) {
    Response p = tensor(std::move(name), elements);
    p.op = OpType::kReducescatter;
    p.reduceOp = op;
    return p;
  };
  std::vector<Response> rs = {gather("ag1", 4, {1, 2}), scatter("rs1", 100),
                              gather("ag2", 4, {3, 0}), scatter("rs2", 10),
                              scatter("rs-avg", 10, ReduceOp::kAverage),
                              gather("ag-big", 64, {4, 4}),  // 8 rows x 256 B = 2048 B
                              scatter("rs-big", 512), gather("ag-gpu", 4, {1, 1}),
                              gather("ag-gpu2", 4, {1, 1})};
  rs[7].device = 0;
  rs[8].device = 0;
  auto batches = planner.plan(rs);
  ASSERT_EQ(batches.size(), 7u);
  EXPECT_EQ(batches[0].op, OpType::kAllgather);
  ASSERT_EQ(batches[0].entries.size(), 2u);
  EXPECT_EQ(batches[0].entries[1].response, 2u);
  EXPECT_EQ(batches[0].entries[0].bytes, 3u * 16);  // 3 gathered rows of 16 B
  EXPECT_TRUE(batches[0].needsPacking);
  EXPECT_EQ(batches[1].op, OpType::kReducescatter);
  ASSERT_EQ(batches[1].entries.size(), 2u);
  EXPECT_EQ(batches[1].entries[1].response, 3u);
  EXPECT_TRUE(batches[1].needsPacking);
  EXPECT_EQ(batches[2].reduceOp, ReduceOp::kAverage);  // another reduce op: its own batch
  for (size_t i = 2; i < 7; ++i) {
    EXPECT_EQ(batches[i].entries.size(), 1u) << i;
    EXPECT_FALSE(batches[i].needsPacking) << i;
  }
  EXPECT_EQ(batches[3].entries[0].response, 5u);  // at the large-tensor cutoff: alone
  EXPECT_EQ(batches[4].entries[0].response, 6u);
  EXPECT_EQ(batches[5].entries[0].response, 7u);  // device tensors: one per batch
  EXPECT_EQ(batches[6].entries[0].response, 8u);
}

TEST(FusionPlanner, OptionsFromEnvironment) {
  ::unsetenv("KOLO_FUSION_THRESHOLD");
  ::unsetenv("KOLO_FUSION_LARGE_TENSOR");
  ::setenv("HOROVOD_FUSION_THRESHOLD", "1048576", 1);
  EXPECT_EQ(fusionOptionsFromEnv().thresholdBytes, 1u << 20);
  ::setenv("KOLO_FUSION_THRESHOLD", "32M", 1);
  ::setenv("KOLO_FUSION_LARGE_TENSOR", "256k", 1);
  FusionOptions o = fusionOptionsFromEnv();
  EXPECT_EQ(o.thresholdBytes, 32u << 20);
  EXPECT_EQ(o.largeTensorBytes, 256u << 10);
  ::setenv("KOLO_FUSION_THRESHOLD", "lots", 1);
  EXPECT_EQ(fusionOptionsFromEnv().thresholdBytes, 64u << 20);
  ::unsetenv("KOLO_FUSION_THRESHOLD");
  ::unsetenv("KOLO_FUSION_LARGE_TENSOR");
  ::unsetenv("HOROVOD_FUSION_THRESHOLD");
  EXPECT_EQ(fusionOptionsFromEnv().thresholdBytes, 64u << 20);
}

}  // namespace
}  // namespace kolo::core
