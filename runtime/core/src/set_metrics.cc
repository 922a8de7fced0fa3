#include "set_metrics.h"

#include <algorithm>

namespace kolo::core {
namespace {

uint64_t nanosBetween(Clock::time_point from, Clock::time_point to) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
  return ns > 0 ? static_cast<uint64_t>(ns) : 0;
}

}  // namespace

double SetMetrics::busFactor(OpType type, int32_t n) {
  if (n <= 1) return 0.0;
  const double share = static_cast<double>(n - 1) / static_cast<double>(n);
  switch (type) {
    case OpType::kAllreduce:
      return 2.0 * share;
    case OpType::kAllgather:
    case OpType::kReducescatter:
    case OpType::kAlltoall:
      return share;
    case OpType::kBroadcast:
      return 1.0;
    default:
      return 0.0;
  }
}

void SetMetrics::recordBatch(const FusedBatch& batch, const BatchOps& ops, Clock::time_point start,
                             Clock::time_point end, bool ok, const PhaseTotals* phases) {
  const auto index = static_cast<size_t>(batch.op);
  if (index >= ops_.size()) return;
  OpMetrics& m = ops_[index];
  uint64_t tensors = 0;
  uint64_t bytes = 0;
  for (const FusedEntry& e : batch.entries) {
    const PendingOpPtr& op = ops[e.response][e.tensor];
    if (!op) continue;
    ++tensors;
    bytes += e.bytes;
    if (ok) m.latency.observe(nanosBetween(op->submittedAt, end));
  }
  if (!ok) {
    bumpRelaxed(m.failed, tensors);
    return;
  }
  bumpRelaxed(m.ops, tensors);
  bumpRelaxed(m.bytes, bytes);
  bumpRelaxed(m.busBytes,
              static_cast<uint64_t>(static_cast<double>(bytes) * busFactors_[index]));
  const uint64_t took = nanosBetween(start, end);
  bumpRelaxed(m.collectiveNanos, took);
  if (phases != nullptr && batch.totalBytes < kPhaseSampleMinBytes && took > 0) {
    for (size_t p = 0; p < kPhaseCount; ++p) {
      m.smallShares[p] = static_cast<double>(phases->nanos[p]) / static_cast<double>(took);
    }
  }
  // The phases lie inside [start, end] on this thread; "other" is the rest (never negative).
  uint64_t attributed = 0;
  for (size_t p = 0; p < kPhaseCount; ++p) {
    const uint64_t read = phases != nullptr
                              ? phases->nanos[p]
                              : static_cast<uint64_t>(m.smallShares[p] * static_cast<double>(took));
    const uint64_t ns = std::min(read, took - attributed);
    bumpRelaxed(m.phaseNanos[p], ns);
    attributed += ns;
  }
  bumpRelaxed(m.phaseNanos[kPhaseCount], took - attributed);
  m.batchTensors.observe(tensors);
}

void SetMetrics::recordNegotiation(uint64_t tookNanos, size_t cached, size_t requests) {
  negotiation_.observe(tookNanos);
  bumpRelaxed(cacheHits_, cached);
  bumpRelaxed(cacheMisses_, requests);
}

}  // namespace kolo::core
