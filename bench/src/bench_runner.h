// Runs one size of the sweep: warmup, timed iterations (each rank times its own call with
// steady_clock), the checked call, the optional MPI comparison at the same size, and the
// gathering of every rank's times (a Kolo allgather) into the row rank 0 prints.
// Thread: main thread; a collective at a time on the communicator.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "bench_ops.h"
#include "bench_report.h"
#include "kolo/base/status.h"

namespace kolo::bench {

class MpiJob;  // mpi_compare.h

struct SizePlan {
  SizeShape shape;
  int warmup = 0;
  int iterations = 1;
  bool checkEveryIteration = false;
};

// Times `call` `iterations` times after `warmup` untimed calls, in microseconds.
// `beforeEach` / `afterEach` run outside the timed region (refill and check for --check).
Expected<std::vector<double>> timeIterations(int warmup, int iterations,
                                             const std::function<Status()>& call,
                                             const std::function<void()>& beforeEach,
                                             const std::function<void()>& afterEach);

// Writes a size's inputs before its timed loop. Repeated in-place calls without --check get a
// fixed point of the op instead, so their data stays finite.
void prepareTimedData(CollectiveBench& bench, const SizePlan& plan);

// What runs around each timed iteration: with --check, reset the outputs before and add the
// wrong elements to `wrong` after; otherwise nothing.
struct CheckHooks {
  std::function<void()> before;
  std::function<void()> after;
};
CheckHooks makeCheckHooks(CollectiveBench& bench, const SizePlan& plan, uint64_t& wrong);

// Reduces the gathered per-rank samples to one side of a row (the side `bench` is set to:
// out of place or in place). `gathered` is, per rank in rank order,
// [kolo times (iterations), mpi times (mpiIterations), wrong elements].
SideResult summarizeGathered(std::span<const double> gathered, int ranks, const SizePlan& plan,
                             int mpiIterations);

// Runs one size, in the side `bench` is set to, on every rank; each rank gets the same result.
// `mpi` is null unless comparing (main runs MPI next to one side only).
Expected<SideResult> runSize(Communicator& comm, CollectiveBench& bench, const SizePlan& plan,
                             MpiJob* mpi);

}  // namespace kolo::bench
