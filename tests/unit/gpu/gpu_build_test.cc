// GPU support as far as a machine without a GPU can check it: the build links CUDA and NCCL
// when configured with them, reports their versions, and answers "no device" with a reason.
#include <gtest/gtest.h>

#include "kolo/collectives/gpu.h"

namespace kolo {
namespace {

TEST(GpuBuild, ReportsWhatWasCompiledIn) {
  gpu::BuildInfo info = gpu::buildInfo();
#ifdef KOLO_EXPECT_CUDA
  EXPECT_TRUE(info.cuda);
  EXPECT_GE(info.cudaRuntimeVersion, 12000);
#else
  EXPECT_FALSE(info.cuda);
#endif
#ifdef KOLO_EXPECT_NCCL
  EXPECT_TRUE(info.nccl);
  EXPECT_GE(info.ncclVersion, 21800) << "NCCL 2.18 or later expected";
#else
  EXPECT_FALSE(info.nccl);
#endif
}

TEST(GpuBuild, DeviceCountIsAPositiveNumberOrANamedReason) {
  auto count = gpu::deviceCount();
  if (count.hasValue()) {
    EXPECT_GT(count.value(), 0);
  } else {
    EXPECT_EQ(count.status().code(), Code::kUnavailable);
    EXPECT_FALSE(count.status().message().empty());
  }
}

TEST(GpuBuild, EmptyBatchedCopyNeedsNoDevice) {
  EXPECT_TRUE(gpu::batchedCopy(nullptr, 0, nullptr).isOk());
}

}  // namespace
}  // namespace kolo
