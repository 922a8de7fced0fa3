// discoverTopology against what Linux itself reports (/proc/cpuinfo, sysconf, /sys), read here
// independently of hwloc.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "kolo/collectives/topology.h"
#include "support/scoped_env.h"
#include "topology/host_topology.h"

namespace kolo {
namespace {

namespace fs = std::filesystem;

std::string readLine(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Parses the kernel's "0-3,8,10-11" list format.
std::set<int> parseKernelList(const std::string& text) {
  std::set<int> out;
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.empty()) continue;
    const size_t dash = item.find('-');
    const int first = std::stoi(item.substr(0, dash));
    const int last = dash == std::string::npos ? first : std::stoi(item.substr(dash + 1));
    for (int i = first; i <= last; ++i) out.insert(i);
  }
  return out;
}

// The CPUs hwloc is expected to report: online ones, restricted by this cgroup's cpuset.
std::set<int> usableCpus() {
  std::set<int> cpus = parseKernelList(readLine("/sys/devices/system/cpu/online"));
  const std::string effective = readLine("/sys/fs/cgroup/cpuset.cpus.effective");
  if (!effective.empty()) {
    std::set<int> allowed = parseKernelList(effective);
    std::erase_if(cpus, [&](int c) { return allowed.count(c) == 0; });
  }
  return cpus;
}

// "processor : N" lines of /proc/cpuinfo.
std::set<int> cpuinfoProcessors() {
  std::ifstream in("/proc/cpuinfo");
  std::set<int> out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("processor", 0) == 0) out.insert(std::stoi(line.substr(line.find(':') + 1)));
  }
  return out;
}

uint64_t sysfsCacheBytes(int level) {
  for (int i = 0; i < 16; ++i) {
    const fs::path index =
        fs::path("/sys/devices/system/cpu/cpu0/cache") / ("index" + std::to_string(i));
    if (!fs::exists(index)) break;
    if (readLine(index / "level") != std::to_string(level)) continue;
    if (readLine(index / "type") == "Instruction") continue;
    const std::string size = readLine(index / "size");  // "32768K"
    uint64_t value = std::stoull(size);
    if (size.back() == 'K') value <<= 10;
    if (size.back() == 'M') value <<= 20;
    return value;
  }
  return 0;
}

class TopologyDiscovery : public ::testing::Test {
 protected:
  void SetUp() override {
    auto discovered = discoverTopology();
    ASSERT_TRUE(discovered.hasValue()) << discovered.status().toString();
    topology_ = std::move(discovered).value();
  }
  Topology topology_;
};

TEST_F(TopologyDiscovery, PusMatchOnlineCpusAndCpuinfo) {
  const std::set<int> expected = usableCpus();
  EXPECT_EQ(std::set<int>(topology_.pus.begin(), topology_.pus.end()), expected);
  if (expected.size() == static_cast<size_t>(sysconf(_SC_NPROCESSORS_ONLN))) {
    EXPECT_EQ(cpuinfoProcessors(), expected);
  }
}

TEST_F(TopologyDiscovery, CoresAndPackagesMatchSysfsTopology) {
  std::set<std::pair<int, int>> cores;
  std::set<int> packages;
  for (int cpu : usableCpus()) {
    const fs::path dir =
        fs::path("/sys/devices/system/cpu") / ("cpu" + std::to_string(cpu)) / "topology";
    const int package = std::stoi(readLine(dir / "physical_package_id"));
    cores.insert({package, std::stoi(readLine(dir / "core_id"))});
    packages.insert(package);
  }
  EXPECT_EQ(topology_.cores.size(), cores.size());
  EXPECT_EQ(topology_.packages, static_cast<int>(packages.size()));
  // Every usable PU belongs to exactly one core.
  size_t pusInCores = 0;
  for (const CpuCore& core : topology_.cores) pusInCores += core.pus.size();
  EXPECT_EQ(pusInCores, topology_.pus.size());
  for (int pu : topology_.pus) EXPECT_NE(topology_.coreOfPu(pu), nullptr) << "PU " << pu;
}

TEST_F(TopologyDiscovery, NumaNodesMatchSysfs) {
  std::set<int> nodes;
  if (fs::exists("/sys/devices/system/node/online")) {
    nodes = parseKernelList(readLine("/sys/devices/system/node/online"));
  }
  if (nodes.empty()) nodes = {0};
  std::set<int> found;
  for (const NumaNode& node : topology_.numaNodes) {
    found.insert(node.osIndex);
    EXPECT_GT(node.memoryBytes, 0u) << "NUMA node " << node.osIndex;
  }
  EXPECT_EQ(found, nodes);
  for (const CpuCore& core : topology_.cores) {
    EXPECT_TRUE(found.count(core.numaNode) == 1)
        << "core " << core.index << " NUMA " << core.numaNode;
  }
}

TEST_F(TopologyDiscovery, StreamingStoresStartAtTheSizeOfOneL3) {
  // The arena writes outputs through the cache up to one L3 as hwloc reports it (sysfs's
  // figure where Linux has one, else the CPU's own: a VM whose sysfs lists no caches still
  // reports an L3 through cpuid; CacheSizesMatchSysfs checks the two agree), 32 MiB where
  // neither reports one; KOLO_SHM_STREAMING_BYTES overrides it.
  const uint64_t l3 = topology_.cacheBytes(3);
  {
    test::ScopedEnv unset("KOLO_SHM_STREAMING_BYTES", "");
    EXPECT_EQ(shmStreamingMinBytes(), l3 != 0 ? l3 : uint64_t{32} << 20);
  }
  test::ScopedEnv set("KOLO_SHM_STREAMING_BYTES", "6M");
  EXPECT_EQ(shmStreamingMinBytes(), uint64_t{6} << 20);
}

TEST_F(TopologyDiscovery, CacheSizesMatchSysfs) {
  for (int level : {1, 2, 3}) {
    const uint64_t expected = sysfsCacheBytes(level);
    if (expected == 0) continue;  // no such level here
    EXPECT_EQ(topology_.cacheBytes(level), expected) << "L" << level;
  }
  EXPECT_GT(topology_.cacheBytes(1), 0u);
}

TEST_F(TopologyDiscovery, PhysicalNicsAreListedAndLoopbackIsNot) {
  std::set<std::string> names;
  for (const NetworkInterface& nic : topology_.nics) names.insert(nic.name);
  EXPECT_EQ(names.count("lo"), 0u);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/class/net", ec)) {
    const std::string name = entry.path().filename().string();
    if (name == "lo" || !fs::exists(entry.path() / "device")) continue;
    // A PCI NIC is seen by hwloc or by the sysfs fallback.
    const bool pci =
        fs::canonical(entry.path() / "device").string().find("/pci") != std::string::npos;
    if (pci) {
      EXPECT_EQ(names.count(name), 1u) << name << " is a PCI NIC";
    }
  }
}

TEST_F(TopologyDiscovery, BindingFollowsSchedAffinity) {
  cpu_set_t original;
  CPU_ZERO(&original);
  ASSERT_EQ(sched_getaffinity(0, sizeof(original), &original), 0);
  const int pu = topology_.pus.back();
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(pu, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  auto bound = discoverTopology(TopologyOptions{.ioDevices = false});
  ASSERT_EQ(sched_setaffinity(0, sizeof(original), &original), 0);
  ASSERT_TRUE(bound.hasValue()) << bound.status().toString();

  const CpuCore* core = topology_.coreOfPu(pu);
  ASSERT_NE(core, nullptr);
  EXPECT_EQ(bound->binding.pus, std::vector<int>{pu});
  EXPECT_EQ(bound->binding.cores, std::vector<int>{core->index});
  EXPECT_EQ(bound->binding.numaNodes, std::vector<int>{core->numaNode});
  EXPECT_EQ(bound->binding.bound, topology_.pus.size() > 1);
  if (topology_.pus.size() > 1) {
    EXPECT_EQ(describeBinding(bound->binding),
              fmt::format("core {} (PU {}), NUMA {}", core->index, pu, core->numaNode));
  }
}

TEST_F(TopologyDiscovery, UnboundProcessIsReportedAsSuch) {
  cpu_set_t original;
  CPU_ZERO(&original);
  ASSERT_EQ(sched_getaffinity(0, sizeof(original), &original), 0);
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int pu : topology_.pus) CPU_SET(pu, &all);
  ASSERT_EQ(sched_setaffinity(0, sizeof(all), &all), 0);
  auto unbound = discoverTopology(TopologyOptions{.ioDevices = false});
  ASSERT_EQ(sched_setaffinity(0, sizeof(original), &original), 0);
  ASSERT_TRUE(unbound.hasValue()) << unbound.status().toString();
  EXPECT_FALSE(unbound->binding.bound);
  EXPECT_EQ(unbound->binding.pus, topology_.pus);
  EXPECT_EQ(unbound->binding.cores.size(), topology_.cores.size());
  EXPECT_EQ(describeBinding(unbound->binding).rfind("not bound (", 0), 0u);
}

TEST_F(TopologyDiscovery, CpuOnlyDiscoverySkipsDevices) {
  auto cpuOnly = discoverTopology(TopologyOptions{.ioDevices = false});
  ASSERT_TRUE(cpuOnly.hasValue());
  EXPECT_TRUE(cpuOnly->gpus.empty());
  EXPECT_TRUE(cpuOnly->nics.empty());
  EXPECT_FALSE(cpuOnly->devicesScanned);
  EXPECT_TRUE(topology_.devicesScanned);
  EXPECT_EQ(cpuOnly->cores.size(), topology_.cores.size());
  EXPECT_EQ(cpuOnly->cacheBytes(2), topology_.cacheBytes(2));
}

TEST_F(TopologyDiscovery, ReportNamesWhatWasFound) {
  const std::string report = formatTopology(topology_);
  EXPECT_NE(
      report.find(fmt::format(
          "{} / {}",
          topology_.cores.size() == 1 ? "1 core" : fmt::format("{} cores", topology_.cores.size()),
          topology_.pus.size() == 1 ? "1 PU" : fmt::format("{} PUs", topology_.pus.size()))),
      std::string::npos)
      << report;
  if (topology_.cacheBytes(3) > 0) {
    EXPECT_NE(report.find("L3 " + formatBytes(topology_.cacheBytes(3))), std::string::npos)
        << report;
  }
  for (const NetworkInterface& nic : topology_.nics) {
    EXPECT_NE(report.find(nic.name), std::string::npos) << report;
  }
}

}  // namespace
}  // namespace kolo
