#include "bench_bound.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "bench_stats.h"
#include "kolo/collectives/collectives.h"

namespace kolo::bench {
namespace {

// Reads `bytes` (a multiple of 8 is read; the tail is not) so the compiler cannot drop it.
uint64_t readAll(const std::byte* data, size_t bytes) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  const size_t words = bytes / 8;
  size_t i = 0;
  for (; i + 4 <= words; i += 4) {
    uint64_t w[4];
    std::memcpy(w, data + i * 8, sizeof(w));
    a ^= w[0];
    b ^= w[1];
    c ^= w[2];
    d ^= w[3];
  }
  for (; i < words; ++i) {
    uint64_t w;
    std::memcpy(&w, data + i * 8, sizeof(w));
    a ^= w;
  }
  return a ^ b ^ c ^ d;
}

}  // namespace

std::pair<uint64_t, uint64_t> boundTraffic(Collective c, int ranks, uint64_t bytes) {
  const uint64_t n = static_cast<uint64_t>(std::max(ranks, 1));
  switch (c) {
    case Collective::kAllgather:
      return {bytes / n, bytes};
    case Collective::kReduceScatter:
      return {bytes, bytes / n};
    default:
      return {bytes, bytes};
  }
}

Expected<double> measureBound(Communicator& comm, Collective c, const SizePlan& plan) {
  const auto [in, out] = boundTraffic(c, comm.size(), plan.shape.bytes);
  std::vector<std::byte> input(in, std::byte{1}), output(out, std::byte{0});
  volatile uint64_t sink = 0;
  auto touch = [&] {
    const size_t copied = std::min(in, out);
    if (copied != 0) std::memcpy(output.data(), input.data(), copied);
    if (in > copied) sink = sink ^ readAll(input.data() + copied, in - copied);
    if (out > copied) std::memset(output.data() + copied, 2, out - copied);
    return Status::ok();
  };
  // Every iteration starts on all ranks at once, as the collective's ranks work at once.
  auto together = [&] { (void)coll::barrier(comm); };
  KOLO_ASSIGN_OR_RETURN(std::vector<double> local,
                        timeIterations(plan.warmup, plan.iterations, touch, together, {}));
  std::vector<double> gathered(local.size() * static_cast<size_t>(comm.size()));
  KOLO_RETURN_IF_ERROR(
      coll::allgather(comm, local.data(), gathered.data(), local.size() * sizeof(double))
          .withContext("gathering the bound's times"));
  return median(slowestPerIteration(gathered, comm.size(), plan.iterations));
}

}  // namespace kolo::bench
