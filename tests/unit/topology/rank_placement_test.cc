// The pure topology functions: ring order, transport per peer pair, chunk size, placement
// records and binding text, on made-up machines.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "kolo/collectives/topology.h"

namespace kolo {
namespace {

std::vector<RankPlacement> placements(std::initializer_list<std::pair<const char*, int>> keys) {
  std::vector<RankPlacement> out;
  for (const auto& [host, numa] : keys) out.push_back(RankPlacement{host, numa, ""});
  return out;
}

TEST(TopologyRingOrder, InterleavedHostsBecomeContiguous) {
  auto ranks = placements({{"a", 0}, {"b", 0}, {"a", 0}, {"b", 0}});
  EXPECT_EQ(topologyRingOrder(ranks), (std::vector<int>{0, 2, 1, 3}));
  const RingCrossings before = countRingCrossings(ranks, std::vector<int>{0, 1, 2, 3});
  const RingCrossings after = countRingCrossings(ranks, topologyRingOrder(ranks));
  EXPECT_EQ(before.hosts, 4);
  EXPECT_EQ(after.hosts, 2);
}

TEST(TopologyRingOrder, NumaNodesWithinAHostBecomeContiguous) {
  auto ranks = placements({{"a", 1}, {"a", 0}, {"a", 1}, {"a", 0}, {"b", 0}, {"b", -1}});
  EXPECT_EQ(topologyRingOrder(ranks), (std::vector<int>{0, 2, 1, 3, 4, 5}));
  const RingCrossings c = countRingCrossings(ranks, topologyRingOrder(ranks));
  EXPECT_EQ(c.hosts, 2);
  EXPECT_EQ(c.numaNodes, 2);  // a:1 -> a:0 and b:0 -> b:-1
}

TEST(TopologyRingOrder, ContiguousLayoutIsUnchanged) {
  auto ranks = placements({{"a", 0}, {"a", 0}, {"b", 1}, {"b", 1}, {"c", -1}});
  EXPECT_EQ(topologyRingOrder(ranks), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(topologyRingOrder(std::vector<RankPlacement>{}).empty());
}

TEST(TopologyRingOrder, HostsOrderedByTheirLowestRankNotByName) {
  auto ranks = placements({{"zeta", 0}, {"alpha", 0}, {"zeta", 0}});
  EXPECT_EQ(topologyRingOrder(ranks), (std::vector<int>{0, 2, 1}));
}

// Any placement: a permutation starting at rank 0, every host's and every (host, NUMA) group's
// ranks contiguous, so the ring crosses hosts exactly `hosts` times (when more than one).
TEST(TopologyRingOrder, RandomPlacementsKeepGroupsContiguous) {
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 24);
    const int hosts = 1 + static_cast<int>(rng() % 4);
    std::vector<RankPlacement> ranks;
    for (int r = 0; r < n; ++r) {
      ranks.push_back(
          RankPlacement{fmt::format("h{}", rng() % hosts), static_cast<int>(rng() % 3) - 1, ""});
    }
    const std::vector<int> ring = topologyRingOrder(ranks);
    std::vector<int> sorted = ring;
    std::sort(sorted.begin(), sorted.end());
    for (int r = 0; r < n; ++r) ASSERT_EQ(sorted[r], r);
    ASSERT_EQ(ring.front(), 0);
    std::set<std::string> closedHosts;
    std::set<std::pair<std::string, int>> closedNodes;
    for (int i = 0; i < n; ++i) {
      const RankPlacement& cur = ranks[ring[i]];
      ASSERT_EQ(closedHosts.count(cur.host), 0u)
          << "host " << cur.host << " split, trial " << trial;
      ASSERT_EQ(closedNodes.count({cur.host, cur.numaNode}), 0u) << "trial " << trial;
      if (i + 1 < n) {
        const RankPlacement& next = ranks[ring[i + 1]];
        if (next.host != cur.host) closedHosts.insert(cur.host);
        if (next.host != cur.host || next.numaNode != cur.numaNode) {
          closedNodes.insert({cur.host, cur.numaNode});
        }
      }
    }
    std::set<std::string> distinct;
    for (const auto& p : ranks) distinct.insert(p.host);
    const RingCrossings c = countRingCrossings(ranks, ring);
    EXPECT_EQ(c.hosts, distinct.size() > 1 ? static_cast<int>(distinct.size()) : 0);
  }
}

TEST(TopologyPeerTransport, SameHostIsShmOtherwiseTcp) {
  auto ranks = placements({{"a", 0}, {"a", 1}, {"b", 0}});
  EXPECT_EQ(transportBetween(ranks[0], ranks[1]), PeerTransport::kShm);
  EXPECT_EQ(transportBetween(ranks[0], ranks[2]), PeerTransport::kTcp);
  EXPECT_EQ(peerTransportName(PeerTransport::kShm), "shm");
  EXPECT_EQ(peerTransportName(PeerTransport::kTcp), "tcp");
}

TEST(TopologyShmChunk, QuarterOfL2BoundedByL3) {
  constexpr size_t kFallback = 256 << 10;
  // 1 MiB L2, 32 MiB L3, 2 ranks, depth 4: L2/4 = 256 KiB; L3/2/(4*3) = 1.33 MiB.
  EXPECT_EQ(shmChunkBytesFor(1 << 20, 32 << 20, 2, 4, kFallback), size_t{256} << 10);
  // 2 MiB L2: 512 KiB.
  EXPECT_EQ(shmChunkBytesFor(2 << 20, 32 << 20, 2, 4, kFallback), size_t{512} << 10);
  // Many ranks on a small L3: 8 MiB / 2 / (4 * 17) = 120 KiB -> 64 KiB (power of two below).
  EXPECT_EQ(shmChunkBytesFor(2 << 20, 8 << 20, 16, 4, kFallback), size_t{64} << 10);
  // Rounded down to a power of two: 1.25 MiB / 4 = 320 KiB -> 256 KiB.
  EXPECT_EQ(shmChunkBytesFor(1280 << 10, 0, 2, 4, kFallback), size_t{256} << 10);
  // Clamped to [64 KiB, 4 MiB].
  EXPECT_EQ(shmChunkBytesFor(64 << 10, 0, 2, 4, kFallback), size_t{64} << 10);
  EXPECT_EQ(shmChunkBytesFor(uint64_t{64} << 20, 0, 2, 4, kFallback), size_t{4} << 20);
  // Unknown L2: the fallback.
  EXPECT_EQ(shmChunkBytesFor(0, 32 << 20, 2, 4, kFallback), kFallback);
}

TEST(TopologyPlacementRecord, RoundTripsAndRejectsGarbage) {
  RankPlacement p{"node-17.cluster", 1, "core 3 (PU 3), NUMA 1"};
  const std::string record = encodePlacement(p);
  ASSERT_EQ(record.size(), kPlacementRecordBytes);
  auto back = decodePlacement(record);
  ASSERT_TRUE(back.hasValue()) << back.status().toString();
  EXPECT_EQ(back->host, p.host);
  EXPECT_EQ(back->numaNode, 1);
  EXPECT_EQ(back->binding, p.binding);

  RankPlacement unbound{"h", -1, "not bound (cores 0-1 (PUs 0-1), NUMA 0)"};
  auto unboundBack = decodePlacement(encodePlacement(unbound));
  ASSERT_TRUE(unboundBack.hasValue());
  EXPECT_EQ(unboundBack->numaNode, -1);

  const std::string garbage = "no tabs here";
  auto bad = decodePlacement(garbage);
  ASSERT_FALSE(bad.hasValue());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("no tabs here"), std::string::npos);
  auto badNuma = decodePlacement(std::string("h\tx1\tcore 0"));
  ASSERT_FALSE(badNuma.hasValue());
  EXPECT_NE(badNuma.status().message().find("'x1'"), std::string::npos);
}

// A two-package machine with SMT: cores 0-1 on NUMA 0 (PUs 0,4 / 1,5), cores 2-3 on NUMA 1.
Topology twoSocketMachine() {
  Topology t;
  t.hostname = "box";
  t.packages = 2;
  t.numaNodes = {NumaNode{0, uint64_t{64} << 30, {0, 1, 4, 5}},
                 NumaNode{1, uint64_t{64} << 30, {2, 3, 6, 7}}};
  t.cores = {CpuCore{0, 0, 0, {0, 4}}, CpuCore{1, 0, 0, {1, 5}}, CpuCore{2, 1, 1, {2, 6}},
             CpuCore{3, 1, 1, {3, 7}}};
  t.pus = {0, 1, 2, 3, 4, 5, 6, 7};
  t.caches = {CacheLevel{1, 48 << 10, 4}, CacheLevel{2, 2 << 20, 4}, CacheLevel{3, 32 << 20, 2}};
  t.nics = {NetworkInterface{"ib0", "openfabrics", "0000:17:00.0", "hwloc", 1, -1}};
  t.gpus = {GpuDevice{"cuda0", "NVIDIA H100", "0000:18:00.0", "CUDA", 1}};
  return t;
}

TEST(TopologyBinding, DescribesCoresPusAndNumaNodes) {
  Topology t = twoSocketMachine();
  CpuBinding core = bindingFor(t, {2, 6});
  EXPECT_TRUE(core.bound);
  EXPECT_EQ(core.cores, std::vector<int>{2});
  EXPECT_EQ(describeBinding(core), "core 2 (PUs 2,6), NUMA 1");
  CpuBinding numa = bindingFor(t, {0, 1, 4, 5});
  EXPECT_EQ(describeBinding(numa), "cores 0-1 (PUs 0-1,4-5), NUMA 0");
  CpuBinding all = bindingFor(t, t.pus);
  EXPECT_FALSE(all.bound);
  EXPECT_EQ(describeBinding(all), "not bound (cores 0-3 (PUs 0-7), NUMA 0-1)");

  t.binding = core;
  EXPECT_EQ(placementOf(t, "box").numaNode, 1);
  t.binding = all;
  EXPECT_EQ(placementOf(t, "box").numaNode, -1);
  // Unbound on a one-node machine still runs on that node.
  t.numaNodes.pop_back();
  for (CpuCore& c : t.cores) c.numaNode = 0;
  t.binding = bindingFor(t, t.pus);
  EXPECT_FALSE(t.binding.bound);
  EXPECT_EQ(placementOf(t, "box").numaNode, 0);
}

TEST(TopologyFormatting, CpuListsAndBytes) {
  EXPECT_EQ(formatCpuList(std::vector<int>{0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(formatCpuList(std::vector<int>{5}), "5");
  EXPECT_EQ(formatCpuList(std::vector<int>{}), "none");
  EXPECT_EQ(formatBytes(32 << 20), "32 MiB");
  EXPECT_EQ(formatBytes(48 << 10), "48 KiB");
  EXPECT_EQ(formatBytes(uint64_t{64} << 30), "64 GiB");
  EXPECT_EQ(formatBytes(1536 << 10), "1.5 MiB");
}

TEST(TopologyFormatting, PreambleHasHardwareRanksAndRing) {
  Topology t = twoSocketMachine();
  auto ranks = placements({{"box", 0}, {"other", 0}, {"box", 1}, {"other", -1}});
  ranks[0].binding = "core 0 (PUs 0,4), NUMA 0";
  const std::string text = formatTopologyPreamble(t, ranks);
  EXPECT_NE(text.find("2 packages, 2 NUMA nodes, 4 cores / 8 PUs (2 per core)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("# NUMA node 1   : 64 GiB memory, cores 2-3, PUs 2-3,6-7"), std::string::npos)
      << text;
  EXPECT_NE(text.find("L1 48 KiB x4, L2 2 MiB x4, L3 32 MiB x2"), std::string::npos) << text;
  EXPECT_NE(text.find("cuda0 (CUDA, NVIDIA H100, PCI 0000:18:00.0, NUMA 1)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("ib0 (openfabrics, PCI 0000:17:00.0, NUMA 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("#    0  box       0  core 0 (PUs 0,4), NUMA 0"), std::string::npos) << text;
  EXPECT_NE(text.find("#    3  other     -  "), std::string::npos) << text;
  EXPECT_NE(text.find("ring order    : 0 -shm-> 2 -tcp-> 1 -shm-> 3 -tcp-> 0 (2 host and 2 NUMA "
                      "crossings)"),
            std::string::npos)
      << text;
  EXPECT_EQ(summarizeTopology(t),
            "2 packages, 2 NUMA nodes, 4 cores / 8 PUs, L2 2 MiB, L3 32 MiB; binding unknown");
  t.devicesScanned = true;
  t.binding = bindingFor(t, {3, 7});
  EXPECT_EQ(summarizeTopology(t),
            "2 packages, 2 NUMA nodes, 4 cores / 8 PUs, L2 2 MiB, L3 32 MiB, 1 GPU, 1 NIC; "
            "core 3 (PUs 3,7), NUMA 1");
}

}  // namespace
}  // namespace kolo
