// Planning for device fusion-buffer copies: plain C++, no CUDA (see device_copy.h).
#include <algorithm>

#include "kolo/collectives/gpu/device_copy.h"

namespace kolo::gpu {

ReductionScaling reductionScaling(ReduceOp op, double prescale, double postscale, int members) {
  ReductionScaling s;
  s.before.factor = prescale;
  s.after.factor = postscale;
  if (op == ReduceOp::kAverage) {
    s.after.divisor = members;
    s.wireOp = ReduceOp::kSum;
  } else {
    s.wireOp = op;
  }
  return s;
}

Expected<std::vector<ScaledSegment>> planPack(std::span<const FusionSlot> slots, void* buffer,
                                              uint64_t totalBytes, size_t elementSize) {
  if (elementSize == 0 || totalBytes % elementSize != 0) {
    return makeStatus(Code::kInvalidArgument,
                      "fusion buffer of {} bytes is not a whole number of {}-byte elements",
                      totalBytes, elementSize);
  }
  auto* base = static_cast<std::byte*>(buffer);
  std::vector<ScaledSegment> out;
  out.reserve(slots.size() * 2 + 1);
  uint64_t filled = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    const FusionSlot& slot = slots[i];
    if (slot.offset < filled || slot.offset % elementSize != 0 || slot.bytes % elementSize != 0 ||
        slot.bytes > totalBytes || slot.offset > totalBytes - slot.bytes) {
      return makeStatus(Code::kInvalidArgument,
                        "fusion slot {} ([{}, +{}) bytes) overlaps the previous slot, runs past "
                        "the {}-byte buffer or is not whole {}-byte elements",
                        i, slot.offset, slot.bytes, totalBytes, elementSize);
    }
    if (slot.offset > filled) out.push_back({nullptr, base + filled, slot.offset - filled});
    if (slot.bytes > 0) out.push_back({slot.data, base + slot.offset, slot.bytes});
    filled = slot.offset + slot.bytes;
  }
  if (totalBytes > filled) out.push_back({nullptr, base + filled, totalBytes - filled});
  return out;
}

std::vector<ScaledSegment> planUnpack(std::span<const FusionSlot> slots, const void* buffer) {
  const auto* base = static_cast<const std::byte*>(buffer);
  std::vector<ScaledSegment> out;
  out.reserve(slots.size());
  for (const FusionSlot& slot : slots) {
    if (slot.data == nullptr || slot.bytes == 0) continue;
    out.push_back({base + slot.offset, const_cast<void*>(slot.data), slot.bytes});
  }
  return out;
}

std::vector<std::vector<CopyChunk>> planLaunches(std::span<const ScaledSegment> segments,
                                                 uint64_t chunkBytes, size_t maxPerLaunch) {
  chunkBytes = std::max<uint64_t>(16, chunkBytes / 16 * 16);
  maxPerLaunch = std::max<size_t>(1, maxPerLaunch);
  std::vector<std::vector<CopyChunk>> launches;
  for (const ScaledSegment& seg : segments) {
    for (uint64_t done = 0; done < seg.bytes; done += chunkBytes) {
      if (launches.empty() || launches.back().size() == maxPerLaunch) {
        launches.emplace_back();
        launches.back().reserve(maxPerLaunch);
      }
      const uint64_t n = std::min(chunkBytes, seg.bytes - done);
      const void* src = seg.src ? static_cast<const std::byte*>(seg.src) + done : nullptr;
      launches.back().push_back({src, static_cast<std::byte*>(seg.dst) + done, n});
    }
  }
  return launches;
}

}  // namespace kolo::gpu
