// Shorthands for tests of the algorithm selector: the chosen entry's name, and a policy from the
// text a user would put in KOLO_<COLLECTIVE>_ALGO / KOLO_HIERARCHICAL_<COLLECTIVE>.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/collectives/algorithm_registry.h"

namespace kolo::test {

inline std::string_view chosenName(coll::CollectiveKind kind, const coll::SelectionContext& ctx,
                                   const coll::CollectivePolicy& policy = {}) {
  return coll::chooseAlgorithm(kind, ctx, policy).name;
}

inline coll::CollectivePolicy policyFromSpec(coll::CollectiveKind kind, std::string_view spec,
                                             std::optional<bool> hierarchical = std::nullopt) {
  coll::CollectivePolicy policy;
  auto rules = coll::parseAlgorithmSpec(kind, spec);
  EXPECT_TRUE(rules.hasValue()) << spec << ": " << rules.status().toString();
  if (rules.hasValue()) policy.rules = *rules;
  policy.hierarchical = hierarchical;
  return policy;
}

// The registry's names for `kind` that can run in `ctx` (the default: one host, no arena, no
// subgroups, as a threaded loopback world), in selection order: tests sweep these, so a new
// entry is tested without editing the tests.
inline std::vector<std::string> runnableAlgorithms(coll::CollectiveKind kind,
                                                   const coll::SelectionContext& ctx = {}) {
  std::vector<std::string> names;
  for (const coll::AlgorithmEntry& entry : coll::algorithmsFor(kind)) {
    if (coll::canRun(entry, ctx)) names.emplace_back(entry.name);
  }
  return names;
}

inline coll::SelectionPolicy allreducePolicy(std::string_view spec) {
  coll::SelectionPolicy policy;
  policy.of(coll::CollectiveKind::kAllreduce) =
      policyFromSpec(coll::CollectiveKind::kAllreduce, spec);
  return policy;
}

}  // namespace kolo::test
