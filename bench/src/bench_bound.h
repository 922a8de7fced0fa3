// kolo-bench --bound: this machine's memory-bandwidth floor for a collective at one size. Every
// rank, all at once, reads as many bytes as the collective's input and writes as many as its
// output once, in private buffers (memcpy, then a read or a write of the rest): no collective
// on one host can move its data in less time, since each rank must at least read its input
// and write its output. The row's bound column is that time over Kolo's, i.e. Kolo's busbw as
// a fraction of the floor's busbw.
// Thread: main thread; a collective at a time on the communicator.
#pragma once

#include <cstdint>
#include <utility>

#include "bench_options.h"
#include "bench_runner.h"
#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"

namespace kolo::bench {

// Bytes one rank reads (its input) and writes (its output) in the collective at nccl-tests'
// size `bytes`: allgather reads bytes/n and writes bytes, reducescatter the other way round,
// the others read and write `bytes`.
std::pair<uint64_t, uint64_t> boundTraffic(Collective c, int ranks, uint64_t bytes);

// The floor's time at plan's size: per iteration the slowest rank, p50 over the plan's
// iterations, in microseconds. Every rank gets the same value.
Expected<double> measureBound(Communicator& comm, Collective c, const SizePlan& plan);

}  // namespace kolo::bench
