// One launch copies many (src, dst, bytes) segments: block b walks segments b, b + gridDim.x, ...
// and its threads copy 16-byte words where both pointers allow it, bytes otherwise. The launch
// cost (a few microseconds) is paid once per fusion buffer instead of once per tensor.
#include <cuda_runtime.h>

#include "kolo/collectives/gpu.h"

namespace kolo::gpu {
namespace {

__global__ void copySegments(const CopySegment* segments, size_t count) {
  for (size_t s = blockIdx.x; s < count; s += gridDim.x) {
    const CopySegment seg = segments[s];
    const auto* src = static_cast<const unsigned char*>(seg.src);
    auto* dst = static_cast<unsigned char*>(seg.dst);
    const bool vectorizable =
        ((reinterpret_cast<uintptr_t>(src) | reinterpret_cast<uintptr_t>(dst)) & 15) == 0;
    size_t done = 0;
    if (vectorizable) {
      const size_t words = seg.bytes / 16;
      const auto* src4 = reinterpret_cast<const uint4*>(src);
      auto* dst4 = reinterpret_cast<uint4*>(dst);
      for (size_t i = threadIdx.x; i < words; i += blockDim.x) dst4[i] = src4[i];
      done = words * 16;
    }
    for (size_t i = done + threadIdx.x; i < seg.bytes; i += blockDim.x) dst[i] = src[i];
  }
}

Status cudaError(cudaError_t error, const char* what) {
  return makeStatus(Code::kUnavailable, "{}: {} ({})", what, cudaGetErrorString(error),
                    cudaGetErrorName(error));
}

}  // namespace

Status batchedCopy(const CopySegment* segments, size_t count, void* stream) {
  if (count == 0) return Status::ok();
  if (segments == nullptr) return Status(Code::kInvalidArgument, "batchedCopy: segments is null");
  auto cudaStream = static_cast<cudaStream_t>(stream);
  CopySegment* deviceSegments = nullptr;
  const size_t tableBytes = count * sizeof(CopySegment);
  if (cudaError_t e = cudaMallocAsync(&deviceSegments, tableBytes, cudaStream); e != cudaSuccess) {
    return cudaError(e, "batchedCopy: allocating the segment table");
  }
  if (cudaError_t e = cudaMemcpyAsync(deviceSegments, segments, tableBytes,
                                      cudaMemcpyHostToDevice, cudaStream);
      e != cudaSuccess) {
    cudaFreeAsync(deviceSegments, cudaStream);
    return cudaError(e, "batchedCopy: staging the segment table");
  }
  const unsigned blocks = static_cast<unsigned>(count < 1024 ? count : 1024);
  copySegments<<<blocks, 256, 0, cudaStream>>>(deviceSegments, count);
  cudaError_t launched = cudaGetLastError();
  cudaFreeAsync(deviceSegments, cudaStream);
  if (launched != cudaSuccess) return cudaError(launched, "batchedCopy: kernel launch");
  return Status::ok();
}

Expected<int> deviceCount() {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    return cudaError(e, "no usable CUDA device");
  }
  if (count == 0) return Status(Code::kUnavailable, "no CUDA device is visible");
  return count;
}

}  // namespace kolo::gpu
