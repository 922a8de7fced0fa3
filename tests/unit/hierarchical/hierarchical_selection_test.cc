// The selector's inputs and choices for jobs that span hosts: the cost model, the switches
// KOLO_ALLREDUCE_ALGO=hier and KOLO_HIERARCHICAL_ALLREDUCE/ALLGATHER=auto|1|0, and the context a
// Communicator with subgroups reports.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "hierarchical_world.h"
#include "kolo/collectives/algorithm_registry.h"
#include "support/threaded_world.h"

namespace kolo::coll {
namespace {

SelectionContext spanning(size_t bytes, int hosts, int minLocal, int maxLocal, int world) {
  SelectionContext ctx;
  ctx.bytes = bytes;
  ctx.worldSize = world;
  ctx.numHosts = hosts;
  ctx.minLocalSize = minLocal;
  ctx.maxLocalSize = maxLocal;
  ctx.hasSubgroups = true;
  return ctx;
}

TEST(HierarchicalSelection, CostModelPrefersHierarchicalWhenHostsHoldSeveralRanks) {
  const SelectionPolicy automatic;
  for (size_t bytes : {size_t{8}, size_t{1} << 20, size_t{64} << 20}) {
    EXPECT_EQ(chooseAllreduce(spanning(bytes, 2, 2, 2, 4), automatic),
              AllreduceAlgorithm::kHierarchical)
        << bytes;
    EXPECT_EQ(chooseAllreduce(spanning(bytes, 4, 8, 8, 32), automatic),
              AllreduceAlgorithm::kHierarchical)
        << bytes;
    EXPECT_TRUE(chooseHierarchicalAllgather(spanning(bytes, 2, 4, 4, 8), automatic)) << bytes;
  }
  // One rank per host: hierarchical only adds node phases to the same cross-host traffic.
  EXPECT_EQ(chooseAllreduce(spanning(64 << 20, 4, 1, 1, 4), automatic), AllreduceAlgorithm::kRing);
  EXPECT_EQ(chooseAllreduce(spanning(8, 4, 1, 1, 4), automatic),
            AllreduceAlgorithm::kRecursiveDoubling);
  EXPECT_FALSE(chooseHierarchicalAllgather(spanning(64 << 20, 4, 1, 1, 4), automatic));
  // Without subgroups it is never chosen, whatever the policy.
  SelectionContext flat = spanning(64 << 20, 2, 2, 2, 4);
  flat.hasSubgroups = false;
  EXPECT_EQ(chooseAllreduce(flat, SelectionPolicy{AllreduceAlgorithm::kHierarchical, true}),
            AllreduceAlgorithm::kRing);
  EXPECT_FALSE(chooseHierarchicalAllgather(flat, SelectionPolicy{std::nullopt, true}));
}

TEST(HierarchicalSelection, CostsComeFromTheRegistry) {
  const AlgorithmInfo* hier = findAlgorithm("allreduce", "hier");
  const AlgorithmInfo* ring = findAlgorithm("allreduce", "ring");
  ASSERT_NE(hier, nullptr);
  ASSERT_NE(ring, nullptr);
  EXPECT_EQ(hier->id, static_cast<int>(AllreduceAlgorithm::kHierarchical));
  ASSERT_NE(hier->estimateSeconds, nullptr);
  ASSERT_NE(findAlgorithm("allgather", "hier"), nullptr);
  // 64 MiB over 2 hosts of 2: half the bytes cross hosts, once; the ring sends 1.5x over TCP.
  SelectionContext ctx = spanning(64 << 20, 2, 2, 2, 4);
  EXPECT_LT(hier->estimateSeconds(ctx), ring->estimateSeconds(ctx));
  // A faster network than memory makes the extra node phases not worth it.
  ctx.links.interBytesPerSecond = 1e12;
  ctx.links.interLatency = ctx.links.intraLatency;
  EXPECT_GT(hier->estimateSeconds(ctx), ring->estimateSeconds(ctx));
  EXPECT_EQ(chooseAllreduce(ctx, SelectionPolicy{}), AllreduceAlgorithm::kRing);
}

TEST(HierarchicalSelection, SwitchesForceOrDisable) {
  const SelectionContext ctx = spanning(64 << 20, 4, 1, 1, 4);  // auto would pick ring
  EXPECT_EQ(chooseAllreduce(ctx, SelectionPolicy{std::nullopt, true}),
            AllreduceAlgorithm::kHierarchical);
  EXPECT_EQ(chooseAllreduce(ctx, SelectionPolicy{AllreduceAlgorithm::kHierarchical, {}}),
            AllreduceAlgorithm::kHierarchical);
  EXPECT_TRUE(chooseHierarchicalAllgather(ctx, SelectionPolicy{std::nullopt, true}));
  const SelectionContext good = spanning(64 << 20, 2, 2, 2, 4);  // auto would pick hier
  EXPECT_EQ(chooseAllreduce(good, SelectionPolicy{std::nullopt, false}), AllreduceAlgorithm::kRing);
  EXPECT_FALSE(chooseHierarchicalAllgather(good, SelectionPolicy{std::nullopt, false}));
  // An explicit algorithm wins over the hierarchical switch.
  EXPECT_EQ(chooseAllreduce(good, SelectionPolicy{AllreduceAlgorithm::kRing, true}),
            AllreduceAlgorithm::kRing);
}

TEST(HierarchicalSelection, EnvironmentSpellings) {
  EXPECT_EQ(parseAllreduceAlgorithm("hier"), AllreduceAlgorithm::kHierarchical);
  EXPECT_EQ(parseAllreduceAlgorithm("Hierarchical"), AllreduceAlgorithm::kHierarchical);
  EXPECT_EQ(allreduceAlgorithmName(AllreduceAlgorithm::kHierarchical), "hier");
  ::unsetenv("KOLO_ALLREDUCE_ALGO");
  ::setenv("KOLO_HIERARCHICAL_ALLREDUCE", "0", 1);
  EXPECT_EQ(allreducePolicyFromEnv().hierarchical, false);
  ::setenv("KOLO_HIERARCHICAL_ALLREDUCE", "auto", 1);
  EXPECT_EQ(allreducePolicyFromEnv().hierarchical, std::nullopt);
  ::unsetenv("KOLO_HIERARCHICAL_ALLREDUCE");
  ::setenv("HOROVOD_HIERARCHICAL_ALLREDUCE", "1", 1);
  EXPECT_EQ(allreducePolicyFromEnv().hierarchical, true);
  ::unsetenv("HOROVOD_HIERARCHICAL_ALLREDUCE");
  ::setenv("KOLO_HIERARCHICAL_ALLGATHER", "1", 1);
  EXPECT_EQ(allgatherPolicyFromEnv().hierarchical, true);
  ::unsetenv("KOLO_HIERARCHICAL_ALLGATHER");
  ::setenv("KOLO_ALLREDUCE_ALGO", "hier", 1);
  EXPECT_EQ(allreducePolicyFromEnv().forced, AllreduceAlgorithm::kHierarchical);
  ::setenv("KOLO_ALLREDUCE_ALGO", "auto", 1);
  EXPECT_EQ(allreducePolicyFromEnv().forced, std::nullopt);
  ::unsetenv("KOLO_ALLREDUCE_ALGO");
}

TEST(HierarchicalSelection, CommunicatorReportsItsHosts) {
  ::unsetenv("KOLO_ALLREDUCE_ALGO");
  ::unsetenv("KOLO_HIERARCHICAL_ALLREDUCE");
  auto results = test::runHierarchicalWorld({"a", "b", "a", "c", "c"}, [](Communicator& comm) {
    SelectionContext ctx = selectionContext(comm, 1000);
    if (ctx.numHosts != 3 || ctx.minLocalSize != 1 || ctx.maxLocalSize != 2 || !ctx.hasSubgroups ||
        ctx.worldSize != 5 || ctx.bytes != 1000) {
      return makeStatus(Code::kInternal, "context: hosts {} local {}-{} subgroups {}", ctx.numHosts,
                        ctx.minLocalSize, ctx.maxLocalSize, ctx.hasSubgroups);
    }
    // Every rank must reach the same choice, whatever its own host's size.
    if (selectAllreduce(comm, 1000) != chooseAllreduce(ctx, SelectionPolicy{})) {
      return Status(Code::kInternal, "selectAllreduce disagrees with chooseAllreduce");
    }
    return Status::ok();
  });
  EXPECT_EQ(test::describeFailures(results), "");
  auto plain = test::runThreadedWorld(2, [](Communicator& comm) {
    SelectionContext ctx = selectionContext(comm, 8);
    if (ctx.hasSubgroups || ctx.numHosts != 1) {
      return Status(Code::kInternal, "a world without subgroups reported hosts");
    }
    return Status::ok();
  });
  EXPECT_EQ(test::describeFailures(plain), "");
}

}  // namespace
}  // namespace kolo::coll
