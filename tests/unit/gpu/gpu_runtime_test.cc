// CUDA tensors through the Engine on a machine without a usable GPU: every op on a CUDA tensor
// fails with an error naming the rank, the device and the tensor (no crash, no hang), on
// every rank alike, and the process set keeps working for host tensors. On a machine with a
// GPU these tests skip: tests/gpu covers that case.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "device_executor.h"
#include "kolo/collectives/gpu.h"
#include "unit/engine/engine_world.h"

namespace kolo {
namespace {

using core::Engine;
using core::Handle;

bool hasDevice() {
  return gpu::deviceCount().hasValue();
}

Status expectNamedFailure(const Expected<Handle>& h, const std::string& name, int rank) {
  if (!h.hasValue()) return h.status();
  Status s = h.value().wait(Deadline::afterSeconds(20));
  if (s.isOk()) return Status(Code::kInternal, name + " succeeded without a device");
  if (s.code() != Code::kUnavailable) return s;
  for (const std::string& part : {name, std::string("gpu:0"), fmt::format("rank {}", rank)}) {
    if (s.message().find(part) == std::string::npos) {
      return Status(Code::kInternal, "error does not name '" + part + "': " + s.message());
    }
  }
  return Status::ok();
}

class GpuWithoutDevice : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (hasDevice()) GTEST_SKIP() << "a CUDA device is present; tests/gpu covers it";
  }
};

TEST_P(GpuWithoutDevice, EveryCollectiveOnACudaTensorFailsNamingTheDeviceThenHostOpsStillWork) {
  const int n = GetParam();
  auto results = test::runEngines(n, [n](Engine& e) -> Status {
    std::vector<float> data(16, 1.0f);
    Tensor gpuTensor{data.data(), nullptr, DataType::kFloat32, {16}, 0};
    OpOptions opts;
    KOLO_RETURN_IF_ERROR(expectNamedFailure(e.allreduce("grad.w", gpuTensor), "grad.w", e.rank()));
    KOLO_RETURN_IF_ERROR(expectNamedFailure(
        e.groupedAllreduce({"grad.a", "grad.b"}, {gpuTensor, gpuTensor}), "grad.", e.rank()));
    KOLO_RETURN_IF_ERROR(
        expectNamedFailure(e.broadcast("param.w", gpuTensor, opts), "param.w", e.rank()));
    KOLO_RETURN_IF_ERROR(
        expectNamedFailure(e.allgather("gather.w", gpuTensor), "gather.w", e.rank()));
    KOLO_RETURN_IF_ERROR(expectNamedFailure(e.reducescatter("rs.w", gpuTensor), "rs.w", e.rank()));
    // The set is still in step: a host allreduce gives the exact sum.
    std::vector<float> host(5, static_cast<float>(e.rank() + 1));
    Tensor hostTensor{host.data(), nullptr, DataType::kFloat32, {5}, kCpuDevice};
    auto h = e.allreduce("host.after", hostTensor);
    if (!h.hasValue()) return h.status();
    KOLO_RETURN_IF_ERROR(h.value().wait(Deadline::afterSeconds(20)));
    const float expected = static_cast<float>(n * (n + 1) / 2);
    for (float v : host) {
      if (v != expected) {
        return makeStatus(Code::kInternal, "host allreduce after GPU failures gave {} not {}", v,
                          expected);
      }
    }
    return Status::ok();
  });
  for (int r = 0; r < n; ++r)
    EXPECT_TRUE(results[r].isOk()) << "rank " << r << ": " << results[r].toString();
}

INSTANTIATE_TEST_SUITE_P(Ranks, GpuWithoutDevice, ::testing::Values(1, 2, 3));

TEST(GpuOperations, EnvironmentSelectsNcclHostOrAuto) {
  ::setenv("KOLO_GPU_OPERATIONS", "host", 1);
  EXPECT_EQ(core::gpuOperationsFromEnv(), core::GpuOperations::kHost);
  ::setenv("KOLO_GPU_OPERATIONS", "NCCL", 1);
  EXPECT_EQ(core::gpuOperationsFromEnv(), core::GpuOperations::kNccl);
  ::setenv("KOLO_GPU_OPERATIONS", "auto", 1);
  EXPECT_EQ(core::gpuOperationsFromEnv(), core::GpuOperations::kAuto);
  ::setenv("KOLO_GPU_OPERATIONS", "fast", 1);
  EXPECT_EQ(core::gpuOperationsFromEnv(), core::GpuOperations::kAuto);
  ::unsetenv("KOLO_GPU_OPERATIONS");
  EXPECT_EQ(core::gpuOperationsFromEnv(), core::GpuOperations::kAuto);
}

}  // namespace
}  // namespace kolo
