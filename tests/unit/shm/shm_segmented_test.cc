// ShmDirectArena::allreduceSegments, ranks as threads: several buffers reduced as one, against
// the reference allreduce of their concatenation, on both paths (a 256-byte small slot and
// 4 KiB chunks, so most cases cross many chunk and segment borders), with segments in place
// and out of place, empty ones, and borders inside a rank's reduced sub-range.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "shm_test_world.h"
#include "support/collective_reference.h"

namespace kolo {
namespace {

using ::kolo::testing::runShmWorld;
using ::kolo::testing::tinySlots;

class ShmSegmentedSweep : public ::testing::TestWithParam<int> {};

TEST_P(ShmSegmentedSweep, EqualsTheAllreduceOfTheConcatenation) {
  const int n = GetParam();
  const std::vector<std::vector<size_t>> layouts = {
      {3}, {0, 5, 0, 2}, {1000, 1, 0, 3001, 7}, {16, 16, 16, 16, 16, 16, 16, 16}};
  runShmWorld(n, tinySlots(), [&](int rank, ShmWorld& w) {
    for (size_t l = 0; l < layouts.size(); ++l) {
      const std::vector<size_t>& counts = layouts[l];
      const size_t total = std::accumulate(counts.begin(), counts.end(), size_t{0});
      for (DataType type : kAllDataTypes) {
        for (ReduceOp op : kAllReduceOps) {
          const size_t esize = dataTypeSize(type);
          const uint64_t seed = l * 31 + static_cast<uint64_t>(type);
          std::vector<std::byte> in = test::makeInput(type, op, rank, n, total, seed);
          std::vector<std::byte> expected(total * esize);
          test::referenceAllreduce(type, op, n, total, seed, expected.data());
          // Even segments in place (in `in` itself), odd ones into `out`.
          std::vector<std::byte> out(total * esize, std::byte{0x5a});
          std::vector<ShmArena::Segment> segments;
          size_t at = 0;
          for (size_t s = 0; s < counts.size(); ++s) {
            std::byte* src = in.data() + at * esize;
            segments.push_back({src, s % 2 == 0 ? src : out.data() + at * esize, counts[s]});
            at += counts[s];
          }
          Status st = w.arena->allreduceSegments(segments, type, op, Deadline::never());
          ASSERT_TRUE(st.isOk()) << st.toString();
          at = 0;
          for (size_t s = 0; s < counts.size(); ++s) {
            EXPECT_EQ(test::compareExact(type, expected.data() + at * esize,
                                         static_cast<const std::byte*>(segments[s].recv),
                                         counts[s]),
                      "")
                << "rank " << rank << " layout " << l << " segment " << s << " "
                << dataTypeName(type) << " " << reduceOpName(op);
            at += counts[s];
          }
        }
      }
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Worlds, ShmSegmentedSweep, ::testing::Values(1, 2, 3, 4, 7),
                         [](const auto& info) { return "n" + std::to_string(info.param); });

}  // namespace
}  // namespace kolo
