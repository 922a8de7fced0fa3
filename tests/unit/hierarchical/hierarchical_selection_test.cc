// The selector's inputs and choices for jobs that span hosts: the cost model, the switches
// KOLO_ALLREDUCE_ALGO=hier (per size range too) and KOLO_HIERARCHICAL_ALLREDUCE/ALLGATHER=auto|1|0,
// and the context a Communicator with subgroups reports.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "hierarchical_world.h"
#include "kolo/base/env.h"
#include "kolo/base/settings.h"
#include "kolo/collectives/algorithm_policy.h"
#include "kolo/collectives/algorithm_registry.h"
#include "support/algorithm_choice.h"
#include "support/scoped_env.h"
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

constexpr auto kAllreduce = CollectiveKind::kAllreduce;
constexpr auto kAllgather = CollectiveKind::kAllgather;

CollectivePolicy forced(CollectiveKind kind, std::string_view spec, std::optional<bool> hier) {
  return test::policyFromSpec(kind, spec, hier);
}
CollectivePolicy hierarchical(std::optional<bool> on) {
  return CollectivePolicy{{}, on};
}

TEST(HierarchicalSelection, CostModelPrefersHierarchicalWhenHostsHoldSeveralRanks) {
  for (size_t bytes : {size_t{8}, size_t{1} << 20, size_t{64} << 20}) {
    EXPECT_EQ(test::chosenName(kAllreduce, spanning(bytes, 2, 2, 2, 4)), "hier") << bytes;
    EXPECT_EQ(test::chosenName(kAllreduce, spanning(bytes, 4, 8, 8, 32)), "hier") << bytes;
    EXPECT_EQ(test::chosenName(kAllgather, spanning(bytes, 2, 4, 4, 8)), "hier") << bytes;
  }
  // One rank per host: hierarchical only adds node phases to the same cross-host traffic.
  EXPECT_EQ(test::chosenName(kAllreduce, spanning(64 << 20, 4, 1, 1, 4)), "ring");
  EXPECT_EQ(test::chosenName(kAllreduce, spanning(8, 4, 1, 1, 4)), "rd");
  EXPECT_EQ(test::chosenName(kAllgather, spanning(64 << 20, 4, 1, 1, 4)), "ring");
  // Without subgroups it is never chosen, whatever the policy.
  SelectionContext flat = spanning(64 << 20, 2, 2, 2, 4);
  flat.hasSubgroups = false;
  EXPECT_EQ(test::chosenName(kAllreduce, flat, forced(kAllreduce, "hier", true)), "ring");
  EXPECT_EQ(test::chosenName(kAllgather, flat, hierarchical(true)), "ring");
}

TEST(HierarchicalSelection, CostsComeFromTheRegistry) {
  const AlgorithmEntry* hier = findAlgorithm(kAllreduce, "hier");
  const AlgorithmEntry* ring = findAlgorithm(kAllreduce, "ring");
  ASSERT_NE(hier, nullptr);
  ASSERT_NE(ring, nullptr);
  EXPECT_EQ(hier->id, 4);
  EXPECT_TRUE(hier->hierarchical);
  ASSERT_NE(hier->estimateSeconds, nullptr);
  ASSERT_NE(findAlgorithm(kAllgather, "hier"), nullptr);
  // 64 MiB over 2 hosts of 2: half the bytes cross hosts, once; the ring sends 1.5x over TCP.
  SelectionContext ctx = spanning(64 << 20, 2, 2, 2, 4);
  EXPECT_LT(hier->estimateSeconds(ctx), ring->estimateSeconds(ctx));
  // A faster network than memory makes the extra node phases not worth it.
  ctx.links.interBytesPerSecond = 1e12;
  ctx.links.interLatency = ctx.links.intraLatency;
  EXPECT_GT(hier->estimateSeconds(ctx), ring->estimateSeconds(ctx));
  EXPECT_EQ(test::chosenName(kAllreduce, ctx), "ring");
}

TEST(HierarchicalSelection, SwitchesForceOrDisable) {
  const SelectionContext ctx = spanning(64 << 20, 4, 1, 1, 4);  // auto would pick ring
  EXPECT_EQ(test::chosenName(kAllreduce, ctx, hierarchical(true)), "hier");
  EXPECT_EQ(test::chosenName(kAllreduce, ctx, forced(kAllreduce, "hier", std::nullopt)), "hier");
  EXPECT_EQ(test::chosenName(kAllgather, ctx, hierarchical(true)), "hier");
  const SelectionContext good = spanning(64 << 20, 2, 2, 2, 4);  // auto would pick hier
  EXPECT_EQ(test::chosenName(kAllreduce, good, hierarchical(false)), "ring");
  EXPECT_EQ(test::chosenName(kAllgather, good, hierarchical(false)), "ring");
  // An explicit algorithm wins over the hierarchical switch, for the sizes it covers.
  EXPECT_EQ(test::chosenName(kAllreduce, good, forced(kAllreduce, "ring", true)), "ring");
  const CollectivePolicy ranged = forced(kAllreduce, "ring:0-1M", true);
  EXPECT_EQ(test::chosenName(kAllreduce, spanning(4096, 2, 2, 2, 4), ranged), "ring");
  EXPECT_EQ(test::chosenName(kAllreduce, good, ranged), "hier");
}

TEST(HierarchicalSelection, EnvironmentSpellings) {
  EXPECT_EQ(findAlgorithm(kAllreduce, "hier")->name, "hier");
  EXPECT_EQ(findAlgorithm(kAllreduce, "Hierarchical")->name, "hier");
  auto read = [](CollectiveKind kind) {
    auto policy = selectionPolicyFromEnv();
    EXPECT_TRUE(policy.hasValue()) << policy.status().toString();
    return policy.hasValue() ? policy->of(kind) : CollectivePolicy{};
  };
  {
    test::ScopedEnv off("KOLO_HIERARCHICAL_ALLREDUCE", "0");
    EXPECT_EQ(read(kAllreduce).hierarchical, false);
  }
  {
    test::ScopedEnv automatic("KOLO_HIERARCHICAL_ALLREDUCE", "auto");
    EXPECT_EQ(read(kAllreduce).hierarchical, std::nullopt);
  }
  {
    test::ScopedEnv horovod("HOROVOD_HIERARCHICAL_ALLREDUCE", "1");
    EXPECT_EQ(read(kAllreduce).hierarchical, true);
  }
  {
    test::ScopedEnv gather("KOLO_HIERARCHICAL_ALLGATHER", "1");
    EXPECT_EQ(read(kAllgather).hierarchical, true);
  }
  {
    test::ScopedEnv algo("KOLO_ALLREDUCE_ALGO", "hier");
    EXPECT_EQ(read(kAllreduce).forcedFor(1)->name, "hier");
  }
  {
    test::ScopedEnv algo("KOLO_ALLREDUCE_ALGO", "auto");
    EXPECT_TRUE(read(kAllreduce).rules.empty());
  }
  {
    test::ScopedEnv bad("KOLO_HIERARCHICAL_ALLGATHER", "sometimes");
    auto policy = selectionPolicyFromEnv();
    ASSERT_FALSE(policy.hasValue());
    EXPECT_EQ(policy.status().message(),
              "KOLO_HIERARCHICAL_ALLGATHER='sometimes' is not auto, 1 or 0 (or on/off, "
              "true/false, yes/no)");
  }
  // The parser takes exactly what the settings table declares (and so what --help-env shows).
  const SettingDecl* decl = findSetting("KOLO_HIERARCHICAL_ALLREDUCE");
  ASSERT_NE(decl, nullptr);
  for (const std::string& choice : splitString(decl->choices, '|')) {
    auto parsed = parseHierarchicalSwitch("KOLO_HIERARCHICAL_ALLREDUCE", choice);
    ASSERT_TRUE(parsed.hasValue()) << choice << ": " << parsed.status().toString();
    EXPECT_EQ(parsed.value().has_value(), choice != "auto") << choice;
  }
}

TEST(HierarchicalSelection, CommunicatorReportsItsHosts) {
  auto results = test::runHierarchicalWorld({"a", "b", "a", "c", "c"}, [](Communicator& comm) {
    SelectionContext ctx = selectionContext(comm, 1000);
    if (ctx.numHosts != 3 || ctx.minLocalSize != 1 || ctx.maxLocalSize != 2 || !ctx.hasSubgroups ||
        ctx.worldSize != 5 || ctx.bytes != 1000) {
      return makeStatus(Code::kInternal, "context: hosts {} local {}-{} subgroups {}", ctx.numHosts,
                        ctx.minLocalSize, ctx.maxLocalSize, ctx.hasSubgroups);
    }
    // Every rank must reach the same choice, whatever its own host's size.
    if (&selectAlgorithm(comm, kAllreduce, 1000) != &chooseAlgorithm(kAllreduce, ctx, {})) {
      return Status(Code::kInternal, "selectAlgorithm disagrees with chooseAlgorithm");
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
