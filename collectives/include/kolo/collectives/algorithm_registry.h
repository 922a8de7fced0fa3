// Every algorithm Kolo can run, with an id, a name users type (KOLO_ALLREDUCE_ALGO=ring) and
// a cost model the selector uses: time(bytes) = alpha * latencySteps + bytes * bandwidthFactor
// / linkBandwidth, both derived from the algorithm's communication pattern. Entries whose cost
// depends on more than the world size (hierarchical ones: hosts, ranks per host) also carry an
// estimate over a SelectionContext.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "kolo/collectives/collectives.h"

namespace kolo::coll {

// Seconds per message and bytes per second of the two kinds of link a rank uses: within a host
// (shared memory) and between hosts (TCP). Defaults are conservative figures for a memory bus
// and a 10-25 Gb/s network; a topology probe may refine them.
struct LinkModel {
  double intraLatency = 1e-6;
  double intraBytesPerSecond = 8e9;
  double interLatency = 25e-6;
  double interBytesPerSecond = 2.5e9;
};

// Everything the selector looks at: plain data, so callers and tests (and a topology probe) can
// fill it without a Communicator.
struct SelectionContext {
  size_t bytes = 0;  // payload per rank (allgather: the whole gathered result)
  int worldSize = 1;
  int numHosts = 1;
  // Ranks on the smallest and the largest host. Only world-wide quantities live here: every rank
  // must reach the same choice, and on uneven hosts "ranks on my host" differs between ranks.
  int minLocalSize = 1;       // the hierarchical shard count
  int maxLocalSize = 1;       // the slowest node phase
  bool sharedArena = false;   // every rank maps one shm arena
  bool hasSubgroups = false;  // node and cross subgroups exist (hierarchical can run)
  LinkModel links;
};

SelectionContext selectionContext(const Communicator& comm, size_t bytes);

// What the environment asks for. forced: KOLO_ALLREDUCE_ALGO when it is not auto.
// hierarchical: KOLO_HIERARCHICAL_ALLREDUCE / KOLO_HIERARCHICAL_ALLGATHER (aliases HOROVOD_*):
// nullopt = auto (cost model), true = force it when subgroups exist, false = never.
struct SelectionPolicy {
  std::optional<AllreduceAlgorithm> forced;
  std::optional<bool> hierarchical;
};
SelectionPolicy allreducePolicyFromEnv();
SelectionPolicy allgatherPolicyFromEnv();

struct AlgorithmInfo {
  int id;
  std::string_view collective;   // "allreduce", "broadcast", ...
  std::string_view name;         // "ring", "rd", "shm", "binomial", "pipeline", ...
  std::string_view description;  // one line for --help and kolo-bench
  // Latency steps and bytes moved per rank per payload byte, for world size n (for hierarchical
  // entries: n ranks as n/2 hosts of two, for display only; the selector uses estimateSeconds).
  double (*latencySteps)(int n);
  double (*bandwidthFactor)(int n);
  // Estimated seconds for the context; null where the selector does not compare costs.
  double (*estimateSeconds)(const SelectionContext& ctx) = nullptr;
};

std::span<const AlgorithmInfo> algorithmRegistry();
const AlgorithmInfo* findAlgorithm(std::string_view collective, std::string_view name);

// The allreduce algorithm for the context and policy (pure: no environment, no logging).
// Precedence: a forced algorithm that can run here; then hierarchical when forced on and
// subgroups exist; then shm when the world shares an arena; then recursive doubling below
// 64 KiB, ring above; then hierarchical instead when subgroups exist, it is not switched off and
// its estimate beats the flat choice's.
AllreduceAlgorithm chooseAllreduce(const SelectionContext& ctx, const SelectionPolicy& policy);
// True when the hierarchical allgather should run (same rules; policy.forced is ignored).
bool chooseHierarchicalAllgather(const SelectionContext& ctx, const SelectionPolicy& policy);

// The allreduce algorithm for `bytes` on this communicator, from the environment
// (KOLO_ALLREDUCE_ALGO=auto|ring|rd|shm|hier, KOLO_HIERARCHICAL_ALLREDUCE=auto|1|0); an
// algorithm that cannot run here falls back to auto. Logs its choice at KOLO_LOG_LEVEL=info once
// per (size class, choice).
AllreduceAlgorithm selectAllreduce(const Communicator& comm, size_t bytes);
// Same for allgather(v) of `totalBytes` gathered bytes (KOLO_HIERARCHICAL_ALLGATHER).
bool selectHierarchicalAllgather(const Communicator& comm, size_t totalBytes);

std::string_view allreduceAlgorithmName(AllreduceAlgorithm algorithm);
std::optional<AllreduceAlgorithm> parseAllreduceAlgorithm(std::string_view name);

}  // namespace kolo::coll
