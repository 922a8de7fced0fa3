// Timing statistics and bandwidth formulas of kolo-bench, as nccl-tests defines them.
// Pure functions. Thread: any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "bench_options.h"

namespace kolo::bench {

// `gathered` holds every rank's per-iteration times, rank after rank (ranks * iterations
// values). Returns, per iteration, the slowest rank's time: a collective is only as fast as
// its last rank.
std::vector<double> slowestPerIteration(std::span<const double> gathered, int ranks,
                                        int iterations);

// Median (mean of the two middle values for an even count); 0 for no samples.
double median(std::vector<double> samples);
// Nearest-rank percentile, p in [0, 100]; 0 for no samples.
double percentile(std::vector<double> samples, double p);

// algbw in GB/s (1e9 bytes per second) of `bytes` moved in `micros`; 0 when micros <= 0.
double algorithmBandwidth(uint64_t bytes, double micros);
// busbw / algbw for the collective on `ranks` ranks: allreduce 2(n-1)/n; allgather,
// reducescatter and alltoall (n-1)/n; broadcast 1. It makes busbw comparable with the link
// bandwidth whatever the collective and world size.
double busBandwidthFactor(Collective c, int ranks);

}  // namespace kolo::bench
