// Topology: this host's hardware as hwloc sees it (NUMA nodes, packages, cores, hardware threads,
// caches, GPUs, NICs) and where this process may run. Plain data, discovered once at startup;
// the algorithm selector, the shm arena's chunk size, kolo-bench --topology and the init log
// read it. The pure functions below (ring order, transport per peer pair, chunk size, report)
// take plain values so they are unit-tested without hwloc.
// Thread: caller's; discoverTopology() loads hwloc's view (milliseconds), so call it once.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kolo/base/status.h"

namespace kolo {

struct CpuCore {
  int index = 0;         // hwloc logical index, 0 .. cores-1 in locality order
  int package = 0;       // logical index of its package (socket)
  int numaNode = -1;     // OS index of the NUMA node it is local to; -1 when unknown
  std::vector<int> pus;  // OS indexes of its hardware threads (what sched_setaffinity takes)
};

struct NumaNode {
  int osIndex = 0;
  uint64_t memoryBytes = 0;
  std::vector<int> pus;
};

// One level of data (or unified) cache; instruction caches are left out.
struct CacheLevel {
  int level = 0;                  // 1, 2, 3, ...
  uint64_t bytesPerInstance = 0;  // the smallest instance when they differ (hybrid CPUs)
  int instances = 0;
};

struct GpuDevice {
  std::string name;      // "cuda0", "nvml0", "card0", or the PCI address when only PCI is seen
  std::string model;     // hwloc's GPUModel / PCI name when known
  std::string pciBusId;  // "0000:17:00.0"; empty when not on PCI
  std::string source;    // "CUDA", "NVML", "OpenCL", "DRM", "PCI"
  int numaNode = -1;
};

struct NetworkInterface {
  std::string name;      // "eth0", "mlx5_0"
  std::string kind;      // "ethernet" | "openfabrics"
  std::string pciBusId;  // empty for virtual interfaces
  std::string source;    // "hwloc" or "sysfs" (when hwloc reports none)
  int numaNode = -1;
  int speedMbps = -1;  // /sys/class/net/NAME/speed when readable
};

// Where this process may run (hwloc_get_cpubind over all its threads).
struct CpuBinding {
  std::vector<int> pus;        // OS indexes
  std::vector<int> cores;      // logical indexes of the cores those PUs belong to
  std::vector<int> numaNodes;  // OS indexes of the NUMA nodes those cores are local to
  bool bound = false;          // false when it may run on every usable PU of the host
};

struct Topology {
  std::string hostname;
  int packages = 0;
  std::vector<NumaNode> numaNodes;
  std::vector<CpuCore> cores;
  std::vector<int> pus;  // every PU this process's cgroup allows, ascending OS indexes
  std::vector<CacheLevel> caches;
  std::vector<GpuDevice> gpus;
  std::vector<NetworkInterface> nics;
  bool devicesScanned = false;  // gpus and nics were looked for (TopologyOptions::ioDevices)
  CpuBinding binding;

  // Per-instance size of the level's data or unified cache; 0 when unknown.
  uint64_t cacheBytes(int level) const;
  // The core a PU (OS index) belongs to, or nullptr.
  const CpuCore* coreOfPu(int pu) const;
};

struct TopologyOptions {
  // PCI/OS devices (GPUs, NICs). Off for callers that need only CPUs and caches: the I/O scan
  // is most of the load time on large machines.
  bool ioDevices = true;
};

// kUnavailable when Kolo was built without hwloc or hwloc cannot load this machine's topology.
Expected<Topology> discoverTopology(const TopologyOptions& options = {});

// The CpuBinding of a PU set on `topology` (used by discovery and by tests).
CpuBinding bindingFor(const Topology& topology, const std::vector<int>& pus);

// "0-3,8,10-11" for {0,1,2,3,8,10,11}; "none" for an empty list.
std::string formatCpuList(std::span<const int> values);
// "core 3 (PU 3), NUMA 0", "cores 0-1 (PUs 0-1), NUMA 0", or "not bound (cores 0-1, NUMA 0)".
std::string describeBinding(const CpuBinding& binding);
// "32 MiB", "1 MiB", "48 KiB".
std::string formatBytes(uint64_t bytes);

// ---- what the algorithm selector and the bench learn about every rank ----

// One rank's place: its host key (ranks with equal keys share memory) and, when the CPUs it may
// run on all belong to one NUMA node, that node.
struct RankPlacement {
  std::string host;
  int numaNode = -1;    // -1: unbound or spanning NUMA nodes
  std::string binding;  // describeBinding() of the rank, for reports
};

RankPlacement placementOf(const Topology& topology, const std::string& hostKey);

// Fixed-size records, so ranks exchange placements with one allgather of kPlacementRecordBytes
// each. Fields are truncated to fit; parse fails with kInvalidArgument on a malformed record.
inline constexpr size_t kPlacementRecordBytes = 256;
std::string encodePlacement(const RankPlacement& placement);
Expected<RankPlacement> decodePlacement(std::span<const char> record);

enum class PeerTransport { kShm, kTcp };
std::string_view peerTransportName(PeerTransport transport);
// Same host: shared memory; otherwise TCP.
PeerTransport transportBetween(const RankPlacement& a, const RankPlacement& b);

// A ring order (ring[i] is the rank at position i) in which the ranks of each host are
// adjacent, and within a host the ranks of each NUMA node: a ring then crosses each host and
// NUMA boundary once instead of up to once per rank. Hosts appear in the order of their lowest
// rank, so rank 0 stays first; ties keep rank order (an already local ring is unchanged).
std::vector<int> topologyRingOrder(std::span<const RankPlacement> ranks);
// Ring edges (including the wrap-around) between different hosts, and between different NUMA
// nodes of one host, for `ring` over `ranks`.
struct RingCrossings {
  int hosts = 0;
  int numaNodes = 0;
};
RingCrossings countRingCrossings(std::span<const RankPlacement> ranks, std::span<const int> ring);

// Pipeline chunk of the shm arena's large allreduce from the cache sizes: each rank stages a
// chunk, reduces 1/n of it from every slot and copies it out, touching about 4 chunks per step,
// so a quarter of the (per-core) L2 keeps a step in L2; the slots of all ranks (depth x (n+1)
// chunks) must also stay within half of the L3. Rounded down to a power of two in
// [64 KiB, 4 MiB]; `fallback` when L2 is unknown.
size_t shmChunkBytesFor(uint64_t l2Bytes, uint64_t l3Bytes, int localRanks, size_t pipelineDepth,
                        size_t fallback);

// The host's hardware: NUMA nodes, packages, cores and PUs, caches, GPUs, NICs (a few lines).
std::string formatTopology(const Topology& topology);
// formatTopology, then a table with one row per rank (host, NUMA node, binding), then the ring
// order and the transport between ring neighbours. Rank 0 of kolo-bench --topology prints it.
std::string formatTopologyPreamble(const Topology& topology, std::span<const RankPlacement> ranks);
// One line for the init log: "1 package, 1 NUMA node, 2 cores / 2 PUs, L2 1 MiB, L3 32 MiB,
// 0 GPUs, 1 NIC; core 0 (PU 0), NUMA 0" (GPUs and NICs only when devicesScanned).
std::string summarizeTopology(const Topology& topology);

}  // namespace kolo
