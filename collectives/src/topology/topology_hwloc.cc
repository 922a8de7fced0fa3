// discoverTopology over hwloc 2.x. hwloc restricts its view to the PUs and NUMA nodes this
// process's cgroup allows, which is what binding and chunk sizing should see.
#include <hwloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include "kolo/base/host_address.h"
#include "kolo/collectives/topology.h"

namespace kolo {
namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};
struct BitmapDeleter {
  void operator()(hwloc_bitmap_s* b) const { hwloc_bitmap_free(b); }
};
using TopologyHandle = std::unique_ptr<hwloc_topology, TopologyDeleter>;
using Bitmap = std::unique_ptr<hwloc_bitmap_s, BitmapDeleter>;

std::vector<int> bitmapMembers(hwloc_const_bitmap_t set) {
  std::vector<int> out;
  if (set == nullptr || hwloc_bitmap_iszero(set)) return out;
  for (int i = hwloc_bitmap_first(set); i >= 0; i = hwloc_bitmap_next(set, i)) out.push_back(i);
  return out;
}

std::string pciBusId(hwloc_obj_t obj) {
  for (; obj != nullptr; obj = obj->parent) {
    if (obj->type == HWLOC_OBJ_PCI_DEVICE) {
      const auto& a = obj->attr->pcidev;
      return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", a.domain, a.bus, a.dev, a.func);
    }
  }
  return "";
}

hwloc_obj_t pciDeviceOf(hwloc_obj_t obj) {
  for (; obj != nullptr; obj = obj->parent) {
    if (obj->type == HWLOC_OBJ_PCI_DEVICE) return obj;
  }
  return nullptr;
}

// The NUMA node local to an I/O object: the single node under its first non-I/O ancestor.
int numaNodeOf(hwloc_topology_t topo, hwloc_obj_t obj) {
  hwloc_obj_t cpuParent = hwloc_get_non_io_ancestor_obj(topo, obj);
  if (cpuParent == nullptr || cpuParent->nodeset == nullptr) return -1;
  if (hwloc_bitmap_weight(cpuParent->nodeset) != 1) return -1;
  return hwloc_bitmap_first(cpuParent->nodeset);
}

std::string infoValue(hwloc_obj_t obj, const char* name) {
  const char* value = hwloc_obj_get_info_by_name(obj, name);
  return value != nullptr ? value : "";
}

std::string readFirstLine(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

int readSpeedMbps(const std::string& interface) {
  // Reading speed fails (EINVAL) for interfaces without a link; -1 is "unknown".
  std::string text = readFirstLine(std::filesystem::path("/sys/class/net") / interface / "speed");
  char* end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  return end != text.c_str() && value > 0 ? static_cast<int>(value) : -1;
}

void readCaches(hwloc_topology_t topo, Topology& out) {
  constexpr hwloc_obj_type_t kDataCaches[] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE,
                                              HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L4CACHE,
                                              HWLOC_OBJ_L5CACHE};
  for (hwloc_obj_type_t type : kDataCaches) {
    const int n = hwloc_get_nbobjs_by_type(topo, type);
    if (n <= 0) continue;
    CacheLevel level;
    for (int i = 0; i < n; ++i) {
      hwloc_obj_t cache = hwloc_get_obj_by_type(topo, type, static_cast<unsigned>(i));
      if (cache->attr->cache.type == HWLOC_OBJ_CACHE_INSTRUCTION) continue;
      level.level = static_cast<int>(cache->attr->cache.depth);
      const uint64_t size = cache->attr->cache.size;
      if (size > 0) {
        level.bytesPerInstance =
            level.bytesPerInstance == 0 ? size : std::min(level.bytesPerInstance, size);
      }
      ++level.instances;
    }
    if (level.instances > 0) out.caches.push_back(level);
  }
}

void readCpus(hwloc_topology_t topo, Topology& out) {
  out.packages = std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE));
  const int numaCount = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < numaCount; ++i) {
    hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    out.numaNodes.push_back(NumaNode{static_cast<int>(node->os_index),
                                     node->attr->numanode.local_memory,
                                     bitmapMembers(node->cpuset)});
  }
  out.pus = bitmapMembers(hwloc_topology_get_allowed_cpuset(topo));
  // Some virtual machines expose PUs without cores: each PU then counts as its own core.
  const hwloc_obj_type_t coreType =
      hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
  const int coreCount = hwloc_get_nbobjs_by_type(topo, coreType);
  for (int i = 0; i < coreCount; ++i) {
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, coreType, static_cast<unsigned>(i));
    CpuCore core;
    core.index = static_cast<int>(out.cores.size());
    hwloc_obj_t package = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, obj);
    core.package = package != nullptr ? static_cast<int>(package->logical_index) : 0;
    core.pus = bitmapMembers(obj->cpuset);
    for (const NumaNode& node : out.numaNodes) {
      if (!core.pus.empty() &&
          std::includes(node.pus.begin(), node.pus.end(), core.pus.begin(), core.pus.end())) {
        core.numaNode = node.osIndex;
        break;
      }
    }
    if (!core.pus.empty()) out.cores.push_back(std::move(core));
  }
}

void readGpus(hwloc_topology_t topo, Topology& out) {
  std::set<hwloc_obj_t> pciWithOsDevice;
  for (hwloc_obj_t dev = hwloc_get_next_osdev(topo, nullptr); dev != nullptr;
       dev = hwloc_get_next_osdev(topo, dev)) {
    const auto type = dev->attr->osdev.type;
    if (type != HWLOC_OBJ_OSDEV_GPU && type != HWLOC_OBJ_OSDEV_COPROC) continue;
    GpuDevice gpu;
    gpu.name = dev->name != nullptr ? dev->name : "";
    gpu.source =
        dev->subtype != nullptr ? dev->subtype : (type == HWLOC_OBJ_OSDEV_GPU ? "GPU" : "");
    gpu.model = infoValue(dev, "GPUModel");
    gpu.pciBusId = pciBusId(dev);
    gpu.numaNode = numaNodeOf(topo, dev);
    if (hwloc_obj_t pci = pciDeviceOf(dev)) {
      pciWithOsDevice.insert(pci);
      if (gpu.model.empty() && pci->name != nullptr) gpu.model = pci->name;
    }
    // The DRM "cardN"/"renderDN" entries of a GPU that CUDA or NVML already named add nothing.
    out.gpus.push_back(std::move(gpu));
  }
  // Without the CUDA/NVML plugins (Debian ships neither) a GPU is still a PCI display or 3D
  // controller (class 0x03xx).
  for (hwloc_obj_t pci = hwloc_get_next_pcidev(topo, nullptr); pci != nullptr;
       pci = hwloc_get_next_pcidev(topo, pci)) {
    if ((pci->attr->pcidev.class_id >> 8) != 0x03 || pciWithOsDevice.count(pci) > 0) continue;
    GpuDevice gpu;
    gpu.pciBusId = pciBusId(pci);
    gpu.name = gpu.pciBusId;
    gpu.source = "PCI";
    const std::string pciName = infoValue(pci, "PCIDevice");
    gpu.model = pci->name != nullptr ? std::string(pci->name)
                : !pciName.empty()
                    ? pciName
                    : fmt::format("vendor {:04x} device {:04x}", pci->attr->pcidev.vendor_id,
                                  pci->attr->pcidev.device_id);
    gpu.numaNode = numaNodeOf(topo, pci);
    out.gpus.push_back(std::move(gpu));
  }
  // Prefer the CUDA/NVML view of a device when hwloc gives several names for one PCI address.
  auto rank = [](const GpuDevice& g) {
    return g.source == "CUDA" ? 0 : g.source == "NVML" ? 1 : g.source == "PCI" ? 3 : 2;
  };
  std::stable_sort(out.gpus.begin(), out.gpus.end(),
                   [&](const GpuDevice& a, const GpuDevice& b) { return rank(a) < rank(b); });
  std::set<std::string> seen;
  std::erase_if(out.gpus, [&](const GpuDevice& g) {
    return !g.pciBusId.empty() && !seen.insert(g.pciBusId).second;
  });
}

void readNics(hwloc_topology_t topo, Topology& out) {
  for (hwloc_obj_t dev = hwloc_get_next_osdev(topo, nullptr); dev != nullptr;
       dev = hwloc_get_next_osdev(topo, dev)) {
    const auto type = dev->attr->osdev.type;
    if (type != HWLOC_OBJ_OSDEV_NETWORK && type != HWLOC_OBJ_OSDEV_OPENFABRICS) continue;
    NetworkInterface nic;
    nic.name = dev->name != nullptr ? dev->name : "";
    nic.kind = type == HWLOC_OBJ_OSDEV_NETWORK ? "ethernet" : "openfabrics";
    nic.pciBusId = pciBusId(dev);
    nic.source = "hwloc";
    nic.numaNode = numaNodeOf(topo, dev);
    if (type == HWLOC_OBJ_OSDEV_NETWORK) nic.speedMbps = readSpeedMbps(nic.name);
    out.nics.push_back(std::move(nic));
  }
}

// hwloc lists only interfaces on a bus it scanned; in containers and on some virtual machines
// that is none, while /sys/class/net still names what TCP will use.
void readNicsFromSysfs(Topology& out) {
  std::error_code ec;
  std::vector<NetworkInterface> physical;
  std::vector<NetworkInterface> virtualOnes;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    NetworkInterface nic;
    nic.name = entry.path().filename().string();
    if (nic.name == "lo") continue;
    nic.kind = "ethernet";
    nic.source = "sysfs";
    nic.speedMbps = readSpeedMbps(nic.name);
    std::error_code linkError;
    auto device = std::filesystem::canonical(entry.path() / "device", linkError);
    if (!linkError) {
      nic.pciBusId = device.filename().string();
      std::string node = readFirstLine(entry.path() / "device" / "numa_node");
      nic.numaNode = node.empty() ? -1 : std::atoi(node.c_str());
      physical.push_back(std::move(nic));
    } else if (readFirstLine(entry.path() / "operstate") == "up") {
      virtualOnes.push_back(std::move(nic));
    }
  }
  out.nics = physical.empty() ? std::move(virtualOnes) : std::move(physical);
  std::sort(out.nics.begin(), out.nics.end(),
            [](const NetworkInterface& a, const NetworkInterface& b) { return a.name < b.name; });
}

}  // namespace

Expected<Topology> discoverTopology(const TopologyOptions& options) {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) {
    return Status(Code::kUnavailable, "hwloc_topology_init failed");
  }
  TopologyHandle topo(raw);
  hwloc_topology_set_io_types_filter(topo.get(), options.ioDevices
                                                     ? HWLOC_TYPE_FILTER_KEEP_IMPORTANT
                                                     : HWLOC_TYPE_FILTER_KEEP_NONE);
  if (hwloc_topology_load(topo.get()) != 0) {
    return makeStatus(Code::kUnavailable, "hwloc could not load this machine's topology: {}",
                      std::strerror(errno));
  }
  Topology out;
  out.hostname = hostName();
  readCpus(topo.get(), out);
  readCaches(topo.get(), out);
  out.devicesScanned = options.ioDevices;
  if (options.ioDevices) {
    readGpus(topo.get(), out);
    readNics(topo.get(), out);
    if (out.nics.empty()) readNicsFromSysfs(out);
  }
  Bitmap bound(hwloc_bitmap_alloc());
  // Every thread of the process (Linux reads each thread's affinity); a single thread when the
  // process-wide query is not supported.
  if (hwloc_get_cpubind(topo.get(), bound.get(), HWLOC_CPUBIND_PROCESS) != 0 &&
      hwloc_get_cpubind(topo.get(), bound.get(), HWLOC_CPUBIND_THREAD) != 0) {
    return makeStatus(Code::kUnavailable, "hwloc_get_cpubind failed: {}", std::strerror(errno));
  }
  hwloc_bitmap_and(bound.get(), bound.get(), hwloc_topology_get_allowed_cpuset(topo.get()));
  out.binding = bindingFor(out, bitmapMembers(bound.get()));
  return out;
}

}  // namespace kolo
