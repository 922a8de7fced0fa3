#include "kolo/collectives/algorithm_registry.h"

#include <bit>
#include <cmath>

#include "algorithms/internal.h"
#include "kolo/base/env.h"
#include "kolo/base/logging.h"

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

// Allreduce entries use the AllreduceAlgorithm values as ids; the other collectives take
// stable numbers in blocks of 100 per collective (reported by kolo-bench, so never reused).
constexpr AlgorithmInfo kRegistry[] = {
    {static_cast<int>(AllreduceAlgorithm::kRing), "allreduce", "ring",
     "reduce-scatter then allgather around a ring, pipelined in chunks: bandwidth-optimal",
     ringAllreduceSteps, ringAllreduceBytes},
    {static_cast<int>(AllreduceAlgorithm::kRecursiveDoubling), "allreduce", "rd",
     "recursive doubling, whole buffer per round (non-powers of two fold): latency-optimal",
     rdSteps, rdSteps},
    {static_cast<int>(AllreduceAlgorithm::kShm), "allreduce", "shm",
     "direct shared-memory reduction, every rank reduces its share of each chunk in place",
     shmAllreduceSteps, ringAllreduceBytes},
    {100, "reducescatter", "ring", "ring reduce-scatter with per-rank counts", ringPhaseSteps,
     ringPhaseBytes},
    {200, "allgather", "ring", "ring allgather(v), blocks forwarded as they arrive", ringPhaseSteps,
     ringPhaseBytes},
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
  return std::nullopt;
}

AllreduceAlgorithm selectAllreduce(const Communicator& comm, size_t bytes) {
  // Read on every call (a getenv is ~100 ns, far below one collective) so tests and users can
  // switch algorithms without restarting.
  if (auto forced = getEnv("KOLO_ALLREDUCE_ALGO")) {
    auto parsed = parseAllreduceAlgorithm(*forced);
    if (!parsed && toLower(*forced) == "hier") {
      // Hierarchical allreduce is composed above this layer (node subgroups); here it is auto.
    } else if (!parsed) {
      KOLO_LOG(kWarning, "coll", "KOLO_ALLREDUCE_ALGO={} is not auto|ring|rd|shm; using auto",
               *forced);
    } else if (*parsed == AllreduceAlgorithm::kRing ||
               *parsed == AllreduceAlgorithm::kRecursiveDoubling ||
               (*parsed == AllreduceAlgorithm::kShm && comm.arena() != nullptr)) {
      return *parsed;
    }
  }
  if (comm.arena() != nullptr) return AllreduceAlgorithm::kShm;
  return bytes < kSmallMessageBytes ? AllreduceAlgorithm::kRecursiveDoubling
                                    : AllreduceAlgorithm::kRing;
}

}  // namespace kolo::coll
