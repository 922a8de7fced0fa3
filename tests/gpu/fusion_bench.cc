// Not a test: device fusion-buffer pack and unpack throughput (one batched copy kernel per
// direction) against one plain device-to-device cudaMemcpyAsync of the same bytes, and against
// one cudaMemcpyAsync per tensor (what the kernel replaces). Prints a table and whether the
// pack/unpack throughput reaches 80 % of the plain copy's. Exit code 77 without a device.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

#include "kolo/collectives/gpu.h"
#include "kolo/collectives/gpu/device_copy.h"

namespace {

using kolo::DataType;
using kolo::gpu::FusionSlot;

#define CHECK(call)                                                           \
  do {                                                                        \
    if (cudaError_t e_ = (call); e_ != cudaSuccess) {                         \
      std::fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorString(e_)); \
      std::exit(1);                                                           \
    }                                                                         \
  } while (0)

// Median GPU time of `iterations` runs of `enqueue` on `stream`, in seconds.
double timeIt(cudaStream_t stream, int iterations, const std::function<void()>& enqueue) {
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  for (int w = 0; w < 3; ++w) enqueue();
  std::vector<float> ms;
  for (int i = 0; i < iterations; ++i) {
    CHECK(cudaEventRecord(start, stream));
    enqueue();
    CHECK(cudaEventRecord(stop, stream));
    CHECK(cudaEventSynchronize(stop));
    float t = 0;
    CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms[ms.size() / 2] / 1000.0;
}

}  // namespace

int main() {
  if (!kolo::gpu::deviceCount().hasValue()) {
    std::printf("no CUDA device found: fusion bench skipped\n");
    return 77;
  }
  CHECK(cudaSetDevice(0));
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::printf("device: %s\n", prop.name);
  std::printf("%10s %8s %12s %12s %12s %14s %8s\n", "bytes", "tensors", "pack GB/s", "unpack GB/s",
              "memcpy GB/s", "per-tensor GB/s", "ratio");
  bool met = true;
  // Gradient-like mixes: many small tensors, and a few large ones among small ones.
  struct Mix {
    size_t tensors;
    size_t smallBytes;
    size_t largeEvery;
    size_t largeBytes;
  };
  const Mix mixes[] = {{1024, 4096, 0, 0},
                       {256, 16384, 8, size_t{1} << 20},
                       {64, 65536, 4, size_t{4} << 20},
                       {32, 262144, 2, size_t{8} << 20}};
  for (const Mix& mix : mixes) {
    std::vector<void*> tensors;
    std::vector<FusionSlot> in, out;
    uint64_t offset = 0;
    for (size_t i = 0; i < mix.tensors; ++i) {
      const size_t bytes =
          mix.largeEvery && i % mix.largeEvery == 0 ? mix.largeBytes : mix.smallBytes;
      void* t = nullptr;
      CHECK(cudaMalloc(&t, bytes));
      CHECK(cudaMemset(t, static_cast<int>(i), bytes));
      tensors.push_back(t);
      in.push_back({t, offset, bytes});
      out.push_back({t, offset, bytes});
      offset = (offset + bytes + 63) / 64 * 64;
    }
    void *buffer = nullptr, *copy = nullptr;
    CHECK(cudaMalloc(&buffer, offset));
    CHECK(cudaMalloc(&copy, offset));
    uint64_t payload = 0;
    for (const FusionSlot& s : in) payload += s.bytes;
    auto pack = kolo::gpu::planPack(in, buffer, offset, 4);
    if (!pack.hasValue()) {
      std::fprintf(stderr, "%s\n", pack.status().toString().c_str());
      return 1;
    }
    const double tPack = timeIt(stream, 20, [&] {
      auto segs = kolo::gpu::planPack(in, buffer, offset, 4);
      if (!kolo::gpu::scaledCopy(DataType::kFloat32, segs.value(), {}, stream).isOk()) {
        std::exit(1);
      }
    });
    const double tUnpack = timeIt(stream, 20, [&] {
      if (!kolo::gpu::scaledCopy(DataType::kFloat32, kolo::gpu::planUnpack(out, buffer), {}, stream)
               .isOk()) {
        std::exit(1);
      }
    });
    const double tMemcpy = timeIt(stream, 20, [&] {
      CHECK(cudaMemcpyAsync(copy, buffer, offset, cudaMemcpyDeviceToDevice, stream));
    });
    const double tPerTensor = timeIt(stream, 20, [&] {
      for (const FusionSlot& s : in) {
        CHECK(cudaMemcpyAsync(static_cast<char*>(buffer) + s.offset, s.data, s.bytes,
                              cudaMemcpyDeviceToDevice, stream));
      }
    });
    const double gbPack = static_cast<double>(offset) / tPack / 1e9;
    const double gbUnpack = static_cast<double>(payload) / tUnpack / 1e9;
    const double gbMemcpy = static_cast<double>(offset) / tMemcpy / 1e9;
    const double gbPerTensor = static_cast<double>(payload) / tPerTensor / 1e9;
    const double ratio = std::min(gbPack, gbUnpack) / gbMemcpy;
    met = met && ratio >= 0.8;
    std::printf("%10llu %8zu %12.1f %12.1f %12.1f %14.1f %7.0f%%\n",
                static_cast<unsigned long long>(offset), mix.tensors, gbPack, gbUnpack, gbMemcpy,
                gbPerTensor, ratio * 100.0);
    for (void* t : tensors) cudaFree(t);
    cudaFree(buffer);
    cudaFree(copy);
  }
  std::printf("fusion pack/unpack vs plain device copy: target >= 80%% %s\n",
              met ? "met" : "NOT met");
  cudaStreamDestroy(stream);
  return 0;
}
