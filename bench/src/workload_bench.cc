#include "workload_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "bench_ops.h"
#include "bench_report.h"
#include "kolo/bench_interface.h"
#include "mpi_compare.h"
#include "runtime_bench.h"

namespace kolo::bench {
namespace {

constexpr size_t kFloatBytes = 4;

// The average's inputs (see reduceInput): exact in float32, the sum a multiple of n.
void fillPattern(const Workload& workload, GradientArena& arena, int rank, int worldSize) {
  for (size_t t = 0; t < workload.tensors.size(); ++t) {
    float* data = arena.tensor(t);
    for (uint64_t i = 0; i < workload.tensors[t].elements; ++i) {
      storeElement(DataType::kFloat32, data, i,
                   reduceInput(ReduceOp::kAverage, rank, worldSize, t + i));
    }
  }
}

uint64_t countWrong(const Workload& workload, const GradientArena& arena, int worldSize) {
  uint64_t wrong = 0;
  std::byte expected[8];
  for (size_t t = 0; t < workload.tensors.size(); ++t) {
    const float* data = arena.tensor(t);
    for (uint64_t i = 0; i < workload.tensors[t].elements; ++i) {
      expectedReduction(DataType::kFloat32, ReduceOp::kAverage, worldSize, t + i, expected);
      if (std::memcmp(&data[i], expected, kFloatBytes) != 0) ++wrong;
    }
  }
  return wrong;
}

Status runStep(const Session& session, const Workload& workload, const GradientArena& arena,
               const std::vector<std::string>& names, double timeoutSeconds) {
  std::vector<Handle> handles;
  handles.reserve(workload.tensors.size());
  OpOptions options;
  options.reduceOp = ReduceOp::kAverage;
  for (size_t t = 0; t < workload.tensors.size(); ++t) {
    Tensor tensor;
    tensor.data = arena.tensor(t);
    tensor.output = arena.tensor(t);
    tensor.dtype = DataType::kFloat32;
    tensor.shape = workload.tensors[t].shape;
    KOLO_ASSIGN_OR_RETURN(Handle handle, session.allreduce(names[t], tensor, options));
    handles.push_back(std::move(handle));
  }
  // One deadline for the whole step, counted from the last submission.
  const auto submitted = Clock::now();
  for (size_t t = 0; t < handles.size(); ++t) {
    const double left = std::max(0.0, timeoutSeconds - millisSince(submitted) / 1000.0);
    KOLO_RETURN_IF_ERROR(handles[t].wait(left).withContext(names[t]));
  }
  return Status::ok();
}

// Open MPI both ways, on the same arena (zeros, so repeated in-place sums stay finite). MPI
// has no average: it sums, as the frameworks' MPI paths do before scaling.
Status compareMpi(const Session& session, const Workload& workload, GradientArena& arena,
                  const WorkloadOptions& options, MpiJob& mpi, WorkloadResult& result) {
  arena.zero();
  const size_t n = workload.tensors.size();
  const int steps = options.warmup + options.iterations;
  auto callFor = [&](void* data, size_t count) {
    return MpiCall{
        Collective::kAllreduce, DataType::kFloat32, ReduceOp::kSum, 0, count, nullptr, data};
  };
  std::vector<double> perTensor;
  KOLO_RETURN_IF_ERROR(mpi.barrier());
  for (int step = 0; step < steps; ++step) {
    auto start = Clock::now();
    for (size_t t = 0; t < n; ++t) {
      KOLO_RETURN_IF_ERROR(mpi.run(callFor(arena.tensor(t), workload.tensors[t].elements))
                               .withContext(workload.tensors[t].name));
    }
    if (step >= options.warmup) perTensor.push_back(millisSince(start));
  }

  GradientArena packed({workload.totalElements()});
  if (!packed.ok()) {
    return makeStatus(Code::kUnavailable, "cannot allocate the {} B packed MPI buffer",
                      workload.totalBytes());
  }
  float* flat = packed.tensor(0);
  std::vector<double> total;
  std::vector<double> copies;
  KOLO_RETURN_IF_ERROR(mpi.barrier());
  for (int step = 0; step < steps; ++step) {
    auto start = Clock::now();
    size_t at = 0;
    for (size_t t = 0; t < n; ++t) {
      std::memcpy(flat + at, arena.tensor(t), workload.tensors[t].elements * kFloatBytes);
      at += workload.tensors[t].elements;
    }
    const double packMs = millisSince(start);
    auto reduceStart = Clock::now();
    KOLO_RETURN_IF_ERROR(mpi.run(callFor(flat, at)).withContext("packed buffer"));
    const double reduceMs = millisSince(reduceStart);
    auto unpackStart = Clock::now();
    at = 0;
    for (size_t t = 0; t < n; ++t) {
      std::memcpy(arena.tensor(t), flat + at, workload.tensors[t].elements * kFloatBytes);
      at += workload.tensors[t].elements;
    }
    const double unpackMs = millisSince(unpackStart);
    if (step >= options.warmup) {
      total.push_back(packMs + reduceMs + unpackMs);
      copies.push_back(packMs + unpackMs);
    }
  }
  const std::string base = "kolo-bench." + workload.name + ".mpi";
  KOLO_ASSIGN_OR_RETURN(result.mpiPerTensor, summarizeSteps(session, base + ".per_tensor", perTensor));
  KOLO_ASSIGN_OR_RETURN(result.mpiPacked, summarizeSteps(session, base + ".packed", total));
  KOLO_ASSIGN_OR_RETURN(result.mpiPackCopies, summarizeSteps(session, base + ".copies", copies));
  return Status::ok();
}

double gbPerSecond(uint64_t bytes, double ms) {
  return ms > 0.0 ? static_cast<double>(bytes) / (ms * 1e6) : 0.0;
}

}  // namespace

std::string workloadTensorPrefix(const Workload& workload) {
  return workload.name + ".";
}

Expected<WorkloadResult> describeWorkloadRun(const Session& session, const Workload& workload,
                                             const WorkloadOptions& options) {
  WorkloadResult result;
  result.workload = workload.name;
  result.tensors = workload.tensors.size();
  result.elements = workload.totalElements();
  result.bytes = workload.totalBytes();
  result.worldSize = session.size();
  result.iterations = options.iterations;
  result.warmup = options.warmup;
  KOLO_ASSIGN_OR_RETURN(BenchSessionSettings settings, benchSessionSettings(session));
  result.fusionThresholdBytes = settings.fusionThresholdBytes;
  result.largeTensorBytes = settings.largeTensorBytes;
  return result;
}

Expected<WorkloadResult> runWorkload(const Session& session, const Workload& workload,
                                     const WorkloadOptions& options, MpiJob* mpi) {
  KOLO_ASSIGN_OR_RETURN(WorkloadResult result, describeWorkloadRun(session, workload, options));

  std::vector<uint64_t> counts;
  for (const auto& t : workload.tensors) counts.push_back(t.elements);
  GradientArena arena(counts);
  if (!arena.ok()) {
    return makeStatus(Code::kUnavailable, "cannot allocate {} B for the gradients of {}",
                      workload.totalBytes(), workload.name);
  }
  const std::string prefix = workloadTensorPrefix(workload);
  std::vector<std::string> names;
  names.reserve(workload.tensors.size());
  for (const auto& t : workload.tensors) names.push_back(prefix + t.name);

  // The bench's own ops are named apart from the workload's tensors, so the timeline
  // breakdown (rows starting with `prefix`) counts only the gradients.
  const std::string own = "kolo-bench." + workload.name;
  KOLO_RETURN_IF_ERROR(sessionBarrier(session, own + ".start"));
  std::vector<double> stepMs;
  for (int step = 0; step < options.warmup + options.iterations; ++step) {
    auto start = Clock::now();
    KOLO_RETURN_IF_ERROR(runStep(session, workload, arena, names, options.timeoutSeconds)
                             .withContext(fmt::format("step {}", step)));
    const double ms = millisSince(start);
    result.localAllStepsMs += ms;
    if (step >= options.warmup) stepMs.push_back(ms);
  }
  fillPattern(workload, arena, session.rank(), session.size());
  auto checkedStart = Clock::now();
  KOLO_RETURN_IF_ERROR(
      runStep(session, workload, arena, names, options.timeoutSeconds).withContext("checked step"));
  result.localAllStepsMs += millisSince(checkedStart);
  result.timelineSteps = options.warmup + options.iterations + 1;
  const uint64_t wrong = countWrong(workload, arena, session.size());
  KOLO_ASSIGN_OR_RETURN(result.kolo, summarizeSteps(session, own + ".steps", stepMs));
  KOLO_ASSIGN_OR_RETURN(result.wrong, sumAcrossRanks(session, own + ".wrong", wrong));
  if (mpi != nullptr)
    KOLO_RETURN_IF_ERROR(compareMpi(session, workload, arena, options, *mpi, result));
  return result;
}

std::string formatWorkloadReport(const WorkloadResult& r, const std::string& hosts,
                                 const std::string& transport) {
  const bool sharded = r.mode == "sharded";
  std::string out = fmt::format(
      "# kolo-bench workload {}: {} float32 tensors, {} parameters ({:.1f} MB) per rank\n"
      "# {} ranks on {}; transport {}; {}\n"
      "# fusion threshold {}, tensors from {} run in place; {} timed + {} warmup steps; time "
      "per step: the slowest rank's\n#\n",
      r.workload, r.tensors, r.elements, static_cast<double>(r.bytes) / 1e6, r.worldSize, hosts,
      transport,
      sharded ? "--mode sharded: reducescatter avg of every gradient (async, backward order, all "
                "waited), then allgather of every parameter shard (all waited)"
              : "allreduce avg, submitted async in backward order, then all waited",
      formatBytes(r.fusionThresholdBytes), formatBytes(r.largeTensorBytes), r.iterations,
      r.warmup);
  out += fmt::format("# {:<34} {:>11} {:>10} {:>10} {:>9}\n", "strategy", "median(ms)", "p99(ms)",
                     "min(ms)", "GB/s");
  auto row = [&](const std::string& name, const StepTimes& t) {
    out += fmt::format("  {:<34} {:>11.2f} {:>10.2f} {:>10.2f} {:>9.2f}\n", name, t.medianMs,
                       t.p99Ms, t.minMs, gbPerSecond(r.bytes, t.medianMs));
  };
  row("kolo runtime", r.kolo);
  if (r.mpiPerTensor) {
    row(sharded ? "mpi RS_block+Allgather per tensor" : "mpi MPI_Allreduce per tensor",
        *r.mpiPerTensor);
  }
  if (r.mpiPacked) {
    row(sharded ? "mpi packed (pack+RS+AG+unpack)" : "mpi packed (pack+allreduce+unpack)",
        *r.mpiPacked);
    row("  of which pack+unpack copies", *r.mpiPackCopies);
  }
  if (r.mpiPerTensor && r.mpiPacked) {
    const bool perTensorFaster = r.mpiPerTensor->medianMs <= r.mpiPacked->medianMs;
    const double faster = perTensorFaster ? r.mpiPerTensor->medianMs : r.mpiPacked->medianMs;
    out +=
        fmt::format("# kolo / faster mpi ({}): {:.2f}\n", perTensorFaster ? "per tensor" : "packed",
                    faster > 0.0 ? r.kolo.medianMs / faster : 0.0);
  }
  if (r.breakdown && r.timelineSteps > 0) {
    // Means over every step the timeline saw (the first one negotiates, later ones hit the
    // cache), against rank 0's own wall time over the same steps.
    const double steps = r.timelineSteps;
    const double coll = r.breakdown->collectiveMs / steps;
    const double copy = r.breakdown->copyMs / steps;
    const double step = r.localAllStepsMs / steps;
    const double rest = std::max(step - coll - copy, 0.0);
    auto pct = [&](double ms) { return step > 0.0 ? 100.0 * ms / step : 0.0; };
    out += fmt::format(
        "# timeline, rank 0, mean of {} steps ({:.2f} ms, timeline on): collectives {:.2f} ms "
        "({:.0f}%), fusion copies {:.2f} ms ({:.0f}%), negotiation/queueing/rest {:.2f} ms "
        "({:.0f}%); {:.1f} batches per step, {:.1f} of them fused\n",
        r.timelineSteps, step, coll, pct(coll), copy, pct(copy), rest, pct(rest),
        static_cast<double>(r.breakdown->batches) / steps,
        static_cast<double>(r.breakdown->fusedBatches) / steps);
  } else {
    out +=
        "# timeline breakdown: run with KOLO_TIMELINE=FILE for the time in negotiation, "
        "fusion copies and collectives\n";
  }
  out += fmt::format("# median step : {:.3f} ms\n", r.kolo.medianMs);
  out += fmt::format("# Out of bounds values : {} {}\n", r.wrong, r.wrong == 0 ? "OK" : "FAILED");
  return out;
}

nlohmann::json workloadJson(const WorkloadResult& r) {
  auto times = [&](const StepTimes& t) {
    return nlohmann::json{{"median_ms", t.medianMs},
                          {"p99_ms", t.p99Ms},
                          {"min_ms", t.minMs},
                          {"gbps", gbPerSecond(r.bytes, t.medianMs)}};
  };
  nlohmann::json j{{"benchmark", "kolo-bench"},
                   {"kind", "workload"},
                   {"mode", r.mode},
                   {"workload", r.workload},
                   {"tensors", r.tensors},
                   {"parameters", r.elements},
                   {"bytes", r.bytes},
                   {"world_size", r.worldSize},
                   {"iterations", r.iterations},
                   {"warmup", r.warmup},
                   {"fusion_threshold_bytes", r.fusionThresholdBytes},
                   {"large_tensor_bytes", r.largeTensorBytes},
                   {"median_step_ms", r.kolo.medianMs},
                   {"effective_gbps", gbPerSecond(r.bytes, r.kolo.medianMs)},
                   {"kolo", times(r.kolo)},
                   {"wrong", r.wrong}};
  if (r.mpiPerTensor) j["mpi_per_tensor"] = times(*r.mpiPerTensor);
  if (r.mpiPacked) {
    j["mpi_packed"] = times(*r.mpiPacked);
    j["mpi_packed_copies"] = times(*r.mpiPackCopies);
    const double faster = std::min(r.mpiPerTensor->medianMs, r.mpiPacked->medianMs);
    j["kolo_over_faster_mpi"] = faster > 0.0 ? r.kolo.medianMs / faster : 0.0;
  }
  if (r.breakdown && r.timelineSteps > 0) {
    // The same split as the text report: the rest of rank 0's step is negotiation, the
    // coordinator's cycles and handle completion.
    // The spans can outlast rank 0's own wall time by a little (a batch that started before
    // the step's clock); the fractions then describe the spans alone and still add up to 1.
    const double coll = r.breakdown->collectiveMs / r.timelineSteps;
    const double copy = r.breakdown->copyMs / r.timelineSteps;
    const double step = std::max(r.localAllStepsMs / r.timelineSteps, coll + copy);
    const double rest = step - coll - copy;
    auto fraction = [&](double ms) { return step > 0.0 ? ms / step : 0.0; };
    j["fractions"] = {{"collectives", fraction(coll)},
                      {"fusion_copies", fraction(copy)},
                      {"negotiation_and_rest", fraction(rest)}};
    j["timeline"] = {{"steps", r.timelineSteps},
                     {"rank0_mean_step_ms", r.localAllStepsMs / r.timelineSteps},
                     {"collective_ms_per_step", r.breakdown->collectiveMs / r.timelineSteps},
                     {"copy_ms_per_step", r.breakdown->copyMs / r.timelineSteps},
                     {"batches", r.breakdown->batches},
                     {"fused_batches", r.breakdown->fusedBatches}};
  }
  return j;
}

}  // namespace kolo::bench
