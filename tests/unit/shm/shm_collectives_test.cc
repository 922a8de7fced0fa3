// ShmDirectArena's reduce-scatter, allgatherv and alltoallv, ranks as threads: against the
// reference over world sizes {1,2,3,4,5,7,8} with a 256-byte small slot and 4 KiB chunks (so
// modest sizes take the pipelined path through many slot reuses), then failures: a silent peer
// is named, ranks that disagree on sizes all get kMismatch, and a raised abort token ends the
// wait with its status. (A peer that dies or stops mid-pipeline: mp.peer_failure.shm.*.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "shm_test_world.h"
#include "support/collective_reference.h"

namespace kolo {
namespace {

using ::kolo::testing::runShmWorld;
using ::kolo::testing::tinySlots;
using ::testing::HasSubstr;

constexpr int kWorldSizes[] = {1, 2, 3, 4, 5, 7, 8};

class ShmCollectivesSweep : public ::testing::TestWithParam<int> {};

TEST_P(ShmCollectivesSweep, ReduceScatterEveryDtypeAndOp) {
  const int n = GetParam();
  runShmWorld(n, tinySlots(), [&](int rank, ShmWorld& w) {
    for (size_t count : {size_t(0), size_t(1), size_t(5), size_t(3001)}) {
      for (DataType type : kAllDataTypes) {
        for (ReduceOp op : kAllReduceOps) {
          std::vector<size_t> counts(n);
          for (int r = 0; r < n; ++r) counts[r] = r == 1 ? 0 : count + size_t(r);
          const size_t total = std::accumulate(counts.begin(), counts.end(), size_t{0});
          const uint64_t seed = count + static_cast<uint64_t>(type) * 11;
          auto in = test::makeInput(type, op, rank, n, total, seed);
          std::vector<std::byte> out(counts[rank] * dataTypeSize(type)), expected(out.size());
          test::referenceReduceScatter(type, op, n, counts, rank, seed, expected.data());
          Status st =
              w.arena->reduceScatter(in.data(), out.data(), counts, type, op, Deadline::never());
          ASSERT_TRUE(st.isOk()) << st.toString();
          EXPECT_EQ(test::compareExact(type, expected.data(), out.data(), counts[rank]), "")
              << "rank " << rank << " count " << count << " " << dataTypeName(type) << " "
              << reduceOpName(op);
          // recv inside send, on this rank's own block.
          const size_t own = std::accumulate(counts.begin(), counts.begin() + rank, size_t{0});
          std::byte* inside = in.data() + own * dataTypeSize(type);
          st = w.arena->reduceScatter(in.data(), inside, counts, type, op, Deadline::never());
          ASSERT_TRUE(st.isOk()) << st.toString();
          EXPECT_EQ(test::compareExact(type, expected.data(), inside, counts[rank]), "")
              << "in place, rank " << rank << " count " << count << " " << dataTypeName(type) << " "
              << reduceOpName(op);
        }
      }
    }
  });
}

TEST_P(ShmCollectivesSweep, AllgathervAndAlltoallvUnevenBlocks) {
  const int n = GetParam();
  runShmWorld(n, tinySlots(), [&](int rank, ShmWorld& w) {
    for (size_t bytes : {size_t(0), size_t(1), size_t(100), size_t(20011)}) {
      std::vector<size_t> each(n);
      for (int r = 0; r < n; ++r) each[r] = r % 2 == 1 ? bytes / 3 : bytes + size_t(r);
      const size_t total = std::accumulate(each.begin(), each.end(), size_t{0});
      std::vector<std::byte> send(each[rank]), recv(total), expected(total);
      test::fillBytes(rank, each[rank], bytes, send.data());
      test::referenceAllgatherv(each, bytes, expected.data());
      Status st = w.arena->allgatherv(send.data(), recv.data(), each, Deadline::never());
      ASSERT_TRUE(st.isOk()) << st.toString();
      EXPECT_EQ(test::compareBytes(expected.data(), recv.data(), total), "") << "allgatherv";

      std::vector<size_t> sendBytes(n), recvBytes(n);
      for (int p = 0; p < n; ++p) {
        sendBytes[p] = (bytes + size_t(rank) * 7 + size_t(p)) % (bytes + 1);
        recvBytes[p] = (bytes + size_t(p) * 7 + size_t(rank)) % (bytes + 1);
      }
      const size_t sendTotal = std::accumulate(sendBytes.begin(), sendBytes.end(), size_t{0});
      const size_t recvTotal = std::accumulate(recvBytes.begin(), recvBytes.end(), size_t{0});
      std::vector<std::byte> a(sendTotal), b(recvTotal), want(recvTotal);
      test::fillAlltoallInput(rank, sendBytes, bytes, a.data());
      test::referenceAlltoallv(rank, recvBytes, bytes, want.data());
      st = w.arena->alltoallv(a.data(), sendBytes, b.data(), recvBytes, Deadline::never());
      ASSERT_TRUE(st.isOk()) << st.toString();
      EXPECT_EQ(test::compareBytes(want.data(), b.data(), recvTotal), "") << "alltoallv";
    }
  });
}

// The send buffer inside the output: at this rank's own block (in place), and at the next
// rank's block, which the other blocks overwrite (send must be read before they land).
TEST_P(ShmCollectivesSweep, AllgathervFromInsideItsOutput) {
  const int n = GetParam();
  runShmWorld(n, tinySlots(), [&](int rank, ShmWorld& w) {
    for (size_t bytes : {size_t(1), size_t(100), size_t(20011)}) {
      std::vector<size_t> each(n), offset(n + 1, 0);
      for (int r = 0; r < n; ++r) each[r] = bytes + size_t(r);  // the next block is larger
      for (int r = 0; r < n; ++r) offset[r + 1] = offset[r] + each[r];
      std::vector<std::byte> expected(offset[n]);
      test::referenceAllgatherv(each, bytes, expected.data());
      for (int at : {rank, (rank + 1) % n}) {
        std::vector<std::byte> recv(offset[n], std::byte{0x5a});
        std::byte* send = recv.data() + offset[at];
        test::fillBytes(rank, each[rank], bytes, send);
        Status st = w.arena->allgatherv(send, recv.data(), each, Deadline::never());
        ASSERT_TRUE(st.isOk()) << st.toString();
        EXPECT_EQ(test::compareBytes(expected.data(), recv.data(), offset[n]), "")
            << "rank " << rank << ", " << bytes << " B, send at block " << at;
      }
    }
  });
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, ShmCollectivesSweep, ::testing::ValuesIn(kWorldSizes));

// 1 + e/2 + e/2 (e the 16-bit type's epsilon at 1.0): rounding after each addition gives 1 (each
// half-way sum rounds to even), one rounding of the float32 sum gives 1 + e. Small round and
// pipeline alike.
TEST(ShmCollectives, HalfSumsRoundOncePerElement) {
  struct Half {
    DataType type;
    uint16_t one, halfEps, onePlusEps;
  };
  for (const Half h : {Half{DataType::kBFloat16, 0x3F80, 0x3B80, 0x3F81},
                       Half{DataType::kFloat16, 0x3C00, 0x1000, 0x3C01}}) {
    for (size_t count : {size_t(3), size_t(1000)}) {
      runShmWorld(3, tinySlots(), [&](int rank, ShmWorld& w) {
        const std::vector<size_t> counts(3, count);
        std::vector<uint16_t> in(3 * count, rank == 0 ? h.one : h.halfEps), out(count);
        Status st = w.arena->reduceScatter(in.data(), out.data(), counts, h.type, ReduceOp::kSum,
                                           Deadline::never());
        ASSERT_TRUE(st.isOk()) << st.toString();
        EXPECT_EQ(out, std::vector<uint16_t>(count, h.onePlusEps))
            << dataTypeName(h.type) << " count " << count << " rank " << rank;
      });
    }
  }
}

TEST(ShmCollectivesFailure, SilentPeerIsNamedAndLaterCallsFailAtOnce) {
  runShmWorld(3, tinySlots(), [&](int rank, ShmWorld& w) {
    if (rank == 2) return;  // never arrives
    std::vector<float> in(30000, 1.0f), out(10000);
    const std::vector<size_t> counts(3, 10000);
    Status st = w.arena->reduceScatter(in.data(), out.data(), counts, DataType::kFloat32,
                                       ReduceOp::kSum, Deadline::afterSeconds(0.3));
    EXPECT_EQ(st.code(), Code::kTimeout);
    EXPECT_THAT(st.message(), HasSubstr("reducescatter: rank 2 did not contribute its data"));
    Status again = w.arena->alltoallv(in.data(), counts, out.data(), counts, Deadline::never());
    EXPECT_EQ(again.code(), Code::kAborted);
    EXPECT_THAT(again.message(), HasSubstr("rank 2"));
  });
}

// Every rank, the one that disagrees included, gets kMismatch naming it, and the arena stays
// usable: the next collective with agreeing sizes is exact.
TEST(ShmCollectivesFailure, DisagreeingSizesAreAMismatchOnEveryRank) {
  runShmWorld(3, tinySlots(), [&](int rank, ShmWorld& w) {
    std::vector<std::byte> send(40000), recv(120000);
    std::vector<size_t> bytes(3, 40000);
    if (rank == 2) bytes.assign(3, 0);
    Status st = w.arena->allgatherv(send.data(), recv.data(), bytes, Deadline::afterSeconds(20));
    EXPECT_EQ(st.code(), Code::kMismatch) << st.toString();
    EXPECT_THAT(st.message(), HasSubstr("rank 2 passed other block sizes than rank 0"));

    std::vector<size_t> out(3, 5000), in(3, 5000);
    if (rank == 1) in[0] = 8;
    st = w.arena->alltoallv(send.data(), out, recv.data(), in, Deadline::afterSeconds(20));
    EXPECT_EQ(st.code(), Code::kMismatch) << st.toString();
    EXPECT_THAT(st.message(), HasSubstr("rank 0 sends 5000 B to rank 1, which expects 8 B"));

    const std::vector<size_t> agreed(3, 1000);
    std::vector<std::byte> mine(1000), all(3000), expected(3000);
    test::fillBytes(rank, 1000, 9, mine.data());
    test::referenceAllgatherv(agreed, 9, expected.data());
    ASSERT_TRUE(w.arena->allgatherv(mine.data(), all.data(), agreed, Deadline::never()).isOk());
    EXPECT_EQ(test::compareBytes(expected.data(), all.data(), all.size()), "");
  });
}

TEST(ShmCollectivesFailure, RaisedAbortTokenEndsTheWaitWithItsStatus) {
  runShmWorld(2, tinySlots(), [&](int rank, ShmWorld& w) {
    if (rank == 1) return;
    auto token = std::make_shared<AbortToken>();
    token->raise(Status(Code::kIoError, "rank 1 failed: declared by the launcher"));
    w.arena->watchAbort(token);
    float v[2] = {1, 2}, out = 0;
    const std::vector<size_t> counts(2, 1);
    Status st = w.arena->reduceScatter(v, &out, counts, DataType::kFloat32, ReduceOp::kSum,
                                       Deadline::afterSeconds(30));
    EXPECT_EQ(st.code(), Code::kIoError) << st.toString();
    EXPECT_THAT(st.message(), HasSubstr("declared by the launcher"));
  });
}

}  // namespace
}  // namespace kolo
