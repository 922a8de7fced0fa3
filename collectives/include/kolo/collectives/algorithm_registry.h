// The algorithm registry: the one plug-in point for collective algorithms. Each entry carries
// everything about one algorithm: its id, the name users type (KOLO_ALLREDUCE_ALGO=ring,
// kolo-bench --algo ring), a description, its cost model, whether it can run on a given world,
// whether the selector prefers it when nothing is forced, and the function that runs it.
// Dispatch, selection, spec parsing, --algo help and errors, and the tests' and the bench's
// lists of algorithms all read this table, so adding an algorithm is adding one entry.
//
// Cost model: time(bytes) = alpha * latencySteps(n) + bytes * bandwidthFactor(n) / link
// bandwidth, from the algorithm's communication pattern; entries whose cost depends on more than
// the world size (hierarchical: hosts, ranks per host) estimate over a SelectionContext.
// Thread: any (the table is immutable; selection is pure apart from its once-per-size-class log).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/algorithm_policy.h"
#include "kolo/collectives/communicator.h"
#include "kolo/collectives/dtype.h"

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

// The arguments of one collective call as every algorithm of that collective receives them.
// Which fields matter depends on the collective (see collectives.h); tagBase comes from the
// entry point's comm.beginCollective().
struct CollectiveArgs {
  const void* send = nullptr;
  void* recv = nullptr;
  size_t count = 0;  // allreduce: elements; broadcast: bytes
  DataType type = DataType::kUInt8;
  ReduceOp op = ReduceOp::kSum;
  std::span<const size_t> counts;      // reducescatter: recvCounts; allgatherv/alltoallv: send
  std::span<const size_t> recvCounts;  // alltoallv: bytes from each peer
  int root = 0;
  uint64_t tagBase = 0;
};

struct AlgorithmEntry {
  int id;  // stable, reported by kolo-bench: blocks of 100 per collective, never reused
  CollectiveKind collective;
  std::string_view name;         // what users type
  std::string_view aliases;      // other accepted spellings, comma-separated (may be empty)
  std::string_view description;  // one line for --help and kolo-bench
  // Latency steps and bytes moved per rank per payload byte, for world size n (hierarchical
  // entries: n ranks as n/2 hosts of two, for display only; the selector uses estimateSeconds).
  double (*latencySteps)(int n);
  double (*bandwidthFactor)(int n);
  // Estimated seconds for the context; null where the selector does not compare costs.
  double (*estimateSeconds)(const SelectionContext& ctx);
  // Whether it can run on this world (null: always). A forced algorithm that cannot run here
  // falls back to the selector's choice.
  bool (*canRun)(const SelectionContext& ctx);
  // Whether the selector takes it when nothing forces a choice; entries are asked in table
  // order and the first runnable one that says yes wins, so the last entry of a collective
  // says yes always. `why`, when not null, receives the reason logged at KOLO_LOG_LEVEL=info.
  bool (*preferred)(const SelectionContext& ctx, const CollectivePolicy& policy, std::string* why);
  // Runs the collective. Argument checks, the tag base and a native library's turn happen in the
  // entry point (collectives.h) before.
  Status (*run)(Communicator& comm, const CollectiveArgs& args);
  // A KOLO_HIERARCHICAL_<COLLECTIVE>=1 switch forces this entry (where it can run).
  bool hierarchical = false;
};

// Every entry, grouped by collective, in selection order within a collective.
std::span<const AlgorithmEntry> algorithmRegistry();
std::span<const AlgorithmEntry> algorithmsFor(CollectiveKind kind);
// By name or alias, case-insensitive; null when the collective has no such algorithm.
const AlgorithmEntry* findAlgorithm(CollectiveKind kind, std::string_view name);
// "ring|rd|shm|hier" (with `separator`), for help texts and errors.
std::string algorithmNames(CollectiveKind kind, std::string_view separator = "|");
bool canRun(const AlgorithmEntry& entry, const SelectionContext& ctx);

// An explicit algorithm request: "auto" (or empty) or a registered name. kInvalidArgument
// listing the registered names otherwise. nullptr means auto.
Expected<const AlgorithmEntry*> resolveAlgorithm(CollectiveKind kind, std::string_view name);

// The choice for the context and policy (pure: no environment, no logging). Precedence: a rule
// of the spec for this size whose algorithm can run here; then a hierarchical entry when the
// KOLO_HIERARCHICAL_* switch forces it and it can run; then the first runnable entry in table
// order that is preferred.
const AlgorithmEntry& chooseAlgorithm(CollectiveKind kind, const SelectionContext& ctx,
                                      const CollectivePolicy& policy, std::string* why = nullptr);
// The choice on this communicator under its policy; logs it at info once per (collective,
// power-of-two size class, choice) on this communicator.
const AlgorithmEntry& selectAlgorithm(const Communicator& comm, CollectiveKind kind, size_t bytes);

}  // namespace kolo::coll
