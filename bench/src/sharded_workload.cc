#include "sharded_workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bench_ops.h"
#include "kolo/bench_interface.h"
#include "mpi_compare.h"
#include "runtime_bench.h"

namespace kolo::bench {
namespace {

constexpr size_t kFloatBytes = 4;

// Each tensor flattened and padded to a multiple of the world size: `padded` elements, of
// which every rank owns `shard` (rank r: [r * shard, (r + 1) * shard)).
struct ShardedLayout {
  std::vector<uint64_t> padded;
  std::vector<uint64_t> shard;
  uint64_t totalShard = 0;
};

ShardedLayout layoutOf(const Workload& workload, int size) {
  ShardedLayout l;
  const auto n = static_cast<uint64_t>(size);
  for (const auto& t : workload.tensors) {
    l.padded.push_back((t.elements + n - 1) / n * n);
    l.shard.push_back(l.padded.back() / n);
    l.totalShard += l.shard.back();
  }
  return l;
}

struct ShardedBuffers {
  GradientArena grads;   // each rank's gradients (input of the reducescatters)
  GradientArena params;  // the gathered parameters (output of the allgathers)
};

// One step, laid out as a sharded optimizer keeps its parameters: every reducescatter writes
// this rank's slice of its tensor's gathered parameters (`params`), all waited; every allgather
// then runs in place from that slice into the whole tensor, all waited. Kolo writes the
// caller's buffers (Tensor::outputBytes): no output is allocated or copied.
Status runShardedStep(const Session& session, const ShardedLayout& l, ShardedBuffers& b,
                      const std::vector<std::string>& names, double timeoutSeconds) {
  const size_t n = l.padded.size();
  const auto rank = static_cast<uint64_t>(session.rank());
  OpOptions average;
  average.reduceOp = ReduceOp::kAverage;
  auto runAll = [&](bool gather) -> Status {
    std::vector<Handle> handles;
    handles.reserve(n);
    for (size_t t = 0; t < n; ++t) {
      float* slice = b.params.tensor(t) + rank * l.shard[t];
      Tensor tensor;
      tensor.dtype = DataType::kFloat32;
      tensor.data = gather ? slice : b.grads.tensor(t);
      tensor.shape = {static_cast<int64_t>(gather ? l.shard[t] : l.padded[t])};
      tensor.output = gather ? b.params.tensor(t) : slice;
      tensor.outputBytes = (gather ? l.padded[t] : l.shard[t]) * kFloatBytes;
      KOLO_ASSIGN_OR_RETURN(Handle h, gather ? session.allgather(names[t] + ".param", tensor)
                                             : session.reducescatter(names[t] + ".grad", tensor,
                                                                     average));
      handles.push_back(std::move(h));
    }
    const auto submitted = Clock::now();
    for (size_t t = 0; t < n; ++t) {
      const double left = std::max(0.0, timeoutSeconds - millisSince(submitted) / 1000.0);
      KOLO_RETURN_IF_ERROR(handles[t].wait(left).withContext(names[t]));
    }
    return Status::ok();
  };
  KOLO_RETURN_IF_ERROR(runAll(false));
  return runAll(true);
}

// Gradients whose average is exact (reduceInput), and the count of gathered parameters that
// differ from it.
void fillPattern(const ShardedLayout& l, GradientArena& grads, int rank, int size) {
  for (size_t t = 0; t < l.padded.size(); ++t) {
    for (uint64_t i = 0; i < l.padded[t]; ++i) {
      storeElement(DataType::kFloat32, grads.tensor(t), i,
                   reduceInput(ReduceOp::kAverage, rank, size, t + i));
    }
  }
}

uint64_t countWrong(const ShardedLayout& l, const GradientArena& params, int size) {
  uint64_t wrong = 0;
  std::byte expected[8];
  for (size_t t = 0; t < l.padded.size(); ++t) {
    for (uint64_t i = 0; i < l.padded[t]; ++i) {
      expectedReduction(DataType::kFloat32, ReduceOp::kAverage, size, t + i, expected);
      if (std::memcmp(params.tensor(t) + i, expected, kFloatBytes) != 0) ++wrong;
    }
  }
  return wrong;
}

MpiCall mpiCall(Collective c, const void* send, void* recv, uint64_t count) {
  return MpiCall{c, DataType::kFloat32, ReduceOp::kSum, 0, static_cast<size_t>(count),
                 const_cast<void*>(send), recv};
}

// Open MPI per tensor: MPI_Reduce_scatter_block into `slices`, MPI_Allgather into params.
// (MPI has no average: it sums, as the frameworks' MPI paths do before scaling.)
Status mpiPerTensorStep(MpiJob& mpi, const ShardedLayout& l, ShardedBuffers& b,
                        GradientArena& slices) {
  for (size_t t = 0; t < l.padded.size(); ++t) {
    KOLO_RETURN_IF_ERROR(
        mpi.run(mpiCall(Collective::kReduceScatter, b.grads.tensor(t), slices.tensor(t),
                        l.padded[t])));
    KOLO_RETURN_IF_ERROR(mpi.run(
        mpiCall(Collective::kAllgather, slices.tensor(t), b.params.tensor(t), l.padded[t])));
  }
  return Status::ok();
}

// Open MPI packed: every tensor's rank-r slice in block r of one buffer, one
// MPI_Reduce_scatter_block, one MPI_Allgather, unpacked rank by rank. Returns the copies' ms.
Expected<double> mpiPackedStep(MpiJob& mpi, const ShardedLayout& l, ShardedBuffers& b,
                               float* packed, float* slice, float* gathered) {
  const size_t n = l.padded.size();
  const auto size = static_cast<uint64_t>(mpi.size());
  auto start = Clock::now();
  float* at = packed;
  for (uint64_t r = 0; r < size; ++r) {
    for (size_t t = 0; t < n; ++t) {
      std::memcpy(at, b.grads.tensor(t) + r * l.shard[t], l.shard[t] * kFloatBytes);
      at += l.shard[t];
    }
  }
  double copies = millisSince(start);
  const uint64_t total = l.totalShard * size;
  KOLO_RETURN_IF_ERROR(mpi.run(mpiCall(Collective::kReduceScatter, packed, slice, total)));
  KOLO_RETURN_IF_ERROR(mpi.run(mpiCall(Collective::kAllgather, slice, gathered, total)));
  start = Clock::now();
  const float* from = gathered;
  for (uint64_t r = 0; r < size; ++r) {
    for (size_t t = 0; t < n; ++t) {
      std::memcpy(b.params.tensor(t) + r * l.shard[t], from, l.shard[t] * kFloatBytes);
      from += l.shard[t];
    }
  }
  return copies + millisSince(start);
}

Status compareMpi(const Session& session, const Workload& workload, const ShardedLayout& l,
                  ShardedBuffers& b, const WorkloadOptions& options, MpiJob& mpi,
                  WorkloadResult& result) {
  b.grads.zero();
  GradientArena slices(l.shard);
  GradientArena flat({l.totalShard * static_cast<uint64_t>(mpi.size()),
                      l.totalShard * static_cast<uint64_t>(mpi.size()), l.totalShard});
  if (!slices.ok() || !flat.ok()) {
    return Status(Code::kUnavailable, "cannot allocate the MPI comparison's buffers");
  }
  const int steps = options.warmup + options.iterations;
  std::vector<double> perTensor, packed, copies;
  KOLO_RETURN_IF_ERROR(mpi.barrier());
  for (int step = 0; step < steps; ++step) {
    auto start = Clock::now();
    KOLO_RETURN_IF_ERROR(mpiPerTensorStep(mpi, l, b, slices));
    if (step >= options.warmup) perTensor.push_back(millisSince(start));
  }
  KOLO_RETURN_IF_ERROR(mpi.barrier());
  for (int step = 0; step < steps; ++step) {
    auto start = Clock::now();
    KOLO_ASSIGN_OR_RETURN(double copyMs,
                          mpiPackedStep(mpi, l, b, flat.tensor(0), flat.tensor(2), flat.tensor(1)));
    if (step >= options.warmup) {
      packed.push_back(millisSince(start));
      copies.push_back(copyMs);
    }
  }
  const std::string base = "kolo-bench." + workload.name + ".sharded.mpi";
  KOLO_ASSIGN_OR_RETURN(result.mpiPerTensor, summarizeSteps(session, base + ".per_tensor", perTensor));
  KOLO_ASSIGN_OR_RETURN(result.mpiPacked, summarizeSteps(session, base + ".packed", packed));
  KOLO_ASSIGN_OR_RETURN(result.mpiPackCopies, summarizeSteps(session, base + ".copies", copies));
  return Status::ok();
}

}  // namespace

Expected<WorkloadResult> runShardedWorkload(const Session& session, const Workload& workload,
                                            const WorkloadOptions& options, MpiJob* mpi) {
  KOLO_ASSIGN_OR_RETURN(WorkloadResult result, describeWorkloadRun(session, workload, options));
  result.mode = "sharded";

  const ShardedLayout layout = layoutOf(workload, session.size());
  ShardedBuffers buffers{GradientArena(layout.padded), GradientArena(layout.padded)};
  if (!buffers.grads.ok() || !buffers.params.ok()) {
    return makeStatus(Code::kUnavailable, "cannot allocate 2 x {} B for {}",
                      workload.totalBytes(), workload.name);
  }
  const std::string prefix = workloadTensorPrefix(workload);
  std::vector<std::string> names;
  for (const auto& t : workload.tensors) names.push_back(prefix + t.name);
  const std::string own = "kolo-bench." + workload.name + ".sharded";
  KOLO_RETURN_IF_ERROR(sessionBarrier(session, own + ".start"));
  std::vector<double> stepMs;
  for (int step = 0; step <= options.warmup + options.iterations; ++step) {
    const bool checked = step == options.warmup + options.iterations;
    if (checked) fillPattern(layout, buffers.grads, session.rank(), session.size());
    auto start = Clock::now();
    KOLO_RETURN_IF_ERROR(runShardedStep(session, layout, buffers, names, options.timeoutSeconds)
                             .withContext(fmt::format("step {}", step)));
    const double ms = millisSince(start);
    result.localAllStepsMs += ms;
    if (step >= options.warmup && !checked) stepMs.push_back(ms);
  }
  result.timelineSteps = options.warmup + options.iterations + 1;
  const uint64_t wrong = countWrong(layout, buffers.params, session.size());
  KOLO_ASSIGN_OR_RETURN(result.kolo, summarizeSteps(session, own + ".steps", stepMs));
  KOLO_ASSIGN_OR_RETURN(result.wrong, sumAcrossRanks(session, own + ".wrong", wrong));
  if (mpi != nullptr) {
    KOLO_RETURN_IF_ERROR(compareMpi(session, workload, layout, buffers, options, *mpi, result));
  }
  return result;
}

}  // namespace kolo::bench
