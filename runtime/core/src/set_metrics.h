// SetMetrics: the live metrics of one process set on this rank (KOLO_METRICS_PORT,
// KOLO_METRICS_FILE): per collective, the ops completed and failed, their payload and bus
// bytes, the time their collectives ran and how it split into copy, reduce, transfer and other
// (kolo/collectives/phase_clock.h), a latency histogram (submit to completion) and a
// fusion batch-size histogram; per set, negotiation time, response-cache hits and misses and
// stall warnings, and how late each member's requests arrive (ArrivalSkew). The coordinator updates
// them with relaxed single-writer atomics (no lock, no allocation); the MetricsPublisher thread
// reads them to render a snapshot. Thread: the record* methods on the set's coordinator thread
// only; reads on any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "arrival_skew.h"
#include "kolo/base/deadline.h"
#include "kolo/collectives/phase_clock.h"
#include "kolo/core/fusion_planner.h"
#include "kolo/core/request.h"
#include "metrics_histogram.h"
#include "op_executor.h"
#include "phase_sampler.h"

namespace kolo::core {

// Latency buckets, in nanoseconds: 10 us .. 10 s.
inline constexpr uint64_t kLatencyBoundsNs[] = {
    10'000,      25'000,      50'000,      100'000,       250'000,       500'000,
    1'000'000,   2'500'000,   5'000'000,   10'000'000,    25'000'000,    50'000'000,
    100'000'000, 250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000, 10'000'000'000};
// Fusion batch sizes, in tensors per batch.
inline constexpr uint64_t kBatchTensorBounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
// The label values of OpMetrics::phaseNanos, in its order.
inline constexpr const char* kPhaseLabels[kPhaseCount + 1] = {"copy", "reduce", "transfer",
                                                              "other"};

struct OpMetrics {
  std::atomic<uint64_t> ops{0};              // tensors completed successfully
  std::atomic<uint64_t> failed{0};           // tensors whose collective failed
  std::atomic<uint64_t> bytes{0};            // payload bytes of the completed tensors on this rank
  std::atomic<uint64_t> busBytes{0};         // bytes x the collective's bus factor
  std::atomic<uint64_t> collectiveNanos{0};  // time the batches' collectives ran
  // collectiveNanos split by Phase (copy, reduce, transfer), then "other": what no phase covered.
  std::array<std::atomic<uint64_t>, kPhaseCount + 1> phaseNanos{};
  MetricsHistogram latency{kLatencyBoundsNs};  // per tensor: submit to completion
  MetricsHistogram batchTensors{kBatchTensorBounds};
  // The shares of copy, reduce and transfer in the last clocked small batch (writer only).
  std::array<double, kPhaseCount> smallShares{};
};

class SetMetrics {
 public:
  SetMetrics(int32_t processSet, std::vector<int32_t> members)
      : processSet_(processSet),
        setSize_(static_cast<int32_t>(members.size())),
        members_(std::move(members)),
        arrivals_(members_.size()) {
    for (size_t t = 0; t < kOpTypeCount; ++t) {
      busFactors_[t] = busFactor(static_cast<OpType>(t), setSize_);
    }
  }
  SetMetrics(const SetMetrics&) = delete;
  SetMetrics& operator=(const SetMetrics&) = delete;

  // A batch's collective ran from `start` to `end`; `ops` are this rank's ops of the cycle;
  // `phases` is the phase clock's reading over that span (the rest of it counts as other), or
  // null when the clock did not run for it (a small batch between samples, PhaseSampler): its
  // span is then split as the op's last clocked small batch's was (all other before the first).
  void recordBatch(const FusedBatch& batch, const BatchOps& ops, Clock::time_point start,
                   Clock::time_point end, bool ok, const PhaseTotals* phases);
  // One negotiation cycle: `cached` responses came from the cache; `requests` of this rank's
  // ops had to be negotiated.
  void recordNegotiation(uint64_t tookNanos, size_t cached, size_t requests);
  // `ops` passed KOLO_STALL_WARNING_SECONDS.
  void recordStall(size_t ops) { bumpRelaxed(stalls_, ops); }

  int32_t processSet() const { return processSet_; }
  int32_t setSize() const { return setSize_; }
  const std::vector<int32_t>& members() const { return members_; }  // world ranks, set order
  // Arrival skew (section "Live metrics"): recorded by NegotiationCycle.
  ArrivalSkew& arrivals() { return arrivals_; }
  const ArrivalSkew& arrivals() const { return arrivals_; }
  const OpMetrics& op(OpType type) const { return ops_[static_cast<size_t>(type)]; }
  const MetricsHistogram& negotiation() const { return negotiation_; }
  uint64_t cacheHits() const { return cacheHits_.load(std::memory_order_relaxed); }
  uint64_t cacheMisses() const { return cacheMisses_.load(std::memory_order_relaxed); }
  uint64_t stalls() const { return stalls_.load(std::memory_order_relaxed); }

  // Bus bytes per payload byte, as nccl-tests counts them: allreduce 2(n-1)/n, allgather,
  // reducescatter and alltoall (n-1)/n, broadcast 1, barrier and join 0.
  static double busFactor(OpType type, int32_t n);

 private:
  const int32_t processSet_;
  const int32_t setSize_;
  const std::vector<int32_t> members_;
  ArrivalSkew arrivals_;
  std::array<OpMetrics, kOpTypeCount> ops_;
  std::array<double, kOpTypeCount> busFactors_{};  // busFactor(type, setSize_)
  MetricsHistogram negotiation_{kLatencyBoundsNs};
  std::atomic<uint64_t> cacheHits_{0};
  std::atomic<uint64_t> cacheMisses_{0};
  std::atomic<uint64_t> stalls_{0};
};

}  // namespace kolo::core
