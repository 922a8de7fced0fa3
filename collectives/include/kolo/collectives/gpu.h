// What Kolo was built with for GPUs, and what this machine has. The NCCL backend (CUDA
// tensors) builds on these; they never fail hard: a build without CUDA, or a machine without a
// GPU or driver, answers with a reason instead.
// Thread: any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kolo/base/status.h"

namespace kolo::gpu {

struct BuildInfo {
  bool cuda = false;        // compiled with the CUDA toolkit (KOLO_WITH_CUDA)
  bool nccl = false;        // compiled and linked against NCCL (KOLO_WITH_NCCL)
  int cudaRuntimeVersion = 0;  // e.g. 13000; 0 when not built
  int ncclVersion = 0;         // e.g. 22803; 0 when not built
};
BuildInfo buildInfo();

// Visible CUDA devices; kUnavailable naming the reason (not built, no driver, no device).
Expected<int> deviceCount();

// One segment of a batched copy: `bytes` from `src` to `dst`, both device pointers.
struct CopySegment {
  const void* src;
  void* dst;
  size_t bytes;
};

// Copies every segment with one kernel launch on `stream` (a cudaStream_t; null = default
// stream), rather than one cudaMemcpyAsync per tensor: packing a fusion buffer of hundreds of
// small gradients costs one launch (one per 1024 chunks of 64 KiB; see gpu/device_copy.h,
// which adds scaling). `segments` is a host array, passed to the kernel as its parameters, so
// the call never allocates or waits. kUnavailable without CUDA.
Status batchedCopy(const CopySegment* segments, size_t count, void* stream);

}  // namespace kolo::gpu
