// RecentDrive's guess of whether a submitting thread is about to wait and drive the target.
#include "recent_drive.h"

#include <gtest/gtest.h>

#include <thread>

namespace kolo::core {
namespace {

constexpr auto kBurst = std::chrono::seconds(5);  // wide: no scheduling delay can end it

TEST(RecentDrive, OnlyTheFirstSubmitAfterADriveIsGuessedWithoutABurst) {
  int target = 0;
  RecentDrive::drove(&target);
  EXPECT_TRUE(RecentDrive::waitsNext(&target));
  EXPECT_FALSE(RecentDrive::waitsNext(&target));
  int other = 0;
  RecentDrive::drove(&target);
  EXPECT_FALSE(RecentDrive::waitsNext(&other)) << "another target was never driven";
}

TEST(RecentDrive, SubmitsWithinTheBurstOfAGuessedOneAreGuessedToo) {
  int target = 0;
  RecentDrive::drove(&target);
  EXPECT_TRUE(RecentDrive::waitsNext(&target, kBurst));
  EXPECT_TRUE(RecentDrive::waitsNext(&target, kBurst));
  EXPECT_TRUE(RecentDrive::waitsNext(&target, kBurst));
  // Past the burst the chain ends, and it does not restart without a new drive.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(RecentDrive::waitsNext(&target, std::chrono::milliseconds(1)));
  EXPECT_FALSE(RecentDrive::waitsNext(&target, kBurst));
}

TEST(RecentDrive, ASubmitNotGuessedStartsNoBurst) {
  int target = 0;
  RecentDrive::drove(&target);
  EXPECT_TRUE(RecentDrive::waitsNext(&target));
  EXPECT_FALSE(RecentDrive::waitsNext(&target));  // no burst allowed: woken
  EXPECT_FALSE(RecentDrive::waitsNext(&target, kBurst)) << "follows a submit that woke";
}

}  // namespace
}  // namespace kolo::core
