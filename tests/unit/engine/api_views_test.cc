// kolo.hpp's helpers for C++ callers, through a session of one: tensorView() over std::span
// (in place over mutable memory, input only over const memory, the element type's DataType)
// and waitAll() (every handle waited, the first failure returned).
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <span>
#include <vector>

#include "kolo/kolo.hpp"

namespace kolo::test {
namespace {

static_assert(dataTypeOf<float>() == DataType::kFloat32);
static_assert(dataTypeOf<const double>() == DataType::kFloat64);
static_assert(dataTypeOf<int8_t>() == DataType::kInt8);
static_assert(dataTypeOf<uint8_t>() == DataType::kUInt8);
static_assert(dataTypeOf<int16_t>() == DataType::kInt16);
static_assert(dataTypeOf<int32_t>() == DataType::kInt32);
static_assert(dataTypeOf<int64_t>() == DataType::kInt64);

Session sessionOfOne() {
  for (const char* v :
       {"KOLO_RANK", "KOLO_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"}) {
    ::unsetenv(v);
  }
  return Session::init().valueOrThrow();
}

TEST(PublicApiViews, TensorViewDescribesTheSpanWithoutCopy) {
  std::vector<double> grads = {1.5, -2.0, 4.25};
  const Tensor inPlace = tensorView(std::span(grads));
  EXPECT_EQ(inPlace.data, grads.data());
  EXPECT_EQ(inPlace.output, grads.data());
  EXPECT_EQ(inPlace.dtype, DataType::kFloat64);
  EXPECT_EQ(inPlace.shape, std::vector<int64_t>({3}));
  EXPECT_EQ(inPlace.device, kCpuDevice);

  const std::array<int16_t, 5> fixed = {1, 2, 3, 4, 5};
  const Tensor input = tensorView(std::span(fixed));
  EXPECT_EQ(input.data, fixed.data());
  EXPECT_EQ(input.output, nullptr);
  EXPECT_EQ(input.dtype, DataType::kInt16);
  EXPECT_EQ(input.shape, std::vector<int64_t>({5}));

  int marker = 0;
  const Tensor onDevice = tensorView(std::span(grads), 1, &marker);
  EXPECT_EQ(onDevice.device, 1);
  EXPECT_EQ(onDevice.stream, &marker);
}

TEST(PublicApiViews, InPlaceAllreduceAndAllgatherOverViews) {
  Session s = sessionOfOne();
  std::vector<float> grads = {1.0f, -2.5f, 8.0f, 0.25f};
  const float* before = grads.data();
  OpOptions scale;
  scale.postscale = 3.0;
  auto h = s.allreduce("views.grads", tensorView(std::span(grads)), scale);
  ASSERT_TRUE(h.hasValue()) << h.status().toString();
  ASSERT_TRUE(h.value().wait(10.0).isOk());
  EXPECT_EQ(grads.data(), before);
  EXPECT_EQ(grads, std::vector<float>({3.0f, -7.5f, 24.0f, 0.75f}));

  const std::vector<int64_t> ids = {7, -9, 1LL << 40};
  auto g = s.allgather("views.ids", tensorView(std::span(ids)));
  ASSERT_TRUE(g.hasValue()) << g.status().toString();
  ASSERT_TRUE(g.value().wait(10.0).isOk());
  ASSERT_EQ(g.value().outputBytes(), ids.size() * sizeof(int64_t));
  const auto* out = static_cast<const int64_t*>(g.value().outputData());
  EXPECT_EQ(std::vector<int64_t>(out, out + ids.size()), ids);
  EXPECT_TRUE(s.shutdown().isOk());
}

TEST(PublicApiViews, WaitAllWaitsEveryHandleAndReturnsTheFirstFailure) {
  EXPECT_TRUE(waitAll({}).isOk());
  Session s = sessionOfOne();
  std::vector<int32_t> a = {1, 2}, b = {3, 4};
  std::vector<Handle> handles;
  handles.push_back(s.allreduce("views.a", tensorView(std::span(a))).valueOrThrow());
  handles.push_back(Handle());  // empty: wait() fails with kInvalidUsage
  handles.push_back(s.allreduce("views.b", tensorView(std::span(b))).valueOrThrow());
  const Status status = waitAll(handles, 10.0);
  EXPECT_EQ(status.code(), Code::kInvalidUsage) << status.toString();
  EXPECT_NE(status.toString().find("empty handle"), std::string::npos) << status.toString();
  EXPECT_TRUE(handles[2].poll());  // waited although an earlier handle failed
  EXPECT_EQ(b, std::vector<int32_t>({3, 4}));
  EXPECT_TRUE(waitAll({handles[0], handles[2]}).isOk());
  EXPECT_TRUE(s.shutdown().isOk());
}

}  // namespace
}  // namespace kolo::test
