// scaledCopy and batchedCopy: plan the chunks on the host, launch batched_copy.cu's kernel.
#include "kolo/collectives/gpu/device_copy.h"

#include <vector>

#include "copy_kernels.h"
#include "kolo/collectives/gpu.h"

namespace kolo::gpu {

static_assert(sizeof(CopyChunk) == sizeof(detail::KernelChunk));
static_assert(kMaxChunksPerLaunch == detail::kKernelMaxChunks);

Status scaledCopy(DataType type, std::span<const ScaledSegment> segments, ElementScaling scaling,
                  void* stream) {
#ifdef KOLO_HAVE_CUDA
  for (const std::vector<CopyChunk>& launch : planLaunches(segments)) {
    std::vector<detail::KernelChunk> chunks(launch.size());
    for (size_t i = 0; i < launch.size(); ++i) {
      chunks[i] = {launch[i].src, launch[i].dst, launch[i].bytes};
    }
    const char* text = "";
    if (int e = detail::launchChunks(static_cast<int>(type), chunks.data(),
                                     static_cast<unsigned>(chunks.size()), scaling.divisor,
                                     scaling.factor, stream, &text);
        e != 0) {
      return makeStatus(Code::kUnavailable, "fusion copy kernel ({} chunks of {}): {} (error {})",
                        chunks.size(), dataTypeName(type), text, e);
    }
  }
  return Status::ok();
#else
  (void)type, (void)scaling, (void)stream;
  if (planLaunches(segments).empty()) return Status::ok();
  return Status(Code::kUnavailable, "Kolo was built without CUDA (KOLO_WITH_CUDA=OFF)");
#endif
}

Status batchedCopy(const CopySegment* segments, size_t count, void* stream) {
  if (count == 0) return Status::ok();
  if (segments == nullptr) return Status(Code::kInvalidArgument, "batchedCopy: segments is null");
  std::vector<ScaledSegment> scaled(count);
  for (size_t i = 0; i < count; ++i) {
    scaled[i] = {segments[i].src, segments[i].dst, segments[i].bytes};
  }
  return scaledCopy(DataType::kUInt8, scaled, {}, stream);
}

}  // namespace kolo::gpu
