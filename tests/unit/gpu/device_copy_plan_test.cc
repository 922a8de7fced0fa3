// Fusion-buffer planning for the device path, checked on the host: where each tensor lands,
// which bytes are zeroed, how scale factors are split around the reduction, and how the work
// is cut into chunks for one kernel launch.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "kolo/collectives/gpu/device_copy.h"

namespace kolo::gpu {
namespace {

TEST(DeviceCopyPlan, PackFillsTheWholeBufferAndZeroesGapsAndAbsentSlots) {
  alignas(64) std::byte buffer[256];
  const int a = 0, c = 0;  // only their addresses matter
  // Slot 0: 12 bytes at 0 (gap to 64), slot 1: joined rank (zeros) at 64, slot 2 at 128; tail.
  std::vector<FusionSlot> slots = {{&a, 0, 12}, {nullptr, 64, 8}, {&c, 128, 100}};
  auto plan = planPack(slots, buffer, 256, 4);
  ASSERT_TRUE(plan.hasValue()) << plan.status().toString();
  const std::vector<ScaledSegment> expected = {
      {&a, buffer + 0, 12},       {nullptr, buffer + 12, 52}, {nullptr, buffer + 64, 8},
      {nullptr, buffer + 72, 56}, {&c, buffer + 128, 100},    {nullptr, buffer + 228, 28},
  };
  EXPECT_EQ(plan.value(), expected);
  uint64_t covered = 0;
  for (const ScaledSegment& s : plan.value()) {
    EXPECT_EQ(static_cast<std::byte*>(s.dst), buffer + covered) << "segments must be contiguous";
    covered += s.bytes;
  }
  EXPECT_EQ(covered, 256u);
}

TEST(DeviceCopyPlan, PackRejectsOverlapsOverrunsAndPartialElements) {
  std::byte buffer[128];
  const int x = 0;
  std::vector<FusionSlot> overlap = {{&x, 0, 16}, {&x, 8, 8}};
  auto s = planPack(overlap, buffer, 128, 4);
  ASSERT_FALSE(s.hasValue());
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
  EXPECT_NE(s.status().message().find("slot 1"), std::string::npos) << s.status().message();
  std::vector<FusionSlot> overrun = {{&x, 64, 72}};
  EXPECT_FALSE(planPack(overrun, buffer, 128, 4).hasValue());
  std::vector<FusionSlot> partial = {{&x, 0, 6}};
  EXPECT_FALSE(planPack(partial, buffer, 128, 4).hasValue());
  std::vector<FusionSlot> misaligned = {{&x, 2, 8}};
  EXPECT_FALSE(planPack(misaligned, buffer, 128, 8).hasValue());
  EXPECT_FALSE(planPack({}, buffer, 10, 4).hasValue()) << "10 bytes are not whole floats";
  auto empty = planPack({}, buffer, 0, 4);
  ASSERT_TRUE(empty.hasValue());
  EXPECT_TRUE(empty.value().empty());
}

TEST(DeviceCopyPlan, UnpackCopiesPresentSlotsOnly) {
  std::byte buffer[256];
  int out0 = 0, out2 = 0;
  std::vector<FusionSlot> slots = {
      {&out0, 0, 4}, {nullptr, 64, 4}, {&out2, 128, 4}, {&out0, 192, 0}};
  const std::vector<ScaledSegment> expected = {{buffer + 0, &out0, 4}, {buffer + 128, &out2, 4}};
  EXPECT_EQ(planUnpack(slots, buffer), expected);
}

TEST(DeviceCopyPlan, AverageBecomesSumThenDivisionAfterPostscaleIsKept) {
  ReductionScaling avg = reductionScaling(ReduceOp::kAverage, 0.5, 3.0, 4);
  EXPECT_EQ(avg.wireOp, ReduceOp::kSum);
  EXPECT_EQ(avg.before, (ElementScaling{1, 0.5}));
  EXPECT_EQ(avg.after, (ElementScaling{4, 3.0}));
  ReductionScaling mx = reductionScaling(ReduceOp::kMax, 1.0, 1.0, 4);
  EXPECT_EQ(mx.wireOp, ReduceOp::kMax);
  EXPECT_TRUE(mx.before.isIdentity());
  EXPECT_TRUE(mx.after.isIdentity());
  ReductionScaling sum = reductionScaling(ReduceOp::kSum, 2.0, 1.0, 3);
  EXPECT_EQ(sum.before, (ElementScaling{1, 2.0}));
  EXPECT_TRUE(sum.after.isIdentity());
}

TEST(DeviceCopyPlan, LaunchesCutSegmentsIntoAlignedChunksAndCoverEveryByte) {
  std::vector<std::byte> src(1 << 20), dst(1 << 20);
  // One large and several small segments: a block per segment would idle most SMs.
  std::vector<ScaledSegment> segments = {{src.data(), dst.data(), 300000},
                                         {nullptr, dst.data() + 300000, 7},
                                         {src.data() + 300032, dst.data() + 300032, 0},
                                         {src.data() + 400000, dst.data() + 400000, 65536}};
  auto launches = planLaunches(segments, 65536, 1024);
  ASSERT_EQ(launches.size(), 1u);
  // 300000 = 4 full chunks + 37856; 7-byte zero fill; empty segment vanishes; one full chunk.
  ASSERT_EQ(launches[0].size(), 5u + 1u + 1u);
  uint64_t bytes = 0;
  for (const CopyChunk& c : launches[0]) {
    EXPECT_LE(c.bytes, 65536u);
    bytes += c.bytes;
    const auto dstOffset = static_cast<std::byte*>(c.dst) - dst.data();
    if (c.src) {
      EXPECT_EQ(static_cast<const std::byte*>(c.src) - src.data(), dstOffset);
    }
  }
  EXPECT_EQ(bytes, 300000u + 7u + 65536u);
  EXPECT_EQ(launches[0][4], (CopyChunk{src.data() + 4 * 65536, dst.data() + 4 * 65536, 37856}));
  EXPECT_EQ(launches[0][5], (CopyChunk{nullptr, dst.data() + 300000, 7}));
}

TEST(DeviceCopyPlan, LaunchesSplitAtTheKernelParameterLimitAndRoundChunksTo16Bytes) {
  std::vector<std::byte> src(5000), dst(5000);
  std::vector<ScaledSegment> segments = {{src.data(), dst.data(), 5000}};
  auto launches = planLaunches(segments, 100, 16);  // 100 rounds down to 96
  size_t chunks = 0;
  for (const auto& l : launches) {
    EXPECT_LE(l.size(), 16u);
    chunks += l.size();
    for (const CopyChunk& c : l) {
      EXPECT_EQ((static_cast<std::byte*>(c.dst) - dst.data()) % 96, 0);
    }
  }
  EXPECT_EQ(chunks, (5000 + 95) / 96);
  EXPECT_EQ(launches.size(), (chunks + 15) / 16);
  EXPECT_TRUE(planLaunches({}, 100, 16).empty());
}

}  // namespace
}  // namespace kolo::gpu
