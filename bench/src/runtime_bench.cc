#include "runtime_bench.h"

#include <fmt/format.h>

#include "bench_stats.h"
#include "mpi_compare.h"

namespace kolo::bench {
namespace {

// The bench's own exchanges (barriers, gathering times and wrong counts) are small; a rank
// that has not joined one within this is gone.
constexpr double kExchangeTimeoutSeconds = 120.0;

}  // namespace

Expected<std::vector<double>> maxAcrossRanks(const Session& session, const std::string& name,
                                             std::span<const double> local) {
  std::vector<double> values(local.begin(), local.end());
  if (values.empty()) return values;
  Tensor tensor;
  tensor.data = values.data();
  tensor.output = values.data();
  tensor.dtype = DataType::kFloat64;
  tensor.shape = {static_cast<int64_t>(values.size())};
  OpOptions options;
  options.reduceOp = ReduceOp::kMax;
  KOLO_ASSIGN_OR_RETURN(Handle handle, session.allreduce(name, tensor, options));
  KOLO_RETURN_IF_ERROR(handle.wait(kExchangeTimeoutSeconds).withContext(name));
  return values;
}

Expected<uint64_t> sumAcrossRanks(const Session& session, const std::string& name, uint64_t local) {
  auto value = static_cast<int64_t>(local);
  Tensor tensor;
  tensor.data = &value;
  tensor.output = &value;
  tensor.dtype = DataType::kInt64;
  tensor.shape = {1};
  KOLO_ASSIGN_OR_RETURN(Handle handle, session.allreduce(name, tensor));
  KOLO_RETURN_IF_ERROR(handle.wait(kExchangeTimeoutSeconds).withContext(name));
  return static_cast<uint64_t>(value);
}

Status sessionBarrier(const Session& session, const std::string& name) {
  KOLO_ASSIGN_OR_RETURN(Handle handle, session.barrier(name));
  return handle.wait(kExchangeTimeoutSeconds).withContext(name);
}

Status runtimeAllreduce(const Session& session, CollectiveBench& bench, const SizeShape& shape,
                        const std::string& name, double timeoutSeconds) {
  const OpConfig& config = bench.config();
  Tensor tensor;
  tensor.data = bench.allreduceInput();
  tensor.output = bench.allreduceOutput();
  tensor.dtype = config.type;
  tensor.shape = {static_cast<int64_t>(shape.count)};
  OpOptions options;
  options.reduceOp = config.op;
  KOLO_ASSIGN_OR_RETURN(Handle handle, session.allreduce(name, tensor, options));
  return handle.wait(timeoutSeconds);
}

Expected<SideResult> runRuntimeSize(const Session& session, CollectiveBench& bench,
                                    const SizePlan& plan, double timeoutSeconds, MpiJob* mpi) {
  const SizeShape& shape = plan.shape;
  // One name per size: repeated iterations hit the response cache, as a training loop does.
  const std::string name = fmt::format("bench.allreduce.{}.{}",
                                       bench.inPlace() ? "in_place" : "out_of_place", shape.bytes);
  uint64_t wrong = 0;
  prepareTimedData(bench, plan);
  KOLO_RETURN_IF_ERROR(sessionBarrier(session, name + ".start"));
  CheckHooks hooks = makeCheckHooks(bench, plan, wrong);
  KOLO_ASSIGN_OR_RETURN(
      std::vector<double> local,
      timeIterations(
          plan.warmup, plan.iterations,
          [&] { return runtimeAllreduce(session, bench, shape, name, timeoutSeconds); },
          hooks.before, hooks.after));

  bench.prepare(shape);
  KOLO_RETURN_IF_ERROR(
      runtimeAllreduce(session, bench, shape, name, timeoutSeconds).withContext("checked call"));
  wrong += bench.countWrong(shape);

  SideResult result;
  KOLO_ASSIGN_OR_RETURN(std::vector<double> slowest,
                        maxAcrossRanks(session, name + ".times", local));
  KOLO_ASSIGN_OR_RETURN(result.kolo.wrong, sumAcrossRanks(session, name + ".wrong", wrong));
  result.kolo.medianUs = median(slowest);
  result.kolo.p99Us = percentile(slowest, 99.0);

  if (mpi != nullptr) {
    MpiCall call = bench.prepareMpi(shape);
    // Every rank decides alike (same dtype, op and count), so skipping stays collective.
    if (mpiSupports(call)) {
      KOLO_RETURN_IF_ERROR(mpi->barrier());
      KOLO_ASSIGN_OR_RETURN(
          std::vector<double> mpiLocal,
          timeIterations(plan.warmup, plan.iterations, [&] { return mpi->run(call); }, {}, {}));
      KOLO_ASSIGN_OR_RETURN(std::vector<double> mpiSlowest,
                            maxAcrossRanks(session, name + ".mpi_times", mpiLocal));
      result.mpi = Timing{median(mpiSlowest), percentile(mpiSlowest, 99.0), 0};
    }
  }
  return result;
}

}  // namespace kolo::bench
