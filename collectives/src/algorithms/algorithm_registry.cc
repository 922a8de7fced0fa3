// The registry's table: every algorithm Kolo can run, grouped by collective, in the order the
// selector asks them (algorithm_registry.h). Adding an algorithm is writing its runner and
// adding one entry here; selection, KOLO_*_ALGO parsing, --algo and the tests follow.
#include "kolo/collectives/algorithm_registry.h"

#include <algorithm>

#include "algorithms/algorithm_costs.h"
#include "algorithms/internal.h"
#include "kolo/base/env.h"
#include "kolo/collectives/collectives.h"

namespace kolo::coll {
namespace {

// Adasum is chosen by its op (allreduce() runs it for op=adasum and only then), never by the
// selector or a KOLO_ALLREDUCE_ALGO policy: to them it cannot run.
bool onlyForItsOp(const SelectionContext&) {
  return false;
}
bool neverPreferred(const SelectionContext&, const CollectivePolicy&, std::string* why) {
  if (why != nullptr) *why = "runs for op=adasum only";
  return false;
}

bool withArena(const SelectionContext& ctx) {
  return ctx.sharedArena;
}
bool withSubgroups(const SelectionContext& ctx) {
  return ctx.hasSubgroups;
}

bool arenaPreferred(const SelectionContext&, const CollectivePolicy&, std::string* why) {
  if (why != nullptr) *why = "every rank shares one shm arena";
  return true;
}
bool smallMessage(const SelectionContext& ctx, const CollectivePolicy&, std::string* why) {
  if (why != nullptr) *why = "below 64 KiB";
  return ctx.bytes < kSmallMessageBytes;
}
bool largeMessage(const SelectionContext&, const CollectivePolicy&, std::string* why) {
  if (why != nullptr) *why = "64 KiB or more";
  return true;
}
bool flatFallback(const SelectionContext&, const CollectivePolicy&, std::string* why) {
  if (why != nullptr) *why = "the flat algorithm";
  return true;
}
bool onlyAlgorithm(const SelectionContext&, const CollectivePolicy&, std::string* why) {
  if (why != nullptr) *why = "the only algorithm";
  return true;
}

// A hierarchical entry wins when the KOLO_HIERARCHICAL_* switch does not rule it out and its
// estimate beats the flat algorithm the selector would take otherwise.
bool cheaperThanFlat(double hierSeconds, double flatSeconds, std::string_view flatName,
                     const CollectivePolicy& policy, std::string* why) {
  if (!policy.hierarchical.value_or(true)) {
    if (why != nullptr) *why = "KOLO_HIERARCHICAL_*=0";
    return false;
  }
  if (why != nullptr) {
    *why = fmt::format("cost model: hier {:.3g} us, {} {:.3g} us", hierSeconds * 1e6, flatName,
                       flatSeconds * 1e6);
  }
  return hierSeconds < flatSeconds;
}
bool hierAllreducePreferred(const SelectionContext& ctx, const CollectivePolicy& policy,
                            std::string* why) {
  const bool small = ctx.bytes < kSmallMessageBytes;
  return cheaperThanFlat(cost::hierAllreduceSeconds(ctx),
                         small ? cost::rdSeconds(ctx) : cost::ringAllreduceSeconds(ctx),
                         small ? "rd" : "ring", policy, why);
}
bool hierAllgatherPreferred(const SelectionContext& ctx, const CollectivePolicy& policy,
                            std::string* why) {
  return cheaperThanFlat(cost::hierAllgatherSeconds(ctx), cost::ringAllgatherSeconds(ctx), "ring",
                         policy, why);
}

using CK = CollectiveKind;
using namespace cost;  // NOLINT(google-build-using-namespace): the table names many cost models

// Ids: blocks of 100 per collective, reported by kolo-bench, so never reused.
constexpr AlgorithmEntry kRegistry[] = {
    {3, CK::kAllreduce, "shm", "",
     "direct shared-memory reduction, every rank reduces its share "
     "of each chunk in place",
     shmAllreduceSteps, ringAllreduceBytes, shmAllreduceSeconds, withArena, arenaPreferred,
     runShmAllreduce},
    {4, CK::kAllreduce, "hier", "hierarchical",
     "node reduce-scatter (shm), cross-host allreduce of each shard, node allgather",
     hierAllreduceSteps, hierAllreduceBytes, hierAllreduceSeconds, withSubgroups,
     hierAllreducePreferred, runHierarchicalAllreduce, /*hierarchical=*/true},
    {2, CK::kAllreduce, "rd", "recursive_doubling,recursive-doubling",
     "recursive doubling, whole buffer per round (non-powers of two fold): latency-optimal",
     rdSteps, rdSteps, rdSeconds, nullptr, smallMessage, runRecursiveDoublingAllreduce},
    {5, CK::kAllreduce, "adasum", "",
     "op=adasum: recursive vector halving with float64 dot products, then the halves gathered",
     rdSteps, ringAllreduceBytes, nullptr, onlyForItsOp, neverPreferred, runAdasumAllreduce},
    {1, CK::kAllreduce, "ring", "",
     "reduce-scatter then allgather around a ring, pipelined in chunks: bandwidth-optimal",
     ringAllreduceSteps, ringAllreduceBytes, ringAllreduceSeconds, nullptr, largeMessage,
     runRingAllreduce},
    {202, CK::kAllgather, "shm", "",
     "shared-memory allgather(v): one round through the small slots, or pipelined chunks "
     "every rank copies out of every peer's staging slot",
     oneIfMany, ringPhaseBytes, nullptr, withArena, arenaPreferred, runShmAllgather},
    {201, CK::kAllgather, "hier", "hierarchical",
     "node allgather, cross-host allgather of one share of each node block, node allgather",
     hierAllgatherSteps, hierAllgatherBytes, hierAllgatherSeconds, withSubgroups,
     hierAllgatherPreferred, runHierarchicalAllgather, /*hierarchical=*/true},
    {200, CK::kAllgather, "ring", "", "ring allgather(v), blocks forwarded as they arrive",
     ringPhaseSteps, ringPhaseBytes, ringAllgatherSeconds, nullptr, flatFallback, runRingAllgather},
    {302, CK::kBroadcast, "shm", "",
     "shared-memory broadcast, every rank copies from the "
     "root's slot",
     oneIfMany, oneIfMany, nullptr, withArena, arenaPreferred, runShmBroadcast},
    {300, CK::kBroadcast, "binomial", "tree", "binomial tree from the root, for small messages",
     treeSteps, treeSteps, nullptr, nullptr, smallMessage, runBinomialBroadcast},
    {301, CK::kBroadcast, "pipeline", "chain",
     "chain from the root in pipelined chunks, for large messages", chainSteps, oneIfMany, nullptr,
     nullptr, largeMessage, runPipelineBroadcast},
    {101, CK::kReduceScatter, "shm", "",
     "shared-memory reduce-scatter: every rank reduces its own block from every rank's "
     "small slot, or from pipelined staging chunks",
     oneIfMany, ringPhaseBytes, nullptr, withArena, arenaPreferred, runShmReduceScatter},
    {100, CK::kReduceScatter, "ring", "", "ring reduce-scatter with per-rank counts",
     ringPhaseSteps, ringPhaseBytes, nullptr, nullptr, flatFallback, runRingReduceScatter},
    {401, CK::kAlltoall, "shm", "",
     "shared-memory alltoall(v): one round through the small slots, or pipelined chunks "
     "every rank copies its blocks out of",
     oneIfMany, ringPhaseBytes, nullptr, withArena, arenaPreferred, runShmAlltoall},
    {400, CK::kAlltoall, "pairwise", "", "every pair exchanges its blocks, all posted at once",
     ringPhaseSteps, ringPhaseBytes, nullptr, nullptr, flatFallback, runPairwiseAlltoall},
    {501, CK::kBarrier, "shm", "", "shared-memory flag barrier", oneIfMany, zero, nullptr,
     withArena, arenaPreferred, runShmBarrier},
    {500, CK::kBarrier, "dissemination", "", "ceil(log2 n) rounds of token exchange", treeSteps,
     zero, nullptr, nullptr, onlyAlgorithm, runDisseminationBarrier},
};

bool nameMatches(const AlgorithmEntry& entry, std::string_view lowered) {
  if (entry.name == lowered) return true;
  for (const std::string& alias : splitString(entry.aliases, ',')) {
    if (alias == lowered) return true;
  }
  return false;
}

}  // namespace

std::span<const AlgorithmEntry> algorithmRegistry() {
  return kRegistry;
}

std::span<const AlgorithmEntry> algorithmsFor(CollectiveKind kind) {
  const AlgorithmEntry* first = std::find_if(std::begin(kRegistry), std::end(kRegistry),
                                             [&](const auto& e) { return e.collective == kind; });
  const AlgorithmEntry* last =
      std::find_if(first, std::end(kRegistry), [&](const auto& e) { return e.collective != kind; });
  return {first, last};
}

const AlgorithmEntry* findAlgorithm(CollectiveKind kind, std::string_view name) {
  // The exact name first: what code passes (hierarchical's cross phase names "rd" or "ring" on
  // every call), found without building a string.
  for (const AlgorithmEntry& entry : algorithmsFor(kind)) {
    if (entry.name == name) return &entry;
  }
  const std::string lowered = toLower(name);
  for (const AlgorithmEntry& entry : algorithmsFor(kind)) {
    if (nameMatches(entry, lowered)) return &entry;
  }
  return nullptr;
}

std::string algorithmNames(CollectiveKind kind, std::string_view separator) {
  std::string names;
  for (const AlgorithmEntry& entry : algorithmsFor(kind)) {
    if (!names.empty()) names += separator;
    names += entry.name;
  }
  return names;
}

bool canRun(const AlgorithmEntry& entry, const SelectionContext& ctx) {
  return entry.canRun == nullptr || entry.canRun(ctx);
}

Expected<const AlgorithmEntry*> resolveAlgorithm(CollectiveKind kind, std::string_view name) {
  // Every collective call passes through here, almost always with "auto": no string built then.
  if (name.empty() || name == kAutoAlgorithm || toLower(name) == kAutoAlgorithm) {
    return static_cast<const AlgorithmEntry*>(nullptr);
  }
  if (const AlgorithmEntry* entry = findAlgorithm(kind, name)) return entry;
  return makeStatus(Code::kInvalidArgument, "unknown {} algorithm '{}' (known: auto|{})",
                    collectiveName(kind), name, algorithmNames(kind));
}

}  // namespace kolo::coll
