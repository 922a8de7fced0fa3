// Needs a CUDA device (skips without one): the fusion copy kernel against the host's scale and
// divide kernels, bit for bit, for every dtype, with unaligned and zero-filled segments.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kolo/collectives/gpu.h"
#include "kolo/collectives/gpu/device_copy.h"
#include "kolo/collectives/reduce.h"
#include "support/collective_reference.h"

namespace kolo::gpu {
namespace {

class DeviceKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!deviceCount().hasValue()) GTEST_SKIP() << "no CUDA device";
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  }
};

// Values whose scaled results exercise rounding (fractional factors) and saturation.
std::vector<std::byte> randomValues(DataType t, size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(-300.0, 300.0);
  std::vector<std::byte> out(count * dataTypeSize(t));
  for (size_t i = 0; i < count; ++i) {
    const double v = dist(rng);
    switch (t) {
      case DataType::kInt8:
        test::storeValue(t, static_cast<int>(v) % 128, out.data(), i);
        break;
      case DataType::kUInt8:
        test::storeValue(t, static_cast<int>(v + 300) % 256, out.data(), i);
        break;
      case DataType::kInt32:
        test::storeValue(t, v * 1000, out.data(), i);
        break;
      case DataType::kInt16:
        test::storeValue(t, v * 100, out.data(), i);
        break;
      case DataType::kInt64:
        test::storeValue(t, v * 100000, out.data(), i);
        break;
      default:
        test::storeValue(t, v, out.data(), i);
    }
  }
  return out;
}

TEST_F(DeviceKernels, ScaledCopyMatchesTheHostKernelsBitForBit) {
  const ElementScaling cases[] = {{1, 1.0}, {3, 1.0}, {1, 0.37}, {4, 2.5}, {1, 1e6}, {-1, 1.0}};
  for (DataType t : kAllDataTypes) {
    for (const ElementScaling& s : cases) {
      const size_t count = 100003;  // several chunks plus a tail
      std::vector<std::byte> in = randomValues(t, count, 7);
      std::vector<std::byte> expected = in;
      if (s.divisor != 1) divideBuffer(t, expected.data(), count, s.divisor);
      if (s.factor != 1.0) scaleBuffer(t, expected.data(), count, s.factor);
      const size_t bytes = in.size();
      void *src = nullptr, *dst = nullptr;
      ASSERT_EQ(cudaMalloc(&src, bytes + 64), cudaSuccess);
      ASSERT_EQ(cudaMalloc(&dst, bytes + 64), cudaSuccess);
      // Source offset by one element: not 16-byte aligned, so the element path is exercised.
      auto* srcAt = static_cast<std::byte*>(src) + dataTypeSize(t);
      ASSERT_EQ(cudaMemcpy(srcAt, in.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
      const size_t half = (count / 2) * dataTypeSize(t);
      const ScaledSegment segs[] = {
          {srcAt, dst, half}, {srcAt + half, static_cast<std::byte*>(dst) + half, bytes - half}};
      ASSERT_TRUE(scaledCopy(t, segs, s, nullptr).isOk());
      std::vector<std::byte> got(bytes);
      ASSERT_EQ(cudaMemcpy(got.data(), dst, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
      EXPECT_EQ(std::memcmp(got.data(), expected.data(), bytes), 0)
          << dataTypeName(t) << " divisor " << s.divisor << " factor " << s.factor;
      cudaFree(src);
      cudaFree(dst);
    }
  }
}

TEST_F(DeviceKernels, PackThenUnpackRestoresEveryTensorAndZeroesTheGaps) {
  std::vector<size_t> sizes = {3, 1000, 1, 70000, 17, 0, 4096};
  std::vector<void*> inputs, outputs;
  std::vector<std::vector<float>> host;
  std::vector<FusionSlot> in, out;
  uint64_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    host.emplace_back(sizes[i]);
    for (size_t k = 0; k < sizes[i]; ++k) host.back()[k] = static_cast<float>(i * 100000 + k);
    void *d = nullptr, *o = nullptr;
    ASSERT_EQ(cudaMalloc(&d, sizes[i] * 4 + 4), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&o, sizes[i] * 4 + 4), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(d, host.back().data(), sizes[i] * 4, cudaMemcpyHostToDevice), cudaSuccess);
    inputs.push_back(d);
    outputs.push_back(o);
    in.push_back({d, offset, sizes[i] * 4});
    out.push_back({o, offset, sizes[i] * 4});
    offset = (offset + sizes[i] * 4 + 63) / 64 * 64;
  }
  void* buffer = nullptr;
  ASSERT_EQ(cudaMalloc(&buffer, offset), cudaSuccess);
  ASSERT_EQ(cudaMemset(buffer, 0xff, offset), cudaSuccess);  // stale bytes must be zeroed
  auto pack = planPack(in, buffer, offset, 4);
  ASSERT_TRUE(pack.hasValue()) << pack.status().toString();
  ASSERT_TRUE(scaledCopy(DataType::kFloat32, pack.value(), {1, 2.0}, nullptr).isOk());
  ASSERT_TRUE(scaledCopy(DataType::kFloat32, planUnpack(out, buffer), {1, 0.5}, nullptr).isOk());
  std::vector<float> packed(offset / 4);
  ASSERT_EQ(cudaMemcpy(packed.data(), buffer, offset, cudaMemcpyDeviceToHost), cudaSuccess);
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<float> got(sizes[i]);
    ASSERT_EQ(cudaMemcpy(got.data(), outputs[i], sizes[i] * 4, cudaMemcpyDeviceToHost),
              cudaSuccess);
    EXPECT_EQ(got, host[i]) << "tensor " << i;
    const uint64_t end = in[i].offset + in[i].bytes;
    const uint64_t next = i + 1 < in.size() ? in[i + 1].offset : offset;
    for (uint64_t b = end; b < next; b += 4) EXPECT_EQ(packed[b / 4], 0.0f) << "gap at " << b;
    cudaFree(inputs[i]);
    cudaFree(outputs[i]);
  }
  cudaFree(buffer);
}

}  // namespace
}  // namespace kolo::gpu
