// Text forms of a Topology: the kolo-bench --topology preamble (also what kolorun --check-build
// shows) and the one-line init log summary. Lines start with "# " like kolo-bench's preamble,
// so sweeps printed after it stay parseable.
#include <algorithm>
#include <set>

#include "kolo/collectives/topology.h"

namespace kolo {
namespace {

std::string plural(size_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string numaText(int node) {
  return node >= 0 ? std::to_string(node) : "-";
}

std::string cachesLine(const Topology& t) {
  if (t.caches.empty()) return "unknown";
  std::string out;
  for (const CacheLevel& c : t.caches) {
    if (!out.empty()) out += ", ";
    out += fmt::format("L{} {} x{}", c.level, formatBytes(c.bytesPerInstance), c.instances);
  }
  return out;
}

std::string gpuText(const GpuDevice& g) {
  std::string out = fmt::format("{} ({}", g.name, g.source);
  if (!g.model.empty()) out += ", " + g.model;
  if (!g.pciBusId.empty() && g.pciBusId != g.name) out += ", PCI " + g.pciBusId;
  return out + fmt::format(", NUMA {})", numaText(g.numaNode));
}

std::string nicText(const NetworkInterface& n) {
  std::string out = fmt::format("{} ({}", n.name, n.kind);
  out += n.pciBusId.empty() ? ", virtual" : ", PCI " + n.pciBusId;
  out += fmt::format(", NUMA {}", numaText(n.numaNode));
  if (n.speedMbps > 0) out += fmt::format(", {} Mb/s", n.speedMbps);
  if (n.source != "hwloc") out += ", from " + n.source;
  return out + ")";
}

}  // namespace

std::string formatTopology(const Topology& t) {
  std::string out = fmt::format("# topology of   : {}\n", t.hostname);
  const size_t perCore = t.cores.empty() ? 0 : t.pus.size() / t.cores.size();
  out += fmt::format("# cpus          : {}, {}, {} / {} ({} per core)\n",
                     plural(static_cast<size_t>(t.packages), "package", "packages"),
                     plural(t.numaNodes.size(), "NUMA node", "NUMA nodes"),
                     plural(t.cores.size(), "core", "cores"), plural(t.pus.size(), "PU", "PUs"),
                     perCore);
  for (const NumaNode& node : t.numaNodes) {
    std::set<int> coreSet;
    for (const CpuCore& core : t.cores) {
      if (core.numaNode == node.osIndex) coreSet.insert(core.index);
    }
    const std::vector<int> cores(coreSet.begin(), coreSet.end());
    out +=
        fmt::format("# NUMA node {:<3} : {} memory, cores {}, PUs {}\n", node.osIndex,
                    formatBytes(node.memoryBytes), formatCpuList(cores), formatCpuList(node.pus));
  }
  out += fmt::format("# caches        : {}\n", cachesLine(t));
  if (t.gpus.empty()) out += "# GPUs          : none\n";
  for (size_t i = 0; i < t.gpus.size(); ++i) {
    out += fmt::format("# {:<14}: {}\n", i == 0 ? "GPUs" : "", gpuText(t.gpus[i]));
  }
  if (t.nics.empty()) out += "# NICs          : none\n";
  for (size_t i = 0; i < t.nics.size(); ++i) {
    out += fmt::format("# {:<14}: {}\n", i == 0 ? "NICs" : "", nicText(t.nics[i]));
  }
  return out;
}

std::string formatTopologyPreamble(const Topology& topology, std::span<const RankPlacement> ranks) {
  std::string out = formatTopology(topology);
  size_t hostWidth = 4;
  for (const RankPlacement& r : ranks) hostWidth = std::max(hostWidth, r.host.size());
  out += fmt::format("#{:>5}  {:<{}}  {:>4}  {}\n", "rank", "host", hostWidth, "NUMA", "bound to");
  for (size_t r = 0; r < ranks.size(); ++r) {
    out += fmt::format("#{:>5}  {:<{}}  {:>4}  {}\n", r, ranks[r].host, hostWidth,
                       numaText(ranks[r].numaNode), ranks[r].binding);
  }
  if (ranks.size() > 1) {
    const std::vector<int> ring = topologyRingOrder(ranks);
    const RingCrossings crossings = countRingCrossings(ranks, ring);
    std::string order;
    for (size_t i = 0; i < ring.size(); ++i) {
      const int a = ring[i];
      const int b = ring[(i + 1) % ring.size()];
      order += fmt::format("{} -{}-> ", a,
                           peerTransportName(transportBetween(ranks[static_cast<size_t>(a)],
                                                              ranks[static_cast<size_t>(b)])));
    }
    out += fmt::format("# ring order    : {}{} ({} host and {} NUMA crossings)\n", order, ring[0],
                       crossings.hosts, crossings.numaNodes);
  }
  return out;
}

std::string summarizeTopology(const Topology& t) {
  std::string caches;
  for (const CacheLevel& c : t.caches) {
    if (c.level >= 2) caches += fmt::format(", L{} {}", c.level, formatBytes(c.bytesPerInstance));
  }
  const std::string devices = t.devicesScanned
                                  ? fmt::format(", {}, {}", plural(t.gpus.size(), "GPU", "GPUs"),
                                                plural(t.nics.size(), "NIC", "NICs"))
                                  : "";
  return fmt::format("{}, {}, {} / {}{}{}; {}",
                     plural(static_cast<size_t>(t.packages), "package", "packages"),
                     plural(t.numaNodes.size(), "NUMA node", "NUMA nodes"),
                     plural(t.cores.size(), "core", "cores"), plural(t.pus.size(), "PU", "PUs"),
                     caches, devices, describeBinding(t.binding));
}

}  // namespace kolo
