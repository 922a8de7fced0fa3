// MetricsHistogram: a fixed-bucket histogram for live metrics, cheap enough to update on every
// collective. Values are integers in the metric's native unit (nanoseconds, tensors); the upper
// bounds are fixed at construction, so an observation is a short search and two relaxed stores.
// One thread writes (the coordinator that owns the metric); any thread may read a snapshot.
// Counts are kept per bucket and summed when read, so a snapshot's buckets are monotone and its
// +Inf bucket equals its count, as Prometheus requires.
// Thread: observe() on one writer thread; snapshot() on any.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

namespace kolo::core {

// Adds to a counter that only one thread writes: a load and a store, no locked instruction.
inline void bumpRelaxed(std::atomic<uint64_t>& counter, uint64_t by = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

class MetricsHistogram {
 public:
  // `bounds`: increasing upper bounds (le), in native units; +Inf is implied. Must outlive this.
  explicit MetricsHistogram(std::span<const uint64_t> bounds)
      : bounds_(bounds), counts_(bounds.size() + 1) {}

  void observe(uint64_t value) {
    const size_t bucket = static_cast<size_t>(
        std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    bumpRelaxed(counts_[bucket]);
    bumpRelaxed(sum_, value);
  }

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    uint64_t sum = 0;
    uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }
  };
  Snapshot snapshot() const {
    Snapshot s;
    s.cumulative.resize(counts_.size());
    uint64_t running = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      running += counts_[i].load(std::memory_order_relaxed);
      s.cumulative[i] = running;
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
  }
  std::span<const uint64_t> bounds() const { return bounds_; }

 private:
  std::span<const uint64_t> bounds_;
  std::vector<std::atomic<uint64_t>> counts_;
  std::atomic<uint64_t> sum_{0};
};

}  // namespace kolo::core
