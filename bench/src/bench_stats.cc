#include "bench_stats.h"

#include <algorithm>
#include <cmath>

namespace kolo::bench {

std::vector<double> slowestPerIteration(std::span<const double> gathered, int ranks,
                                        int iterations) {
  std::vector<double> slowest(static_cast<size_t>(std::max(iterations, 0)), 0.0);
  for (int r = 0; r < ranks; ++r) {
    for (int i = 0; i < iterations; ++i) {
      size_t at = static_cast<size_t>(r) * static_cast<size_t>(iterations) + static_cast<size_t>(i);
      if (at < gathered.size())
        slowest[static_cast<size_t>(i)] = std::max(slowest[static_cast<size_t>(i)], gathered[at]);
    }
  }
  return slowest;
}

double median(std::vector<double> samples) {
  if (samples.empty()) return 0.0;
  std::sort(samples.begin(), samples.end());
  size_t mid = samples.size() / 2;
  if (samples.size() % 2 == 1) return samples[mid];
  return (samples[mid - 1] + samples[mid]) / 2.0;
}

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0.0;
  std::sort(samples.begin(), samples.end());
  double clamped = std::clamp(p, 0.0, 100.0);
  // Nearest rank: the smallest value with at least p% of the samples at or below it.
  auto rank = static_cast<size_t>(std::ceil(clamped / 100.0 * static_cast<double>(samples.size())));
  if (rank == 0) rank = 1;
  return samples[rank - 1];
}

double algorithmBandwidth(uint64_t bytes, double micros) {
  if (micros <= 0.0) return 0.0;
  return static_cast<double>(bytes) / (micros * 1e3);
}

double busBandwidthFactor(Collective c, int ranks) {
  if (ranks <= 0) return 0.0;
  const double n = ranks;
  switch (c) {
    case Collective::kAllreduce:
      return 2.0 * (n - 1.0) / n;
    case Collective::kAllgather:
    case Collective::kReduceScatter:
    case Collective::kAlltoall:
      return (n - 1.0) / n;
    case Collective::kBroadcast:
      return 1.0;
  }
  return 0.0;
}

}  // namespace kolo::bench
