// Packing and unpacking a device fusion buffer with one kernel launch, scaling on the way.
//
// The plan (which bytes go where, which gaps are zeroed, how the work is cut into chunks for
// one launch) is plain C++, tested on any machine; only scaledCopy() touches the device.
// Cutting segments into equal chunks matters on a GPU: one block per tensor would leave most
// SMs idle when a few large gradients dominate a fusion buffer, so every launch is cut into
// chunks of at most kChunkBytes and each block copies one chunk.
// Thread: any (plain functions); scaledCopy enqueues on the given stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/dtype.h"

namespace kolo::gpu {

// `bytes` from `src` to `dst` (device pointers); a null `src` fills `dst` with zeros.
struct ScaledSegment {
  const void* src = nullptr;
  void* dst = nullptr;
  uint64_t bytes = 0;
  bool operator==(const ScaledSegment&) const = default;
};

// The element-wise step applied while copying, in the order the host path applies it:
// x / divisor (average; exact integer division for integers), then x * factor (prescale or
// postscale; the host's scaleBuffer rounding and saturation rules). {1, 1.0} is a plain copy.
struct ElementScaling {
  int64_t divisor = 1;
  double factor = 1.0;
  bool isIdentity() const { return divisor == 1 && factor == 1.0; }
  bool operator==(const ElementScaling&) const = default;
};

// How a reduction with (op, prescale, postscale) over `members` ranks runs on a backend that
// sums: average becomes a sum and a division by `members` after it, as on the host path, so
// the device and host results agree bit for bit.
struct ReductionScaling {
  ElementScaling before;  // applied to each input while packing
  ElementScaling after;   // applied to the result while unpacking
  ReduceOp wireOp = ReduceOp::kSum;
};
ReductionScaling reductionScaling(ReduceOp op, double prescale, double postscale, int members);

// One tensor of a fusion buffer: its bytes at `offset`. `data` is the tensor (input when
// packing, output when unpacking); null means "no tensor here" (a joined rank packs zeros,
// and skips it when unpacking).
struct FusionSlot {
  const void* data = nullptr;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

// Segments that fill buffer[0, totalBytes) completely: each slot at its offset, alignment
// gaps, the tail and absent slots as zeros (the reduction must never read stale bytes).
// kInvalidArgument when slots overlap, are out of order, run past totalBytes, or are not
// whole elements of `elementSize`.
Expected<std::vector<ScaledSegment>> planPack(std::span<const FusionSlot> slots, void* buffer,
                                              uint64_t totalBytes, size_t elementSize);
// Segments that copy each present slot from the buffer to its tensor.
std::vector<ScaledSegment> planUnpack(std::span<const FusionSlot> slots, const void* buffer);

struct CopyChunk {
  const void* src = nullptr;  // null: zeros
  void* dst = nullptr;
  uint64_t bytes = 0;
  bool operator==(const CopyChunk&) const = default;
};
inline constexpr uint64_t kChunkBytes = uint64_t{64} << 10;
inline constexpr size_t kMaxChunksPerLaunch = 1024;  // fits the 32 KiB kernel-parameter limit
// Cuts segments into chunks of at most `chunkBytes` (a multiple of 16, so a chunk starts on the
// same 16-byte alignment as its segment), grouped into launches of at most `maxPerLaunch`.
// Empty segments vanish. An empty list gives no launch.
std::vector<std::vector<CopyChunk>> planLaunches(std::span<const ScaledSegment> segments,
                                                 uint64_t chunkBytes = kChunkBytes,
                                                 size_t maxPerLaunch = kMaxChunksPerLaunch);

// Enqueues the copies (with `scaling` applied to every element of `type`) on `stream`: one
// kernel launch per kMaxChunksPerLaunch chunks, no host synchronization, no allocation.
// Segments may be in place (src == dst). kUnavailable without CUDA.
Status scaledCopy(DataType type, std::span<const ScaledSegment> segments, ElementScaling scaling,
                  void* stream);

}  // namespace kolo::gpu
