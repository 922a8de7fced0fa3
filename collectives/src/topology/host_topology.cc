#include "topology/host_topology.h"

#include <algorithm>
#include <mutex>
#include <optional>

#include "kolo/base/logging.h"
#include "kolo/base/settings.h"

namespace kolo {

const Topology* processTopology() {
  static const std::optional<Topology> topology = [] {
    std::optional<Topology> out;
    // Only CPUs and caches: the PCI scan for GPUs and NICs would double the startup cost.
    Expected<Topology> discovered = discoverTopology(TopologyOptions{.ioDevices = false});
    if (discovered) {
      out = std::move(discovered).value();
      KOLO_LOG(kInfo, "topology", "this host: {}", summarizeTopology(*out));
    } else {
      KOLO_LOG(kInfo, "topology", "no topology ({}); shm chunk and ring order use defaults",
               discovered.status().message());
    }
    return out;
  }();
  return topology ? &*topology : nullptr;
}

size_t shmChunkBytes(int localRanks, size_t pipelineDepth, size_t fallback) {
  if (std::optional<uint64_t> bytes = settingBytesIfSet("KOLO_SHM_CHUNK_BYTES")) {
    if (*bytes >= 4096 && *bytes % 64 == 0) return static_cast<size_t>(*bytes);
    KOLO_LOG(kWarning, "topology",
             "KOLO_SHM_CHUNK_BYTES={} is not a multiple of 64 of at least 4096; ignored", *bytes);
  }
  const Topology* topology = processTopology();
  if (topology == nullptr) return fallback;
  const uint64_t l2 = topology->cacheBytes(2);
  const uint64_t l3 = topology->cacheBytes(3);
  const size_t chunk = shmChunkBytesFor(l2, l3, localRanks, pipelineDepth, fallback);
  static std::once_flag logged;
  std::call_once(logged, [&] {
    KOLO_LOG(kInfo, "topology",
             "shm pipeline chunk {} for {} local ranks x {} slots (L2 {}, L3 {}; "
             "KOLO_SHM_CHUNK_BYTES overrides)",
             formatBytes(chunk), localRanks, pipelineDepth, formatBytes(l2), formatBytes(l3));
  });
  return chunk;
}

uint64_t shmPullMinBytes() {
  const Topology* topology = processTopology();
  const uint64_t l2 = topology != nullptr ? topology->cacheBytes(2) : 0;
  if (l2 == 0) return uint64_t{512} << 10;
  return std::max<uint64_t>(l2 / 4, uint64_t{64} << 10);
}

size_t shmStreamingMinBytes() {
  if (std::optional<uint64_t> bytes = settingBytesIfSet("KOLO_SHM_STREAMING_BYTES")) {
    return static_cast<size_t>(*bytes);
  }
  const Topology* topology = processTopology();
  const uint64_t l3 = topology != nullptr ? topology->cacheBytes(3) : 0;
  return l3 != 0 ? static_cast<size_t>(l3) : size_t{32} << 20;
}

}  // namespace kolo
