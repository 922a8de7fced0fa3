#include "kolo/collectives/algorithm_registry.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <mutex>
#include <set>
#include <string>

#include "algorithms/internal.h"
#include "kolo/base/env.h"
#include "kolo/base/logging.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {
namespace {

double log2Ceil(int n) {
  return n <= 1 ? 0.0 : static_cast<double>(std::bit_width(static_cast<unsigned>(n - 1)));
}
double isPowerOfTwo(int n) {
  return std::has_single_bit(static_cast<unsigned>(n)) ? 1.0 : 0.0;
}

double ringAllreduceSteps(int n) {
  return 2.0 * (n - 1);
}
double ringAllreduceBytes(int n) {
  return n <= 1 ? 0.0 : 2.0 * (n - 1) / n;
}
// Non-powers of two pay the fold and unfold steps.
double rdSteps(int n) {
  return n <= 1 ? 0.0 : std::floor(std::log2(n)) + 2.0 * (1.0 - isPowerOfTwo(n));
}
double shmAllreduceSteps(int n) {
  return n <= 1 ? 0.0 : 2.0;
}
double ringPhaseSteps(int n) {
  return n - 1.0;
}
double ringPhaseBytes(int n) {
  return n <= 1 ? 0.0 : (n - 1.0) / n;
}
double treeSteps(int n) {
  return log2Ceil(n);
}
double chainSteps(int n) {
  return n - 1.0;
}
double oneIfMany(int n) {
  return n <= 1 ? 0.0 : 1.0;
}
double zero(int) {
  return 0.0;
}

// Hierarchical entries, for display: n ranks as n/2 hosts of two.
double hierAllreduceSteps(int n) {
  return n <= 1 ? 0.0 : 2.0 + ringAllreduceSteps((n + 1) / 2) + 1.0;
}
double hierAllreduceBytes(int n) {
  return n <= 1 ? 0.0 : ringAllreduceBytes((n + 1) / 2) / 2.0;
}
double hierAllgatherSteps(int n) {
  return n <= 1 ? 0.0 : 2.0 + ringPhaseSteps((n + 1) / 2);
}
double hierAllgatherBytes(int n) {
  return n <= 1 ? 0.0 : ringPhaseBytes((n + 1) / 2) / 2.0;
}

// Seconds for `steps` messages and `bytes` through one kind of link.
double linkSeconds(bool interHost, const LinkModel& links, double steps, double bytes) {
  return interHost ? steps * links.interLatency + bytes / links.interBytesPerSecond
                   : steps * links.intraLatency + bytes / links.intraBytesPerSecond;
}
// A flat algorithm's every step is as slow as its slowest link: between hosts when the world
// spans hosts (its transport is then TCP for every pair).
double flatSeconds(const SelectionContext& ctx, double steps, double bytesFactor) {
  return linkSeconds(ctx.numHosts > 1, ctx.links, steps,
                     static_cast<double>(ctx.bytes) * bytesFactor);
}
double ringAllreduceSeconds(const SelectionContext& ctx) {
  return flatSeconds(ctx, ringAllreduceSteps(ctx.worldSize), ringAllreduceBytes(ctx.worldSize));
}
double rdSeconds(const SelectionContext& ctx) {
  return flatSeconds(ctx, rdSteps(ctx.worldSize), rdSteps(ctx.worldSize));
}
double shmAllreduceSeconds(const SelectionContext& ctx) {
  return linkSeconds(false, ctx.links, shmAllreduceSteps(ctx.worldSize),
                     static_cast<double>(ctx.bytes) * ringAllreduceBytes(ctx.worldSize));
}
// Node allreduce on the arena (the largest host is the slowest), the cross allreduce of one
// shard of bytes/minLocalSize (ring or rd by size, like the flat choice), node allgather.
double hierAllreduceSeconds(const SelectionContext& ctx) {
  const int l = ctx.maxLocalSize;
  const int h = ctx.numHosts;
  const double bytes = static_cast<double>(ctx.bytes);
  const double shard = bytes / std::max(1, ctx.minLocalSize);
  double node =
      l <= 1 ? 0.0
             : linkSeconds(false, ctx.links, shmAllreduceSteps(l), bytes * ringAllreduceBytes(l)) +
                   linkSeconds(false, ctx.links, ringPhaseSteps(l), bytes * ringPhaseBytes(l));
  double cross =
      shard < kSmallMessageBytes
          ? linkSeconds(h > 1, ctx.links, rdSteps(h), shard * rdSteps(h))
          : linkSeconds(h > 1, ctx.links, ringAllreduceSteps(h), shard * ringAllreduceBytes(h));
  return node + cross;
}
double ringAllgatherSeconds(const SelectionContext& ctx) {
  return flatSeconds(ctx, ringPhaseSteps(ctx.worldSize), ringPhaseBytes(ctx.worldSize));
}
// Node allgather of this host's blocks, cross allgather of one share of every host's node block,
// node allgather of the shares, and one local copy into rank order.
double hierAllgatherSeconds(const SelectionContext& ctx) {
  const int l = ctx.maxLocalSize;
  const int h = ctx.numHosts;
  const double bytes = static_cast<double>(ctx.bytes);
  const double nodeBlock = bytes * l / std::max(1, ctx.worldSize);
  double node = linkSeconds(false, ctx.links, ringPhaseSteps(l), nodeBlock * ringPhaseBytes(l)) +
                linkSeconds(false, ctx.links, ringPhaseSteps(l), bytes * ringPhaseBytes(l)) +
                linkSeconds(false, ctx.links, 0.0, bytes);
  double cross = linkSeconds(h > 1, ctx.links, ringPhaseSteps(h),
                             bytes / std::max(1, ctx.minLocalSize) * ringPhaseBytes(h));
  return node + cross;
}

// Allreduce entries use the AllreduceAlgorithm values as ids; the other collectives take
// stable numbers in blocks of 100 per collective (reported by kolo-bench, so never reused).
constexpr AlgorithmInfo kRegistry[] = {
    {static_cast<int>(AllreduceAlgorithm::kRing), "allreduce", "ring",
     "reduce-scatter then allgather around a ring, pipelined in chunks: bandwidth-optimal",
     ringAllreduceSteps, ringAllreduceBytes, ringAllreduceSeconds},
    {static_cast<int>(AllreduceAlgorithm::kRecursiveDoubling), "allreduce", "rd",
     "recursive doubling, whole buffer per round (non-powers of two fold): latency-optimal",
     rdSteps, rdSteps, rdSeconds},
    {static_cast<int>(AllreduceAlgorithm::kShm), "allreduce", "shm",
     "direct shared-memory reduction, every rank reduces its share of each chunk in place",
     shmAllreduceSteps, ringAllreduceBytes, shmAllreduceSeconds},
    {static_cast<int>(AllreduceAlgorithm::kHierarchical), "allreduce", "hier",
     "node reduce-scatter (shm), cross-host allreduce of each shard, node allgather",
     hierAllreduceSteps, hierAllreduceBytes, hierAllreduceSeconds},
    {100, "reducescatter", "ring", "ring reduce-scatter with per-rank counts", ringPhaseSteps,
     ringPhaseBytes},
    {200, "allgather", "ring", "ring allgather(v), blocks forwarded as they arrive", ringPhaseSteps,
     ringPhaseBytes, ringAllgatherSeconds},
    {201, "allgather", "hier",
     "node allgather, cross-host allgather of one share of each node block, node allgather",
     hierAllgatherSteps, hierAllgatherBytes, hierAllgatherSeconds},
    {300, "broadcast", "binomial", "binomial tree from the root, for small messages", treeSteps,
     treeSteps},
    {301, "broadcast", "pipeline", "chain from the root in pipelined chunks, for large messages",
     chainSteps, oneIfMany},
    {302, "broadcast", "shm", "shared-memory broadcast, every rank copies from the root's slot",
     oneIfMany, oneIfMany},
    {400, "alltoall", "pairwise", "every pair exchanges its blocks, all posted at once",
     ringPhaseSteps, ringPhaseBytes},
    {500, "barrier", "dissemination", "ceil(log2 n) rounds of token exchange", treeSteps, zero},
    {501, "barrier", "shm", "shared-memory flag barrier", oneIfMany, zero},
};

}  // namespace

std::span<const AlgorithmInfo> algorithmRegistry() {
  return kRegistry;
}

const AlgorithmInfo* findAlgorithm(std::string_view collective, std::string_view name) {
  for (const AlgorithmInfo& info : kRegistry) {
    if (info.collective == collective && info.name == name) return &info;
  }
  return nullptr;
}

std::string_view allreduceAlgorithmName(AllreduceAlgorithm algorithm) {
  switch (algorithm) {
    case AllreduceAlgorithm::kAuto:
      return "auto";
    case AllreduceAlgorithm::kRing:
      return "ring";
    case AllreduceAlgorithm::kRecursiveDoubling:
      return "rd";
    case AllreduceAlgorithm::kShm:
      return "shm";
    case AllreduceAlgorithm::kHierarchical:
      return "hier";
  }
  return "unknown";
}

std::optional<AllreduceAlgorithm> parseAllreduceAlgorithm(std::string_view name) {
  std::string n = toLower(name);
  if (n == "auto") return AllreduceAlgorithm::kAuto;
  if (n == "ring") return AllreduceAlgorithm::kRing;
  if (n == "rd" || n == "recursive_doubling" || n == "recursive-doubling") {
    return AllreduceAlgorithm::kRecursiveDoubling;
  }
  if (n == "shm") return AllreduceAlgorithm::kShm;
  if (n == "hier" || n == "hierarchical") return AllreduceAlgorithm::kHierarchical;
  return std::nullopt;
}

namespace {

double estimate(std::string_view collective, std::string_view name, const SelectionContext& ctx) {
  const AlgorithmInfo* info = findAlgorithm(collective, name);
  return info != nullptr && info->estimateSeconds != nullptr ? info->estimateSeconds(ctx) : 0.0;
}

// "auto", "1"/"on"/"true", "0"/"off"/"false"; anything else is auto with a warning.
std::optional<bool> hierarchicalSwitch(const char* name, const char* alias) {
  auto value = getEnv(name, {alias});
  if (!value) return std::nullopt;
  std::string v = toLower(*value);
  if (v == "1" || v == "on" || v == "true" || v == "yes") return true;
  if (v == "0" || v == "off" || v == "false" || v == "no") return false;
  if (v != "auto") KOLO_LOG(kWarning, "coll", "{}={} is not auto|1|0; using auto", name, *value);
  return std::nullopt;
}

std::string formatBytes(double bytes) {
  if (bytes >= 1 << 30) return fmt::format("{:g} GiB", bytes / (1 << 30));
  if (bytes >= 1 << 20) return fmt::format("{:g} MiB", bytes / (1 << 20));
  if (bytes >= 1 << 10) return fmt::format("{:g} KiB", bytes / (1 << 10));
  return fmt::format("{:g} B", bytes);
}

// One info line per (collective, power-of-two size class, choice), so a training loop that
// reduces the same sizes every step logs its choices once, not per op.
void logChoiceOnce(std::string_view collective, const SelectionContext& ctx,
                   std::string_view chosen, const std::string& why) {
  if (!logEnabled(LogLevel::kInfo, "coll")) return;
  const int sizeClass = static_cast<int>(std::bit_width(ctx.bytes));
  static std::mutex mu;
  static std::set<std::string> logged;
  {
    std::lock_guard lock(mu);
    if (!logged.insert(fmt::format("{}/{}/{}", collective, sizeClass, chosen)).second) return;
  }
  const double low = sizeClass == 0 ? 0.0 : std::ldexp(1.0, sizeClass - 1);
  KOLO_LOG(kInfo, "coll", "{} of {}..{} ({} ranks, {} host(s), {}-{} per host): {} ({})",
           collective, formatBytes(low), formatBytes(std::ldexp(1.0, sizeClass)), ctx.worldSize,
           ctx.numHosts, ctx.minLocalSize, ctx.maxLocalSize, chosen, why);
}

std::string costText(std::string_view collective, std::string_view a, std::string_view b,
                     const SelectionContext& ctx) {
  return fmt::format("cost model: {} {:.3g} us, {} {:.3g} us", a,
                     estimate(collective, a, ctx) * 1e6, b, estimate(collective, b, ctx) * 1e6);
}

AllreduceAlgorithm chooseAllreduceWithReason(const SelectionContext& ctx,
                                             const SelectionPolicy& policy, std::string* why) {
  auto runnable = [&](AllreduceAlgorithm a) {
    switch (a) {
      case AllreduceAlgorithm::kShm:
        return ctx.sharedArena;
      case AllreduceAlgorithm::kHierarchical:
        return ctx.hasSubgroups;
      case AllreduceAlgorithm::kAuto:
        return false;
      default:
        return true;
    }
  };
  if (policy.forced && runnable(*policy.forced)) {
    *why = "KOLO_ALLREDUCE_ALGO";
    return *policy.forced;
  }
  if (policy.hierarchical.value_or(false) && ctx.hasSubgroups) {
    *why = "KOLO_HIERARCHICAL_ALLREDUCE=1";
    return AllreduceAlgorithm::kHierarchical;
  }
  if (ctx.sharedArena) {
    *why = "every rank shares one shm arena";
    return AllreduceAlgorithm::kShm;
  }
  const AllreduceAlgorithm flat = ctx.bytes < kSmallMessageBytes
                                      ? AllreduceAlgorithm::kRecursiveDoubling
                                      : AllreduceAlgorithm::kRing;
  const std::string_view flatName = allreduceAlgorithmName(flat);
  if (ctx.hasSubgroups && policy.hierarchical.value_or(true)) {
    *why = costText("allreduce", "hier", flatName, ctx);
    if (estimate("allreduce", "hier", ctx) < estimate("allreduce", flatName, ctx)) {
      return AllreduceAlgorithm::kHierarchical;
    }
    return flat;
  }
  *why = ctx.bytes < kSmallMessageBytes ? "below 64 KiB" : "64 KiB or more";
  if (ctx.hasSubgroups) *why += ", KOLO_HIERARCHICAL_ALLREDUCE=0";
  return flat;
}

bool chooseHierarchicalAllgatherWithReason(const SelectionContext& ctx,
                                           const SelectionPolicy& policy, std::string* why) {
  if (!ctx.hasSubgroups) {
    *why = "one host";
    return false;
  }
  if (policy.hierarchical) {
    *why = *policy.hierarchical ? "KOLO_HIERARCHICAL_ALLGATHER=1" : "KOLO_HIERARCHICAL_ALLGATHER=0";
    return *policy.hierarchical;
  }
  *why = costText("allgather", "hier", "ring", ctx);
  return estimate("allgather", "hier", ctx) < estimate("allgather", "ring", ctx);
}

}  // namespace

SelectionContext selectionContext(const Communicator& comm, size_t bytes) {
  SelectionContext ctx;
  ctx.bytes = bytes;
  ctx.worldSize = comm.size();
  ctx.sharedArena = comm.arena() != nullptr;
  ctx.minLocalSize = ctx.maxLocalSize = comm.size();
  if (const HostLayout* layout = comm.hostLayout()) {
    ctx.numHosts = layout->numHosts;
    ctx.minLocalSize = layout->minLocalSize();
    ctx.maxLocalSize = *std::max_element(layout->localSizes.begin(), layout->localSizes.end());
    ctx.hasSubgroups =
        comm.subgroup(Subgroup::kNode) != nullptr && comm.subgroup(Subgroup::kCross) != nullptr;
  }
  return ctx;
}

SelectionPolicy allreducePolicyFromEnv() {
  SelectionPolicy policy;
  if (auto forced = getEnv("KOLO_ALLREDUCE_ALGO")) {
    policy.forced = parseAllreduceAlgorithm(*forced);
    if (!policy.forced) {
      KOLO_LOG(kWarning, "coll", "KOLO_ALLREDUCE_ALGO={} is not auto|ring|rd|shm|hier; using auto",
               *forced);
    } else if (*policy.forced == AllreduceAlgorithm::kAuto) {
      policy.forced.reset();
    }
  }
  policy.hierarchical =
      hierarchicalSwitch("KOLO_HIERARCHICAL_ALLREDUCE", "HOROVOD_HIERARCHICAL_ALLREDUCE");
  return policy;
}

SelectionPolicy allgatherPolicyFromEnv() {
  SelectionPolicy policy;
  policy.hierarchical =
      hierarchicalSwitch("KOLO_HIERARCHICAL_ALLGATHER", "HOROVOD_HIERARCHICAL_ALLGATHER");
  return policy;
}

AllreduceAlgorithm chooseAllreduce(const SelectionContext& ctx, const SelectionPolicy& policy) {
  std::string why;
  return chooseAllreduceWithReason(ctx, policy, &why);
}

bool chooseHierarchicalAllgather(const SelectionContext& ctx, const SelectionPolicy& policy) {
  std::string why;
  return chooseHierarchicalAllgatherWithReason(ctx, policy, &why);
}

AllreduceAlgorithm selectAllreduce(const Communicator& comm, size_t bytes) {
  // Read on every call (a getenv is ~100 ns, far below one collective) so tests and users can
  // switch algorithms without restarting.
  const SelectionContext ctx = selectionContext(comm, bytes);
  std::string why;
  AllreduceAlgorithm chosen = chooseAllreduceWithReason(ctx, allreducePolicyFromEnv(), &why);
  logChoiceOnce("allreduce", ctx, allreduceAlgorithmName(chosen), why);
  return chosen;
}

bool selectHierarchicalAllgather(const Communicator& comm, size_t totalBytes) {
  const SelectionContext ctx = selectionContext(comm, totalBytes);
  if (!ctx.hasSubgroups) return false;
  std::string why;
  bool hier = chooseHierarchicalAllgatherWithReason(ctx, allgatherPolicyFromEnv(), &why);
  logChoiceOnce("allgather", ctx, hier ? "hier" : "ring", why);
  return hier;
}

}  // namespace kolo::coll
