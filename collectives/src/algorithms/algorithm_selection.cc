// The selector: one pure choice over world-wide facts (so every rank of a communicator picks the
// same algorithm) under the communicator's policy, parsed once when the world was built.
#include <algorithm>
#include <bit>
#include <cmath>

#include "algorithms/internal.h"
#include "kolo/base/logging.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {
namespace {

std::string formatBytes(double bytes) {
  if (bytes >= 1 << 30) return fmt::format("{:g} GiB", bytes / (1 << 30));
  if (bytes >= 1 << 20) return fmt::format("{:g} MiB", bytes / (1 << 20));
  if (bytes >= 1 << 10) return fmt::format("{:g} KiB", bytes / (1 << 10));
  return fmt::format("{:g} B", bytes);
}

// One info line per (collective, power-of-two size class, choice) and communicator, so a
// training loop that reduces the same sizes every step logs its choices once, not per op.
void logChoiceOnce(const Communicator& comm, CollectiveKind kind, const SelectionContext& ctx,
                   const AlgorithmEntry& chosen, const std::string& why) {
  const int sizeClass = static_cast<int>(std::bit_width(ctx.bytes));
  const uint64_t key = (static_cast<uint64_t>(kind) << 48) |
                       (static_cast<uint64_t>(sizeClass) << 32) | static_cast<uint32_t>(chosen.id);
  if (!comm.firstChoice(key)) return;
  const double low = sizeClass == 0 ? 0.0 : std::ldexp(1.0, sizeClass - 1);
  KOLO_LOG(kInfo, "coll", "{} of {}..{} ({} ranks, {} host(s), {}-{} per host): {} ({})",
           collectiveName(kind), formatBytes(low), formatBytes(std::ldexp(1.0, sizeClass)),
           ctx.worldSize, ctx.numHosts, ctx.minLocalSize, ctx.maxLocalSize, chosen.name, why);
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

const AlgorithmEntry& chooseAlgorithm(CollectiveKind kind, const SelectionContext& ctx,
                                      const CollectivePolicy& policy, std::string* why) {
  if (const AlgorithmEntry* forced = policy.forcedFor(ctx.bytes); forced && canRun(*forced, ctx)) {
    if (why != nullptr) *why = algorithmSettingName(kind);
    return *forced;
  }
  const std::span<const AlgorithmEntry> entries = algorithmsFor(kind);
  if (policy.hierarchical.value_or(false)) {
    for (const AlgorithmEntry& entry : entries) {
      if (entry.hierarchical && canRun(entry, ctx)) {
        if (why != nullptr) *why = hierarchicalSettingName(kind) + "=1";
        return entry;
      }
    }
  }
  for (const AlgorithmEntry& entry : entries) {
    if (canRun(entry, ctx) && entry.preferred(ctx, policy, why)) return entry;
  }
  // Unreachable while every collective's last entry is always preferred (a registry test checks).
  return entries.back();
}

const AlgorithmEntry& selectAlgorithm(const Communicator& comm, CollectiveKind kind, size_t bytes) {
  const SelectionContext ctx = selectionContext(comm, bytes);
  // The reason is text worth building only when it will be logged.
  const bool logging = logEnabled(LogLevel::kInfo, "coll");
  std::string why;
  const AlgorithmEntry& chosen =
      chooseAlgorithm(kind, ctx, comm.options().algorithms.of(kind), logging ? &why : nullptr);
  if (logging) logChoiceOnce(comm, kind, ctx, chosen, why);
  return chosen;
}

Status runChosen(Communicator& comm, CollectiveKind kind, const AlgorithmEntry* requested,
                 size_t bytes, const CollectiveArgs& args) {
  if (requested == nullptr) {
    // A training loop repeats its sizes: the last choice for this size is the choice.
    requested = comm.lastChoice(kind, bytes);
    if (requested == nullptr) {
      requested = &selectAlgorithm(comm, kind, bytes);
      comm.noteChoice(kind, bytes, requested);
    }
  } else if (!canRun(*requested, selectionContext(comm, bytes))) {
    requested = &selectAlgorithm(comm, kind, bytes);
  }
  return requested->run(comm, args);
}

}  // namespace kolo::coll
