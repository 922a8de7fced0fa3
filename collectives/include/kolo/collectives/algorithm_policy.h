// What the user asked of algorithm selection, parsed once when a world is built and carried by
// every Communicator (CommunicatorOptions::algorithms), so no collective reads the environment.
//
// KOLO_<COLLECTIVE>_ALGO is a spec: "auto", one algorithm name for every size, or rules per
// size range in the manner of UCC's score strings, e.g. "shm:0-64K,ring:64K-" (LOW inclusive,
// HIGH exclusive, either side may be left open; the first rule whose range holds the size wins;
// sizes outside every rule, and "auto" rules, go to the cost model). Names and aliases come
// from the algorithm registry (algorithm_registry.h), so a new entry is accepted here at once.
// KOLO_HIERARCHICAL_ALLREDUCE / KOLO_HIERARCHICAL_ALLGATHER (aliases HOROVOD_*) are auto|1|0.
// Thread: any (plain data and pure functions).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::coll {

struct AlgorithmEntry;

// The values are the hundreds of the registry's algorithm ids (allreduce 0-99, reducescatter
// 100-199, ...), which kolo-bench reports, so they never change.
enum class CollectiveKind : uint8_t {
  kAllreduce = 0,
  kReduceScatter = 1,
  kAllgather = 2,
  kBroadcast = 3,
  kAlltoall = 4,
  kBarrier = 5,
};
inline constexpr CollectiveKind kAllCollectiveKinds[] = {
    CollectiveKind::kAllreduce, CollectiveKind::kReduceScatter, CollectiveKind::kAllgather,
    CollectiveKind::kBroadcast, CollectiveKind::kAlltoall,      CollectiveKind::kBarrier};
inline constexpr size_t kCollectiveKindCount = std::size(kAllCollectiveKinds);

// "allreduce", "allgather", "broadcast", "reducescatter", "alltoall", "barrier".
std::string_view collectiveName(CollectiveKind kind);
// KOLO_ALLREDUCE_ALGO, KOLO_ALLGATHER_ALGO, ...
std::string algorithmSettingName(CollectiveKind kind);
// KOLO_HIERARCHICAL_ALLREDUCE, ... (only allreduce and allgather have hierarchical entries).
std::string hierarchicalSettingName(CollectiveKind kind);

// One rule of a spec: sizes in [minBytes, maxBytes) run `algorithm`; null means "auto".
struct AlgorithmRule {
  const AlgorithmEntry* algorithm = nullptr;
  uint64_t minBytes = 0;
  uint64_t maxBytes = UINT64_MAX;
};

struct CollectivePolicy {
  std::vector<AlgorithmRule> rules;  // empty: the cost model decides every size
  std::optional<bool> hierarchical;  // nullopt: cost model; true: force; false: never
  // The algorithm a rule forces for `bytes`, or null (auto).
  const AlgorithmEntry* forcedFor(uint64_t bytes) const;
  bool empty() const { return rules.empty() && !hierarchical; }
};

struct SelectionPolicy {
  std::array<CollectivePolicy, kCollectiveKindCount> collectives{};
  CollectivePolicy& of(CollectiveKind kind) { return collectives[static_cast<size_t>(kind)]; }
  const CollectivePolicy& of(CollectiveKind kind) const {
    return collectives[static_cast<size_t>(kind)];
  }
};

// Parses a KOLO_<COLLECTIVE>_ALGO value. Errors name the setting, the whole text and the bad
// part, and list the algorithms the registry knows for the collective.
Expected<std::vector<AlgorithmRule>> parseAlgorithmSpec(CollectiveKind kind, std::string_view text);
// "auto" -> nullopt; 1/on/true/yes and 0/off/false/no; anything else is an error naming it.
Expected<std::optional<bool>> parseHierarchicalSwitch(std::string_view setting,
                                                      std::string_view text);
// Every KOLO_*_ALGO and KOLO_HIERARCHICAL_* in the environment; read once per world.
Expected<SelectionPolicy> selectionPolicyFromEnv();

}  // namespace kolo::coll
