// ShmTransport: framing through small rings, wrap-around, tag matching, size mismatch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "kolo/collectives/communicator.h"
#include "shm_test_world.h"

namespace kolo {
namespace {

using ::kolo::testing::leftoverSegments;
using ::kolo::testing::runShmWorld;
using ::testing::HasSubstr;

std::vector<std::byte> pattern(size_t bytes, int seed) {
  std::vector<std::byte> v(bytes);
  uint32_t x = 2654435761u * uint32_t(seed + 1);
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = std::byte(x >> 24);
  }
  return v;
}

Status waitAll(Transport& t, std::vector<TransferRequestPtr>& reqs, double seconds = 20) {
  Communicator comm(std::shared_ptr<Transport>(&t, [](Transport*) {}), nullptr,
                    CommunicatorOptions{seconds});
  return comm.waitAll(reqs, Deadline::afterSeconds(seconds));
}

ShmTuning tinyRing() {
  ShmTuning t;
  t.ringBytes = 4096;
  return t;
}

TEST(ShmTransport, MessagesLargerThanTheRingWrapAroundBothWays) {
  // 4 KiB rings; messages of odd sizes up to 256x the ring pass in both directions at once.
  const std::vector<size_t> sizes = {0, 1, 15, 16, 17, 4095, 4096, 4097, 100000, (1 << 20) + 3};
  runShmWorld(2, tinyRing(), [&](int rank, ShmWorld& w) {
    int peer = 1 - rank;
    std::vector<std::vector<std::byte>> out, in;
    std::vector<TransferRequestPtr> reqs;
    for (size_t i = 0; i < sizes.size(); ++i) {
      out.push_back(pattern(sizes[i], rank * 100 + int(i)));
      in.emplace_back(sizes[i]);
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
      reqs.push_back(w.transport->channel(peer).postSend(i, out[i]));
      reqs.push_back(w.transport->channel(peer).postRecv(i, in[i]));
    }
    ASSERT_TRUE(waitAll(*w.transport, reqs).isOk());
    for (size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_EQ(in[i], pattern(sizes[i], peer * 100 + int(i))) << "message " << i;
    }
  });
  EXPECT_THAT(leftoverSegments(), ::testing::IsEmpty());
}

TEST(ShmTransport, CyclicSendsLargerThanTheRingDrainOtherChannelsWhileWaiting) {
  // Each rank first waits only on its send to the next rank, with messages far larger than the
  // ring, and posts its receive afterwards: a rank waiting on one channel must still drain the
  // others, or all three sends wait for ring space forever.
  runShmWorld(3, tinyRing(), [&](int rank, ShmWorld& w) {
    const int next = (rank + 1) % 3, prev = (rank + 2) % 3;
    auto out = pattern(100000, rank);
    std::vector<std::byte> in(100000);
    std::vector<TransferRequestPtr> sends;
    sends.push_back(w.transport->channel(next).postSend(7, out));
    Status sent = waitAll(*w.transport, sends, 10);
    ASSERT_TRUE(sent.isOk()) << "rank " << rank << ": " << sent.toString();
    std::vector<TransferRequestPtr> recvs;
    recvs.push_back(w.transport->channel(prev).postRecv(7, in));
    ASSERT_TRUE(waitAll(*w.transport, recvs, 10).isOk());
    EXPECT_EQ(in, pattern(100000, prev));
  });
  EXPECT_THAT(leftoverSegments(), ::testing::IsEmpty());
}

TEST(ShmTransport, ReceivesPostedInAnotherOrderMatchByTag) {
  runShmWorld(2, tinyRing(), [&](int rank, ShmWorld& w) {
    const std::vector<size_t> sizes = {10, 9000, 0, 3};
    if (rank == 0) {
      std::vector<std::vector<std::byte>> out;
      std::vector<TransferRequestPtr> reqs;
      for (size_t i = 0; i < sizes.size(); ++i) out.push_back(pattern(sizes[i], int(i)));
      for (size_t i = 0; i < sizes.size(); ++i) {
        reqs.push_back(w.transport->channel(1).postSend(100 + i, out[i]));
      }
      ASSERT_TRUE(waitAll(*w.transport, reqs).isOk());
    } else {
      // Reverse order: the first frames must be kept as unexpected messages (the 9000 B one
      // does not fit the ring, so it is drained into an unexpected buffer to make room).
      std::vector<std::vector<std::byte>> in;
      for (size_t s : sizes) in.emplace_back(s);
      std::vector<TransferRequestPtr> reqs;
      for (size_t i = sizes.size(); i-- > 0;) {
        reqs.push_back(w.transport->channel(0).postRecv(100 + i, in[i]));
        std::vector<TransferRequestPtr> one;
        one.push_back(std::move(reqs.back()));
        reqs.pop_back();
        ASSERT_TRUE(waitAll(*w.transport, one).isOk());
        EXPECT_EQ(in[i], pattern(sizes[i], int(i))) << "tag " << 100 + i;
      }
    }
  });
}

TEST(ShmTransport, SameTagMatchesInSendOrder) {
  runShmWorld(2, tinyRing(), [&](int rank, ShmWorld& w) {
    std::vector<TransferRequestPtr> reqs;
    std::vector<uint32_t> vals = {1, 2, 3};
    std::vector<uint32_t> got(3, 0);
    for (int i = 0; i < 3; ++i) {
      if (rank == 0) {
        reqs.push_back(w.transport->channel(1).postSend(7, std::as_bytes(std::span(&vals[i], 1))));
      } else {
        reqs.push_back(
            w.transport->channel(0).postRecv(7, std::as_writable_bytes(std::span(&got[i], 1))));
      }
    }
    ASSERT_TRUE(waitAll(*w.transport, reqs).isOk());
    if (rank == 1) {
      EXPECT_EQ(got, vals);
    }
  });
}

TEST(ShmTransport, SizeMismatchNamesBothSizesAndThePeer) {
  runShmWorld(2, tinyRing(), [&](int rank, ShmWorld& w) {
    std::vector<std::byte> big(10000), small(64), after(5);
    std::vector<std::byte> expectedAfter = pattern(5, 9);
    std::vector<TransferRequestPtr> reqs;
    if (rank == 0) {
      reqs.push_back(w.transport->channel(1).postSend(42, big));
      reqs.push_back(w.transport->channel(1).postSend(43, expectedAfter));
      ASSERT_TRUE(waitAll(*w.transport, reqs).isOk());
    } else {
      reqs.push_back(w.transport->channel(0).postRecv(42, small));
      Status st = waitAll(*w.transport, reqs);
      EXPECT_EQ(st.code(), Code::kMismatch);
      EXPECT_THAT(st.message(), HasSubstr("rank 0 sent 10000 B"));
      EXPECT_THAT(st.message(), HasSubstr("holds 64 B"));
      EXPECT_THAT(st.message(), HasSubstr("tag 0x2a"));
      // The mismatched payload is drained; the stream stays in step.
      std::vector<TransferRequestPtr> next;
      next.push_back(w.transport->channel(0).postRecv(43, after));
      ASSERT_TRUE(waitAll(*w.transport, next).isOk());
      EXPECT_EQ(after, expectedAfter);
    }
  });
}

TEST(ShmTransport, AllPairsExchangeLargeMessagesWithoutDeadlock) {
  // Every rank sends 300 KB to every other rank before receiving anything: progress must come
  // from the waits alone.
  for (int size : {3, 5}) {
    runShmWorld(size, tinyRing(), [&](int rank, ShmWorld& w) {
      const size_t bytes = 300000;
      std::vector<std::vector<std::byte>> out(size), in(size);
      std::vector<TransferRequestPtr> reqs;
      for (int p = 0; p < size; ++p) {
        if (p == rank) continue;
        out[p] = pattern(bytes, rank * 10 + p);
        in[p].resize(bytes);
        reqs.push_back(w.transport->channel(p).postSend(5, out[p]));
      }
      for (int p = 0; p < size; ++p) {
        if (p != rank) reqs.push_back(w.transport->channel(p).postRecv(5, in[p]));
      }
      ASSERT_TRUE(waitAll(*w.transport, reqs).isOk());
      for (int p = 0; p < size; ++p) {
        if (p != rank) {
          EXPECT_EQ(in[p], pattern(bytes, p * 10 + rank)) << "from " << p;
        }
      }
    });
  }
}

TEST(ShmTransport, SilentPeerTimesOutNamingIt) {
  runShmWorld(2, tinyRing(), [&](int rank, ShmWorld& w) {
    if (rank == 1) return;
    std::vector<std::byte> buf(8);
    std::vector<TransferRequestPtr> reqs;
    reqs.push_back(w.transport->channel(1).postRecv(77, buf));
    Status st = waitAll(*w.transport, reqs, 0.2);
    EXPECT_EQ(st.code(), Code::kTimeout);
    EXPECT_THAT(st.message(), HasSubstr("recv of 8 B from rank 1 (tag 0x4d)"));
  });
}

}  // namespace
}  // namespace kolo
