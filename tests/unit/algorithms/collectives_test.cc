// reduceScatter, allgather(v), broadcast, alltoall(v) and barrier over loopback worlds of every
// size, checked bit for bit against the references.
#include "kolo/collectives/collectives.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <numeric>

#include "support/collective_reference.h"
#include "support/threaded_world.h"

namespace kolo::coll {
namespace {

using test::compareBytes;
using test::compareExact;
using test::runThreadedWorld;

constexpr int kWorldSizes[] = {1, 2, 3, 4, 5, 7, 8};
constexpr size_t kCounts[] = {0, 1, 7, 1000, (size_t{1} << 20) + 3};

Status failIfDifferent(const std::string& diff, std::string_view what) {
  if (diff.empty()) return Status::ok();
  return makeStatus(Code::kInternal, "{}: {}", what, diff);
}

// Uneven sizes with zeros in them: rank p gets base + (p * 5 + salt) % 3 - 1 (at least 0).
std::vector<size_t> unevenCounts(int n, size_t base, size_t salt) {
  std::vector<size_t> counts(n);
  for (int p = 0; p < n; ++p) {
    size_t delta = (static_cast<size_t>(p) * 5 + salt) % 3;
    counts[p] = base + delta >= 1 ? base + delta - 1 : 0;
  }
  return counts;
}

class CollectivesTest : public ::testing::TestWithParam<int> {};

TEST_P(CollectivesTest, ReduceScatterEveryDtypeAndOp) {
  const int n = GetParam();
  for (size_t base : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}}) {
    for (DataType type : kAllDataTypes) {
      for (ReduceOp op : kAllReduceOps) {
        const auto counts = unevenCounts(n, base, static_cast<size_t>(op));
        const size_t total = std::accumulate(counts.begin(), counts.end(), size_t{0});
        const uint64_t seed = 5 + base + static_cast<uint64_t>(type) * 7;
        auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
          const int r = comm.rank();
          auto input = test::makeInput(type, op, r, n, total, seed);
          std::vector<std::byte> out(counts[r] * dataTypeSize(type), std::byte{0x77});
          std::vector<std::byte> expected(out.size());
          test::referenceReduceScatter(type, op, n, counts, r, seed, expected.data());
          KOLO_RETURN_IF_ERROR(reduceScatter(comm, input.data(), out.data(), counts, type, op));
          return failIfDifferent(compareExact(type, expected.data(), out.data(), counts[r]),
                                 "reduceScatter");
        });
        ASSERT_EQ(test::describeFailures(results), "")
            << "n=" << n << " base=" << base << " " << dataTypeName(type) << " "
            << reduceOpName(op);
      }
    }
  }
}

TEST_P(CollectivesTest, ReduceScatterLarge) {
  const int n = GetParam();
  const auto counts = unevenCounts(n, ((size_t{1} << 20) + 3) / n, 1);
  const size_t total = std::accumulate(counts.begin(), counts.end(), size_t{0});
  for (auto [type, op] : {std::pair{DataType::kFloat32, ReduceOp::kSum},
                          std::pair{DataType::kInt32, ReduceOp::kAverage}}) {
    auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
      const int r = comm.rank();
      auto input = test::makeInput(type, op, r, n, total, 3);
      std::vector<std::byte> out(counts[r] * dataTypeSize(type));
      std::vector<std::byte> expected(out.size());
      test::referenceReduceScatter(type, op, n, counts, r, 3, expected.data());
      KOLO_RETURN_IF_ERROR(reduceScatter(comm, input.data(), out.data(), counts, type, op));
      return failIfDifferent(compareExact(type, expected.data(), out.data(), counts[r]),
                             "reduceScatter");
    });
    ASSERT_EQ(test::describeFailures(results), "") << dataTypeName(type);
  }
}

TEST_P(CollectivesTest, AllgatherEqualBlocks) {
  const int n = GetParam();
  for (size_t bytes : kCounts) {
    for (bool inPlace : {false, true}) {
      auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
        const int r = comm.rank();
        std::vector<size_t> sizes(n, bytes);
        std::vector<std::byte> expected(n * bytes), out(n * bytes, std::byte{0x33});
        test::referenceAllgatherv(sizes, 11, expected.data());
        std::vector<std::byte> mine(bytes);
        test::fillBytes(r, bytes, 11, mine.data());
        const void* send = mine.data();
        if (inPlace) {
          std::copy(mine.begin(), mine.end(), out.begin() + static_cast<ptrdiff_t>(r * bytes));
          send = out.data() + r * bytes;
        }
        KOLO_RETURN_IF_ERROR(allgather(comm, send, out.data(), bytes));
        return failIfDifferent(compareBytes(expected.data(), out.data(), out.size()), "allgather");
      });
      ASSERT_EQ(test::describeFailures(results), "") << "bytes=" << bytes << " inPlace=" << inPlace;
    }
  }
}

TEST_P(CollectivesTest, AllgathervUnevenBlocks) {
  const int n = GetParam();
  for (size_t base : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{400000}}) {
    const auto sizes = unevenCounts(n, base, base);
    const size_t total = std::accumulate(sizes.begin(), sizes.end(), size_t{0});
    auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
      const int r = comm.rank();
      std::vector<std::byte> expected(total), out(total, std::byte{0x44}), mine(sizes[r]);
      test::referenceAllgatherv(sizes, 12, expected.data());
      test::fillBytes(r, sizes[r], 12, mine.data());
      KOLO_RETURN_IF_ERROR(allgatherv(comm, mine.data(), out.data(), sizes));
      return failIfDifferent(compareBytes(expected.data(), out.data(), total), "allgatherv");
    });
    ASSERT_EQ(test::describeFailures(results), "") << "base=" << base;
  }
}

TEST_P(CollectivesTest, BroadcastFromEveryRoot) {
  const int n = GetParam();
  // Binomial tree below 64 KiB, pipelined chain (several chunks) above.
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{65535}, size_t{65536},
                       (size_t{1} << 20) + 3}) {
    for (int root = 0; root < n; ++root) {
      auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
        std::vector<std::byte> expected(bytes), buf(bytes, std::byte{0x11});
        test::fillBytes(root, bytes, 21, expected.data());
        if (comm.rank() == root) buf = expected;
        KOLO_RETURN_IF_ERROR(broadcast(comm, buf.data(), bytes, root));
        return failIfDifferent(compareBytes(expected.data(), buf.data(), bytes), "broadcast");
      });
      ASSERT_EQ(test::describeFailures(results), "") << "bytes=" << bytes << " root=" << root;
    }
  }
}

TEST_P(CollectivesTest, AlltoallEqualBlocks) {
  const int n = GetParam();
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{100000}}) {
    for (bool inPlace : {false, true}) {
      auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
        const int r = comm.rank();
        std::vector<size_t> sizes(n, bytes);
        std::vector<std::byte> send(n * bytes), expected(n * bytes), out(n * bytes);
        test::fillAlltoallInput(r, sizes, 31, send.data());
        test::referenceAlltoallv(r, sizes, 31, expected.data());
        void* recv = inPlace ? send.data() : out.data();
        KOLO_RETURN_IF_ERROR(alltoall(comm, send.data(), recv, bytes));
        return failIfDifferent(compareBytes(expected.data(), recv, n * bytes), "alltoall");
      });
      ASSERT_EQ(test::describeFailures(results), "") << "bytes=" << bytes << " inPlace=" << inPlace;
    }
  }
}

TEST_P(CollectivesTest, AlltoallvUnevenBlocks) {
  const int n = GetParam();
  // Rank `from` sends size(from, to) bytes to `to`; both sides compute the same table.
  for (size_t base : {size_t{0}, size_t{3}, size_t{5000}}) {
    auto size = [&](int from, int to) {
      return base == 0 ? static_cast<size_t>((from + to) % 2)
                       : base * static_cast<size_t>(1 + (from * 3 + to) % 4) - (from % 2);
    };
    auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
      const int r = comm.rank();
      std::vector<size_t> sendBytes(n), recvBytes(n);
      for (int p = 0; p < n; ++p) {
        sendBytes[p] = size(r, p);
        recvBytes[p] = size(p, r);
      }
      const size_t sendTotal = std::accumulate(sendBytes.begin(), sendBytes.end(), size_t{0});
      const size_t recvTotal = std::accumulate(recvBytes.begin(), recvBytes.end(), size_t{0});
      std::vector<std::byte> send(sendTotal), expected(recvTotal), out(recvTotal);
      test::fillAlltoallInput(r, sendBytes, 41, send.data());
      test::referenceAlltoallv(r, recvBytes, 41, expected.data());
      KOLO_RETURN_IF_ERROR(alltoallv(comm, send.data(), sendBytes, out.data(), recvBytes));
      return failIfDifferent(compareBytes(expected.data(), out.data(), recvTotal), "alltoallv");
    });
    ASSERT_EQ(test::describeFailures(results), "") << "base=" << base;
  }
}

TEST_P(CollectivesTest, BarrierHoldsEveryRankUntilAllArrived) {
  const int n = GetParam();
  constexpr int kRounds = 20;
  std::atomic<int> arrived{0};
  auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
    for (int round = 0; round < kRounds; ++round) {
      arrived.fetch_add(1);
      KOLO_RETURN_IF_ERROR(barrier(comm));
      // Everyone of this round arrived before anyone left it.
      int seen = arrived.load();
      if (seen < n * (round + 1)) {
        return makeStatus(Code::kInternal, "rank {} left barrier {} after only {} arrivals",
                          comm.rank(), round, seen);
      }
    }
    return Status::ok();
  });
  EXPECT_EQ(test::describeFailures(results), "");
}

TEST_P(CollectivesTest, MixedSequenceKeepsTagsApart) {
  // Different collectives back to back, with no barrier between them: tags from
  // beginCollective() keep a fast rank's next messages from matching a slow rank's receives.
  const int n = GetParam();
  auto results = runThreadedWorld(n, [&](Communicator& comm) -> Status {
    const int r = comm.rank();
    for (int i = 0; i < 10; ++i) {
      std::vector<int32_t> v(37, r + i), expected(37);
      for (int p = 0; p < n; ++p) {
        for (auto& e : expected) e += p + i;
      }
      KOLO_RETURN_IF_ERROR(allreduce(comm, v.data(), v.data(), v.size(), DataType::kInt32,
                                     ReduceOp::kSum, i % 2 ? "ring" : "rd"));
      KOLO_RETURN_IF_ERROR(failIfDifferent(
          compareExact(DataType::kInt32, expected.data(), v.data(), v.size()), "allreduce"));
      int32_t token = r == i % n ? 1000 + i : -1;
      KOLO_RETURN_IF_ERROR(broadcast(comm, &token, sizeof(token), i % n));
      if (token != 1000 + i) return makeStatus(Code::kInternal, "broadcast got {}", token);
    }
    return Status::ok();
  });
  EXPECT_EQ(test::describeFailures(results), "");
}

INSTANTIATE_TEST_SUITE_P(Worlds, CollectivesTest, ::testing::ValuesIn(kWorldSizes),
                         [](const auto& info) { return "n" + std::to_string(info.param); });

}  // namespace
}  // namespace kolo::coll
