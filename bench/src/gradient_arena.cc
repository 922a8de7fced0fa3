#include "gradient_arena.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "bench_stats.h"
#include "runtime_bench.h"

namespace kolo::bench {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kFloatBytes = 4;

}  // namespace

GradientArena::GradientArena(const std::vector<uint64_t>& elementCounts) {
  uint64_t offset = 0;
  for (uint64_t elements : elementCounts) {
    offsets_.push_back(offset);
    offset += (elements * kFloatBytes + kAlignment - 1) / kAlignment * kAlignment;
  }
  bytes_ = std::max<uint64_t>(offset, kAlignment);
  data_ = static_cast<std::byte*>(std::aligned_alloc(kAlignment, bytes_));
  if (data_ != nullptr) std::memset(data_, 0, bytes_);
}

GradientArena::~GradientArena() {
  std::free(data_);
}

void GradientArena::zero() {
  std::memset(data_, 0, bytes_);
}

Expected<StepTimes> summarizeSteps(const Session& session, const std::string& name,
                                   const std::vector<double>& localMs) {
  KOLO_ASSIGN_OR_RETURN(std::vector<double> slowest, maxAcrossRanks(session, name, localMs));
  StepTimes times;
  times.medianMs = median(slowest);
  times.p99Ms = percentile(slowest, 99.0);
  times.minMs = slowest.empty() ? 0.0 : *std::min_element(slowest.begin(), slowest.end());
  return times;
}

}  // namespace kolo::bench
