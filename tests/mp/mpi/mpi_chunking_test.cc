// The pure pieces of the MPI backend: splitting counts above INT_MAX into MPI-sized calls,
// folding 64-bit tags into MPI's tag range, and the KOLO_CPU_OPERATIONS choice.
#include "transport/mpi/mpi_chunking.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <climits>
#include <set>

#include "kolo/collectives/world.h"
#include "kolo/rendezvous/memory_store.h"

namespace kolo {
namespace {

using ::testing::HasSubstr;

// Chunks must tile [0, total) in order, each within (0, max].
void expectTiles(const std::vector<CountChunk>& chunks, size_t total, size_t max) {
  size_t next = 0;
  for (const CountChunk& c : chunks) {
    EXPECT_EQ(c.offset, next);
    EXPECT_GT(c.count, 0u);
    EXPECT_LE(c.count, max);
    next += c.count;
  }
  EXPECT_EQ(next, total);
}

TEST(MpiChunking, ZeroElementsGiveNoChunk) { EXPECT_TRUE(splitCount(0).empty()); }

TEST(MpiChunking, CountsUpToIntMaxStayOneCall) {
  for (size_t total : {size_t{1}, size_t{1000}, kMpiMaxCount}) {
    auto chunks = splitCount(total);
    ASSERT_EQ(chunks.size(), 1u) << total;
    EXPECT_EQ(chunks[0].offset, 0u);
    EXPECT_EQ(chunks[0].count, total);
  }
}

TEST(MpiChunking, CountsAboveIntMaxAreSplitNeverTruncated) {
  const size_t max = static_cast<size_t>(INT_MAX);
  auto one = splitCount(max + 1);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0].count, max);
  EXPECT_EQ(one[1].offset, max);
  EXPECT_EQ(one[1].count, 1u);
  // 5 GiB of bytes: what an int count would have wrapped to 1 GiB.
  const size_t fiveGiB = size_t{5} << 30;
  auto chunks = splitCount(fiveGiB);
  EXPECT_EQ(chunks.size(), 3u);
  expectTiles(chunks, fiveGiB, max);
  for (const CountChunk& c : chunks) EXPECT_LE(c.count, max);
  const size_t huge = 3 * max + 7;
  auto three = splitCount(huge);
  ASSERT_EQ(three.size(), 4u);
  EXPECT_EQ(three[3].count, 7u);
  expectTiles(three, huge, max);
}

TEST(MpiChunking, SmallLimitsTileExactly) {
  for (size_t max : {size_t{1}, size_t{3}, size_t{1000}}) {
    for (size_t total : {size_t{1}, size_t{2}, size_t{999}, size_t{1000}, size_t{1001},
                         size_t{7777}}) {
      auto chunks = splitCount(total, max);
      EXPECT_EQ(chunks.size(), (total + max - 1) / max) << total << "/" << max;
      expectTiles(chunks, total, max);
    }
  }
}

TEST(MpiChunking, FitsCountsChecksEachCountAndTheirSum) {
  const size_t ok[] = {1, 2, 3};
  EXPECT_TRUE(fitsMpiCounts(ok, 3));
  const size_t big[] = {kMpiMaxCount, 1};
  EXPECT_FALSE(fitsMpiCounts(big, 2));  // displacement of the second would overflow an int
  const size_t single[] = {kMpiMaxCount + 1};
  EXPECT_FALSE(fitsMpiCounts(single, 1));
  const size_t edge[] = {kMpiMaxCount - 5, 5};
  EXPECT_TRUE(fitsMpiCounts(edge, 2));
  EXPECT_FALSE(fitsMpiCounts(ok, 3, 5));
}

TEST(MpiTags, FoldIntoTheTagRangeKeepingStepsApart) {
  const int ub = INT_MAX;  // Open MPI's MPI_TAG_UB
  std::set<int> seen;
  // Neighbouring collectives (a window of 8) and their steps stay apart.
  for (uint64_t sequence = 1; sequence <= 8; ++sequence) {
    for (uint64_t step = 0; step < 8; ++step) {
      const int tag = mpiTagFor((sequence << 20) + step, ub);
      EXPECT_GE(tag, 0);
      EXPECT_TRUE(seen.insert(tag).second) << "collision at sequence " << sequence;
    }
  }
  // Far beyond 2^31 the tag still lands in range.
  EXPECT_GE(mpiTagFor(~uint64_t{0}, ub), 0);
  EXPECT_LE(mpiTagFor(uint64_t{1} << 62, 32767), 32767);
  EXPECT_EQ(mpiTagFor(5, 32767), 5);
  EXPECT_EQ(mpiTagFor(32768, 32767), 0);
}

TEST(MpiTags, SpacesNeverShareATagWithA31BitRange) {
  // The runtime's control bit and each process set's bits select different MPI tags for the
  // same sequence and step, so concurrent coordinator threads cannot match each other's
  // messages.
  const int ub = INT_MAX;
  std::set<int> seen;
  for (uint64_t space = 0; space < 256; ++space) {
    for (uint64_t low : {uint64_t{0}, (uint64_t{3} << 20) + 5}) {
      const int tag = mpiTagFor((space << 56) | low, ub);
      EXPECT_GE(tag, 0);
      EXPECT_TRUE(seen.insert(tag).second) << "space " << space << " low " << low;
    }
  }
}

}  // namespace
}  // namespace kolo
