// The rank in a log line's prefix: the process's, unless the thread names its own (ranks as
// threads in one process, each Engine's coordinator).
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "kolo/base/logging.h"

namespace kolo {
namespace {

TEST(LogRank, ThreadScopesOverrideTheProcessRankAndRestoreIt) {
  setLogRank(3);
  EXPECT_EQ(logRank(), 3);
  {
    LogRankScope outer(5);
    EXPECT_EQ(logRank(), 5);
    {
      LogRankScope inner(6);
      EXPECT_EQ(logRank(), 6);
    }
    EXPECT_EQ(logRank(), 5);
  }
  EXPECT_EQ(logRank(), 3);
  setLogRank(-1);
}

TEST(LogRank, RanksAsThreadsEachSeeTheirOwn) {
  setLogRank(0);
  std::vector<int> seen(4, -9);
  std::vector<std::thread> threads;
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&seen, r] {
      LogRankScope scope(r + 10);
      std::this_thread::yield();
      seen[r] = logRank();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen, (std::vector<int>{10, 11, 12, 13}));
  EXPECT_EQ(logRank(), 0);  // no thread's scope leaked into the process's rank
  setLogRank(-1);
}

}  // namespace
}  // namespace kolo
