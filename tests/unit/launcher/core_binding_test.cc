#include "kolo/launcher/core_binding.h"

#include <gtest/gtest.h>

namespace kolo::launcher {
namespace {

TEST(CoreBinding, OneCpuPerLocalRankInOrder) {
  auto plan = planCoreBinding("core", 2, {3, 5, 7});
  ASSERT_TRUE(plan.hasValue());
  EXPECT_EQ(plan.value(), (std::vector<int>{3, 5}));
}

TEST(CoreBinding, OversubscribedHostIsNotBound) {
  auto plan = planCoreBinding("core", 4, {0, 1});
  ASSERT_TRUE(plan.hasValue());
  EXPECT_TRUE(plan->empty());
}

TEST(CoreBinding, NoneBindsNothing) {
  auto plan = planCoreBinding("none", 1, {0, 1});
  ASSERT_TRUE(plan.hasValue());
  EXPECT_TRUE(plan->empty());
}

TEST(CoreBinding, UnknownModeIsNamed) {
  auto plan = planCoreBinding("socket", 1, {0});
  ASSERT_FALSE(plan.hasValue());
  EXPECT_EQ(plan.status().code(), Code::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("socket"), std::string::npos);
}

TEST(CoreBinding, AllowedCpusIsNonEmptyAndAscending) {
  auto cpus = allowedCpus();
  ASSERT_FALSE(cpus.empty());
  for (size_t i = 1; i < cpus.size(); ++i) EXPECT_LT(cpus[i - 1], cpus[i]);
}

}  // namespace
}  // namespace kolo::launcher
