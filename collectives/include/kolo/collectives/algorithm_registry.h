// Every algorithm Kolo can run, with an id, a name users type (KOLO_ALLREDUCE_ALGO=ring) and
// a cost model the selector uses: time(bytes) = alpha * latencySteps + bytes * bandwidthFactor
// / linkBandwidth, both derived from the algorithm's communication pattern.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "kolo/collectives/collectives.h"

namespace kolo::coll {

struct AlgorithmInfo {
  int id;
  std::string_view collective;   // "allreduce", "broadcast", ...
  std::string_view name;         // "ring", "rd", "shm", "binomial", "pipeline", ...
  std::string_view description;  // one line for --help and kolo-bench
  // Latency steps and bytes moved per rank per payload byte, for world size n.
  double (*latencySteps)(int n);
  double (*bandwidthFactor)(int n);
};

std::span<const AlgorithmInfo> algorithmRegistry();
const AlgorithmInfo* findAlgorithm(std::string_view collective, std::string_view name);

// The allreduce algorithm for `bytes` on this communicator. KOLO_ALLREDUCE_ALGO
// (auto|ring|rd|shm) overrides; an algorithm that cannot run here falls back to auto.
AllreduceAlgorithm selectAllreduce(const Communicator& comm, size_t bytes);
std::string_view allreduceAlgorithmName(AllreduceAlgorithm algorithm);
std::optional<AllreduceAlgorithm> parseAllreduceAlgorithm(std::string_view name);

}  // namespace kolo::coll
