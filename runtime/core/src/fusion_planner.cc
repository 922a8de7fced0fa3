#include "kolo/core/fusion_planner.h"

#include <bit>
#include <map>
#include <tuple>

#include "kolo/base/logging.h"
#include "kolo/base/settings.h"

namespace kolo::core {
namespace {

// Host allgathers and reducescatters fuse too (OpExecutor packs their rows member-major);
// the device executor runs them one tensor per call.
bool fusable(OpType op, int32_t device) {
  if (op == OpType::kAllreduce || op == OpType::kBroadcast) return true;
  return (op == OpType::kAllgather || op == OpType::kReducescatter) && device == kCpuDevice;
}

// The fusion buffer bytes tensor `t` takes: an allgather's whole gathered output (every
// member's rows), otherwise the tensor itself.
uint64_t fusionBytes(const Response& p, size_t t) {
  if (p.op != OpType::kAllgather) return p.tensorBytes(t);
  const size_t n = p.tensorNames.empty() ? 0 : p.tensorSizes.size() / p.tensorNames.size();
  int64_t rows = 0;
  for (size_t m = 0; m < n; ++m) rows += p.tensorSizes[t * n + m];
  return p.tensorBytes(t) * static_cast<uint64_t>(rows);
}

uint64_t alignUp(uint64_t v, uint64_t alignment) {
  return (v + alignment - 1) / alignment * alignment;
}

// Everything that must be equal for two tensors to share one collective call.
using BatchKey = std::tuple<OpType, DataType, ReduceOp, int32_t, int32_t, double, double, int32_t>;

BatchKey keyOf(const Response& p) {
  // Root only separates broadcasts and the reduce op only reductions, so neither splits
  // batches by a field that the collective ignores.
  int32_t root = p.op == OpType::kBroadcast ? p.rootRank : 0;
  const bool reduces = p.op == OpType::kAllreduce || p.op == OpType::kReducescatter;
  ReduceOp reduce = reduces ? p.reduceOp : ReduceOp::kSum;
  return {p.op, p.dtype, reduce, root, p.device, p.prescale, p.postscale, p.processSetId};
}

FusedBatch batchFor(const Response& p) {
  FusedBatch b;
  b.op = p.op;
  b.dtype = p.dtype;
  b.reduceOp = p.reduceOp;
  b.rootRank = p.rootRank;
  b.device = p.device;
  b.prescale = p.prescale;
  b.postscale = p.postscale;
  b.processSetId = p.processSetId;
  return b;
}

}  // namespace

FusionOptions fusionOptionsFromEnv() {
  FusionOptions o;
  o.thresholdBytes = settingBytes("KOLO_FUSION_THRESHOLD");
  o.largeTensorBytes = settingBytes("KOLO_FUSION_LARGE_TENSOR");
  return o;
}

FusionPlanner::FusionPlanner(FusionOptions options) : options_(options) {
  // Offsets must stay multiples of every dtype size (8 at most).
  if (options_.alignment < 8 || !std::has_single_bit(options_.alignment)) {
    options_.alignment = 64;
  }
}

std::vector<FusedBatch> FusionPlanner::plan(std::span<const Response> responses) const {
  std::vector<FusedBatch> batches;
  std::map<BatchKey, size_t> open;  // key -> index of the batch still accepting entries
  for (size_t r = 0; r < responses.size(); ++r) {
    const Response& p = responses[r];
    if (p.isError()) continue;
    if (!fusable(p.op, p.device)) {
      FusedBatch b = batchFor(p);
      for (size_t t = 0; t < std::max<size_t>(p.tensorNames.size(), 1); ++t) {
        b.entries.push_back({r, t, 0, p.tensorBytes(t)});
        b.totalBytes += p.tensorBytes(t);
      }
      batches.push_back(std::move(b));
      continue;
    }
    for (size_t t = 0; t < p.tensorNames.size(); ++t) {
      const uint64_t bytes = fusionBytes(p, t);
      // Adasum's dot products are per vector, and each tensor is its own vector (as Horovod
      // treats each layer of a fused buffer): its tensors never share a collective.
      const bool adasum = p.op == OpType::kAllreduce && p.reduceOp == ReduceOp::kAdasum;
      const bool joinsAnyway = options_.largeAllreduceJoins && p.op == OpType::kAllreduce &&
                               p.device == kCpuDevice && p.prescale == 1.0;
      const bool alone = options_.thresholdBytes == 0 ||
                         (bytes >= options_.largeTensorBytes && !joinsAnyway) ||
                         bytes > options_.thresholdBytes || adasum;
      if (alone) {
        FusedBatch b = batchFor(p);
        b.entries.push_back({r, t, 0, bytes});
        b.totalBytes = bytes;
        batches.push_back(std::move(b));
        continue;
      }
      const BatchKey key = keyOf(p);
      auto it = open.find(key);
      if (it != open.end()) {
        FusedBatch& b = batches[it->second];
        const uint64_t offset = alignUp(b.totalBytes, options_.alignment);
        if (offset + bytes <= options_.thresholdBytes) {
          b.entries.push_back({r, t, offset, bytes});
          b.totalBytes = offset + bytes;
          continue;
        }
      }
      FusedBatch b = batchFor(p);
      b.entries.push_back({r, t, 0, bytes});
      b.totalBytes = bytes;
      open[key] = batches.size();
      batches.push_back(std::move(b));
    }
  }
  for (FusedBatch& b : batches) {
    b.needsPacking = fusable(b.op, b.device) && b.entries.size() > 1;
  }
  return batches;
}

}  // namespace kolo::core
