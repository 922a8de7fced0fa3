// One launch copies many (src, dst, bytes) chunks (see device_copy.h for how segments become
// chunks): block b copies chunk b. The chunk table travels as a __grid_constant__ kernel
// parameter (up to 32 KiB since CUDA 12.1), so a launch needs no device allocation, no
// host-to-device copy of the table and never synchronizes with the host: the coordinator only
// enqueues. Plain copies move 16-byte words where both pointers allow it; scaled copies apply
// the host path's divide-then-scale rules per element, so device and host results agree.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cuda/std/limits>
#include <type_traits>

#include "copy_kernels.h"

namespace kolo::gpu::detail {
namespace {

constexpr unsigned kThreads = 256;

// Kernel parameters are copied at every launch, so small launches use a small table.
template <unsigned N>
struct LaunchTable {
  KernelChunk chunks[N];
};

__device__ void copyBytes(const KernelChunk& c) {
  auto* dst = static_cast<unsigned char*>(c.dst);
  const auto* src = static_cast<const unsigned char*>(c.src);
  if (src == nullptr) {
    size_t done = 0;
    if ((reinterpret_cast<uintptr_t>(dst) & 15) == 0) {
      const size_t words = c.bytes / 16;
      auto* dst4 = reinterpret_cast<uint4*>(dst);
      for (size_t i = threadIdx.x; i < words; i += blockDim.x) dst4[i] = make_uint4(0, 0, 0, 0);
      done = words * 16;
    }
    for (size_t i = done + threadIdx.x; i < c.bytes; i += blockDim.x) dst[i] = 0;
    return;
  }
  size_t done = 0;
  if (((reinterpret_cast<uintptr_t>(src) | reinterpret_cast<uintptr_t>(dst)) & 15) == 0) {
    const size_t words = c.bytes / 16;
    const auto* src4 = reinterpret_cast<const uint4*>(src);
    auto* dst4 = reinterpret_cast<uint4*>(dst);
    // Four loads in flight per thread before the stores: one at a time leaves HBM idle.
    const size_t stride = blockDim.x;
    size_t i = threadIdx.x;
    for (; i + 3 * stride < words; i += 4 * stride) {
      const uint4 a = src4[i], b = src4[i + stride], c4 = src4[i + 2 * stride],
                  d = src4[i + 3 * stride];
      dst4[i] = a;
      dst4[i + stride] = b;
      dst4[i + 2 * stride] = c4;
      dst4[i + 3 * stride] = d;
    }
    for (; i < words; i += stride) dst4[i] = src4[i];
    done = words * 16;
  }
  for (size_t i = done + threadIdx.x; i < c.bytes; i += blockDim.x) dst[i] = src[i];
}

template <unsigned N>
__global__ void copyChunks(const __grid_constant__ LaunchTable<N> table, unsigned count) {
  for (unsigned b = blockIdx.x; b < count; b += gridDim.x) copyBytes(table.chunks[b]);
}

// Integer scaling: truncate toward zero, saturate, NaN -> 0 (the host's saturatingTruncate).
template <class T>
__device__ T saturate(double v) {
  constexpr double kAbove = static_cast<double>(cuda::std::numeric_limits<T>::max()) + 1.0;
  constexpr double kBelow = static_cast<double>(cuda::std::numeric_limits<T>::min()) - 1.0;
  if (v != v) return 0;
  if (v >= kAbove) return cuda::std::numeric_limits<T>::max();
  if (v <= kBelow) return cuda::std::numeric_limits<T>::min();
  return static_cast<T>(v);
}

template <class T>
struct Element {
  __device__ static T apply(T x, int64_t divisor, double factor) {
    if (divisor == -1) {
      using U = std::make_unsigned_t<T>;
      x = static_cast<T>(U(0) - static_cast<U>(x));
    } else if (divisor != 1 && divisor != 0) {
      x = static_cast<T>(static_cast<int64_t>(x) / divisor);
    }
    if (factor != 1.0) x = saturate<T>(static_cast<double>(x) * factor);
    return x;
  }
};
template <>
struct Element<float> {
  __device__ static float apply(float x, int64_t divisor, double factor) {
    if (divisor != 1) x = x / static_cast<float>(divisor);
    if (factor != 1.0) x = x * static_cast<float>(factor);
    return x;
  }
};
template <>
struct Element<double> {
  __device__ static double apply(double x, int64_t divisor, double factor) {
    if (divisor != 1) x = x / static_cast<double>(divisor);
    if (factor != 1.0) x = x * factor;
    return x;
  }
};
// 16-bit floats widen to f32, and round back to nearest even after each step, as the host's
// widen/narrow blocks do.
template <>
struct Element<__half> {
  __device__ static __half apply(__half x, int64_t divisor, double factor) {
    if (divisor != 1) x = __float2half_rn(__half2float(x) / static_cast<float>(divisor));
    if (factor != 1.0) x = __float2half_rn(__half2float(x) * static_cast<float>(factor));
    return x;
  }
};
template <>
struct Element<__nv_bfloat16> {
  __device__ static __nv_bfloat16 apply(__nv_bfloat16 x, int64_t divisor, double factor) {
    if (divisor != 1) x = __float2bfloat16_rn(__bfloat162float(x) / static_cast<float>(divisor));
    if (factor != 1.0) x = __float2bfloat16_rn(__bfloat162float(x) * static_cast<float>(factor));
    return x;
  }
};

template <class T, unsigned N>
__global__ void scaleChunks(const __grid_constant__ LaunchTable<N> table, unsigned count,
                            int64_t divisor, double factor) {
  for (unsigned b = blockIdx.x; b < count; b += gridDim.x) {
    const KernelChunk& c = table.chunks[b];
    if (c.src == nullptr) {  // zeros scale to zeros
      copyBytes(c);
      continue;
    }
    const auto* src = static_cast<const T*>(c.src);
    auto* dst = static_cast<T*>(c.dst);
    const size_t n = c.bytes / sizeof(T);
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
      dst[i] = Element<T>::apply(src[i], divisor, factor);
    }
  }
}

template <class T, unsigned N>
void launchScaled(const LaunchTable<N>& table, unsigned count, int64_t divisor, double factor,
                  cudaStream_t stream) {
  scaleChunks<T, N><<<count, kThreads, 0, stream>>>(table, count, divisor, factor);
}

template <unsigned N>
int launchWith(int dtype, const KernelChunk* chunks, unsigned count, int64_t divisor, double factor,
               cudaStream_t s, const char** errorText) {
  LaunchTable<N> table;
  for (unsigned i = 0; i < count; ++i) table.chunks[i] = chunks[i];
  if (divisor == 1 && factor == 1.0) {
    copyChunks<N><<<count, kThreads, 0, s>>>(table, count);
  } else {
    // Values of kolo::DataType: f16, bf16, f32, f64, i8, u8, i32, i64, i16.
    switch (dtype) {
      case 0:
        launchScaled<__half, N>(table, count, divisor, factor, s);
        break;
      case 1:
        launchScaled<__nv_bfloat16, N>(table, count, divisor, factor, s);
        break;
      case 2:
        launchScaled<float, N>(table, count, divisor, factor, s);
        break;
      case 3:
        launchScaled<double, N>(table, count, divisor, factor, s);
        break;
      case 4:
        launchScaled<int8_t, N>(table, count, divisor, factor, s);
        break;
      case 5:
        launchScaled<uint8_t, N>(table, count, divisor, factor, s);
        break;
      case 6:
        launchScaled<int32_t, N>(table, count, divisor, factor, s);
        break;
      case 7:
        launchScaled<int64_t, N>(table, count, divisor, factor, s);
        break;
      case 8:
        launchScaled<int16_t, N>(table, count, divisor, factor, s);
        break;
      default:
        *errorText = "unknown dtype";
        return static_cast<int>(cudaErrorInvalidValue);
    }
  }
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) *errorText = cudaGetErrorString(e);
  return static_cast<int>(e);
}

}  // namespace

int launchChunks(int dtype, const KernelChunk* chunks, unsigned count, int64_t divisor,
                 double factor, void* stream, const char** errorText) {
  if (count == 0) return 0;
  if (count > kKernelMaxChunks) {
    *errorText = "more chunks than one launch takes";
    return static_cast<int>(cudaErrorInvalidValue);
  }
  auto s = static_cast<cudaStream_t>(stream);
  if (count <= 32) return launchWith<32>(dtype, chunks, count, divisor, factor, s, errorText);
  if (count <= 256) return launchWith<256>(dtype, chunks, count, divisor, factor, s, errorText);
  return launchWith<kKernelMaxChunks>(dtype, chunks, count, divisor, factor, s, errorText);
}

}  // namespace kolo::gpu::detail
