#include "bench_runner.h"

#include <chrono>

#include "bench_stats.h"
#include "mpi_compare.h"

namespace kolo::bench {

Expected<std::vector<double>> timeIterations(int warmup, int iterations,
                                             const std::function<Status()>& call,
                                             const std::function<void()>& beforeEach,
                                             const std::function<void()>& afterEach) {
  for (int i = 0; i < warmup; ++i) {
    if (Status status = call(); !status.isOk()) {
      return status.withContext(fmt::format("warmup iteration {}", i));
    }
  }
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    if (beforeEach) beforeEach();
    auto start = std::chrono::steady_clock::now();
    Status status = call();
    auto stop = std::chrono::steady_clock::now();
    // The context is formatted only on failure: nothing but the call runs between iterations.
    if (!status.isOk()) return status.withContext(fmt::format("timed iteration {}", i));
    micros.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
    if (afterEach) afterEach();
  }
  return micros;
}

void prepareTimedData(CollectiveBench& bench, const SizePlan& plan) {
  bench.prepare(plan.shape);
  const Collective c = bench.config().collective;
  const bool reducesInPlace =
      bench.inPlace() && (c == Collective::kAllreduce || c == Collective::kReduceScatter);
  if (reducesInPlace && !plan.checkEveryIteration) bench.prepareFixedPoint(plan.shape);
}

CheckHooks makeCheckHooks(CollectiveBench& bench, const SizePlan& plan, uint64_t& wrong) {
  CheckHooks hooks;
  if (plan.checkEveryIteration) {
    hooks.before = [&bench, &plan] { bench.poisonOutputs(plan.shape); };
    hooks.after = [&bench, &plan, &wrong] { wrong += bench.countWrong(plan.shape); };
  }
  return hooks;
}

SideResult summarizeGathered(std::span<const double> gathered, int ranks, const SizePlan& plan,
                             int mpiIterations) {
  const size_t stride =
      static_cast<size_t>(plan.iterations) + static_cast<size_t>(mpiIterations) + 1;
  std::vector<double> kolo;
  std::vector<double> mpi;
  SideResult result;
  for (int r = 0; r < ranks; ++r) {
    auto mine = gathered.subspan(static_cast<size_t>(r) * stride, stride);
    kolo.insert(kolo.end(), mine.begin(), mine.begin() + plan.iterations);
    mpi.insert(mpi.end(), mine.begin() + plan.iterations, mine.end() - 1);
    result.kolo.wrong += static_cast<uint64_t>(mine.back());
  }
  auto koloSlowest = slowestPerIteration(kolo, ranks, plan.iterations);
  result.kolo.medianUs = median(koloSlowest);
  result.kolo.p99Us = percentile(koloSlowest, 99.0);
  if (mpiIterations > 0) {
    auto mpiSlowest = slowestPerIteration(mpi, ranks, mpiIterations);
    result.mpi = Timing{median(mpiSlowest), percentile(mpiSlowest, 99.0), 0};
  }
  return result;
}

Expected<SideResult> runSize(Communicator& comm, CollectiveBench& bench, const SizePlan& plan,
                             MpiJob* mpi) {
  const SizeShape& shape = plan.shape;
  uint64_t wrong = 0;
  prepareTimedData(bench, plan);
  // Ranks enter the timed loop together; after that each iteration's slowest rank is what
  // the row reports, so drift between ranks shows up as time rather than hiding.
  KOLO_RETURN_IF_ERROR(coll::barrier(comm).withContext("barrier before the timed loop"));
  CheckHooks hooks = makeCheckHooks(bench, plan, wrong);
  KOLO_ASSIGN_OR_RETURN(std::vector<double> local,
                        timeIterations(
                            plan.warmup, plan.iterations, [&] { return bench.run(comm, shape); },
                            hooks.before, hooks.after));

  // The checked call, on freshly written inputs and poisoned outputs.
  bench.prepare(shape);
  KOLO_RETURN_IF_ERROR(bench.run(comm, shape).withContext("checked call"));
  wrong += bench.countWrong(shape);

  int mpiIterations = 0;
  if (mpi != nullptr) {
    MpiCall call = bench.prepareMpi(shape);
    if (mpiSupports(call)) {
      KOLO_RETURN_IF_ERROR(mpi->barrier());
      KOLO_ASSIGN_OR_RETURN(
          std::vector<double> mpiTimes,
          timeIterations(plan.warmup, plan.iterations, [&] { return mpi->run(call); }, {}, {}));
      local.insert(local.end(), mpiTimes.begin(), mpiTimes.end());
      mpiIterations = plan.iterations;
    }
  }
  local.push_back(static_cast<double>(wrong));

  std::vector<double> gathered(local.size() * static_cast<size_t>(comm.size()));
  KOLO_RETURN_IF_ERROR(
      coll::allgather(comm, local.data(), gathered.data(), local.size() * sizeof(double))
          .withContext("gathering per-iteration times"));
  return summarizeGathered(gathered, comm.size(), plan, mpiIterations);
}

}  // namespace kolo::bench
