// The launch interface of batched_copy.cu, kept to C++17 and plain types because nvcc
// compiles that file as C++17; device_copy.cc turns it into Kolo's Status API.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kolo::gpu::detail {

struct KernelChunk {
  const void* src;  // null: zeros
  void* dst;
  uint64_t bytes;
};
inline constexpr size_t kKernelMaxChunks = 1024;

// dtype: kolo::DataType's value. Returns 0 or the cudaError_t of the launch; `errorText` then
// names it.
int launchChunks(int dtype, const KernelChunk* chunks, unsigned count, int64_t divisor,
                 double factor, void* stream, const char** errorText);

}  // namespace kolo::gpu::detail
