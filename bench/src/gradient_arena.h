// What the workload benches share: the gradients of one step in one arena, the clock, and the
// step times summarized as the slowest rank's.
// Thread: the bench's main thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kolo/kolo.hpp"

namespace kolo::bench {

using Clock = std::chrono::steady_clock;

inline double millisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Every tensor in one arena, each starting on its own cache line as separately allocated
// gradients would. Touched once at allocation, so no step pays first-touch page faults.
class GradientArena {
 public:
  explicit GradientArena(const std::vector<uint64_t>& elementCounts);
  ~GradientArena();
  GradientArena(const GradientArena&) = delete;
  GradientArena& operator=(const GradientArena&) = delete;

  bool ok() const { return data_ != nullptr; }
  uint64_t bytes() const { return bytes_; }
  float* tensor(size_t i) const { return reinterpret_cast<float*>(data_ + offsets_[i]); }
  void zero();

 private:
  std::vector<uint64_t> offsets_;
  uint64_t bytes_ = 0;
  std::byte* data_ = nullptr;
};

struct StepTimes {
  double medianMs = 0.0;
  double p99Ms = 0.0;
  double minMs = 0.0;
};

// The slowest rank's time of each step (collective over the session), summarized.
Expected<StepTimes> summarizeSteps(const Session& session, const std::string& name,
                                   const std::vector<double>& localMs);

}  // namespace kolo::bench
