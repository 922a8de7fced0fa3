// The pure parts of Topology: bindings, rank placements, ring order, transport per peer pair
// and the shm chunk size. No hwloc here, so they are unit-tested with made-up machines.
#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <set>

#include "kolo/collectives/topology.h"

namespace kolo {

uint64_t Topology::cacheBytes(int level) const {
  for (const CacheLevel& cache : caches) {
    if (cache.level == level) return cache.bytesPerInstance;
  }
  return 0;
}

const CpuCore* Topology::coreOfPu(int pu) const {
  for (const CpuCore& core : cores) {
    if (std::find(core.pus.begin(), core.pus.end(), pu) != core.pus.end()) return &core;
  }
  return nullptr;
}

CpuBinding bindingFor(const Topology& topology, const std::vector<int>& pus) {
  CpuBinding binding;
  binding.pus = pus;
  std::sort(binding.pus.begin(), binding.pus.end());
  std::set<int> cores;
  std::set<int> nodes;
  for (int pu : binding.pus) {
    if (const CpuCore* core = topology.coreOfPu(pu)) {
      cores.insert(core->index);
      if (core->numaNode >= 0) nodes.insert(core->numaNode);
    }
  }
  binding.cores.assign(cores.begin(), cores.end());
  binding.numaNodes.assign(nodes.begin(), nodes.end());
  std::vector<int> all = topology.pus;
  std::sort(all.begin(), all.end());
  binding.bound = !binding.pus.empty() && binding.pus != all;
  return binding;
}

std::string formatCpuList(std::span<const int> values) {
  if (values.empty()) return "none";
  std::string out;
  size_t i = 0;
  while (i < values.size()) {
    size_t j = i;
    while (j + 1 < values.size() && values[j + 1] == values[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", values[i]) : fmt::format("{}-{}", values[i], values[j]);
    i = j + 1;
  }
  return out;
}

std::string describeBinding(const CpuBinding& binding) {
  if (binding.pus.empty()) return "binding unknown";
  const bool oneCore = binding.cores.size() == 1;
  std::string where =
      fmt::format("{} {} ({} {})", oneCore ? "core" : "cores", formatCpuList(binding.cores),
                  binding.pus.size() == 1 ? "PU" : "PUs", formatCpuList(binding.pus));
  if (!binding.numaNodes.empty()) {
    where += fmt::format(", NUMA {}", formatCpuList(binding.numaNodes));
  }
  return binding.bound ? where : "not bound (" + where + ")";
}

std::string formatBytes(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30) && bytes % (uint64_t{1} << 30) == 0) {
    return fmt::format("{} GiB", bytes >> 30);
  }
  if (bytes >= (uint64_t{1} << 20) && bytes % (uint64_t{1} << 20) == 0) {
    return fmt::format("{} MiB", bytes >> 20);
  }
  if (bytes >= (uint64_t{1} << 30)) return fmt::format("{:.1f} GiB", double(bytes) / (1 << 30));
  if (bytes >= (uint64_t{1} << 20)) return fmt::format("{:.1f} MiB", double(bytes) / (1 << 20));
  if (bytes >= 1024 && bytes % 1024 == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} B", bytes);
}

RankPlacement placementOf(const Topology& topology, const std::string& hostKey) {
  RankPlacement placement;
  placement.host = hostKey;
  if (topology.binding.numaNodes.size() == 1) {
    placement.numaNode = topology.binding.numaNodes.front();
  }
  placement.binding = describeBinding(topology.binding);
  return placement;
}

// Record: "host\tnuma\tbinding", NUL-padded. Tabs cannot occur in host names or descriptions.
std::string encodePlacement(const RankPlacement& placement) {
  std::string text = fmt::format("{}\t{}\t{}", placement.host.substr(0, 96), placement.numaNode,
                                 placement.binding);
  text.resize(kPlacementRecordBytes - 1);
  text.push_back('\0');
  return text;
}

Expected<RankPlacement> decodePlacement(std::span<const char> record) {
  const std::string text(record.data(), strnlen(record.data(), record.size()));
  const size_t first = text.find('\t');
  const size_t second = first == std::string::npos ? first : text.find('\t', first + 1);
  if (second == std::string::npos) {
    return makeStatus(Code::kInvalidArgument,
                      "rank placement record '{}' is not 'host<TAB>numa<TAB>binding'", text);
  }
  RankPlacement placement;
  placement.host = text.substr(0, first);
  const std::string numa = text.substr(first + 1, second - first - 1);
  char* end = nullptr;
  const long node = std::strtol(numa.c_str(), &end, 10);
  if (numa.empty() || *end != '\0' || node < -1) {
    return makeStatus(Code::kInvalidArgument, "rank placement record '{}': NUMA node '{}'", text,
                      numa);
  }
  placement.numaNode = static_cast<int>(node);
  placement.binding = text.substr(second + 1);
  return placement;
}

std::string_view peerTransportName(PeerTransport transport) {
  return transport == PeerTransport::kShm ? "shm" : "tcp";
}

PeerTransport transportBetween(const RankPlacement& a, const RankPlacement& b) {
  return a.host == b.host ? PeerTransport::kShm : PeerTransport::kTcp;
}

std::vector<int> topologyRingOrder(std::span<const RankPlacement> ranks) {
  // Sort key: (first rank of the host, first rank of the NUMA node within the host, rank).
  // Keying groups by their first rank rather than by name keeps rank 0 first and a ring whose
  // groups are already contiguous unchanged.
  std::map<std::string, int> hostFirst;
  std::map<std::pair<std::string, int>, int> numaFirst;
  const int n = static_cast<int>(ranks.size());
  for (int r = 0; r < n; ++r) {
    hostFirst.try_emplace(ranks[r].host, r);
    numaFirst.try_emplace({ranks[r].host, ranks[r].numaNode}, r);
  }
  std::vector<int> ring(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) ring[r] = r;
  auto key = [&](int r) {
    return std::tuple(hostFirst.at(ranks[r].host), numaFirst.at({ranks[r].host, ranks[r].numaNode}),
                      r);
  };
  std::sort(ring.begin(), ring.end(), [&](int a, int b) { return key(a) < key(b); });
  return ring;
}

RingCrossings countRingCrossings(std::span<const RankPlacement> ranks, std::span<const int> ring) {
  RingCrossings crossings;
  const size_t n = ring.size();
  if (n < 2) return crossings;
  for (size_t i = 0; i < n; ++i) {
    const RankPlacement& a = ranks[static_cast<size_t>(ring[i])];
    const RankPlacement& b = ranks[static_cast<size_t>(ring[(i + 1) % n])];
    if (a.host != b.host) {
      ++crossings.hosts;
    } else if (a.numaNode != b.numaNode) {
      ++crossings.numaNodes;
    }
  }
  return crossings;
}

size_t shmChunkBytesFor(uint64_t l2Bytes, uint64_t l3Bytes, int localRanks, size_t pipelineDepth,
                        size_t fallback) {
  constexpr uint64_t kMin = 64 << 10;
  constexpr uint64_t kMax = 4 << 20;
  if (l2Bytes == 0) return fallback;
  uint64_t chunk = l2Bytes / 4;
  if (l3Bytes > 0 && localRanks > 0 && pipelineDepth > 0) {
    const uint64_t slots = pipelineDepth * (static_cast<uint64_t>(localRanks) + 1);
    chunk = std::min(chunk, l3Bytes / 2 / slots);
  }
  chunk = std::clamp(chunk, kMin, kMax);
  return static_cast<size_t>(std::bit_floor(chunk));
}

}  // namespace kolo
