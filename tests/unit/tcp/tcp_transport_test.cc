#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "tcp_world.h"

namespace kolo::test {
namespace {

using Bytes = std::vector<std::byte>;

Status expectBytes(const Bytes& got, const Bytes& want, const std::string& what) {
  if (got == want) return Status::ok();
  return makeStatus(Code::kInternal, "{}: payload differs", what);
}

TEST(TcpTransport, PingPong) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("pingpong"));
  ASSERT_EQ(world[0]->name(), std::string("tcp"));
  auto results = runRanks(world, [](int rank, Communicator& comm) -> Status {
    Bytes ball = patternBytes(1000, 1);
    for (int round = 0; round < 100; ++round) {
      uint64_t tag = static_cast<uint64_t>(round);
      if ((round % 2) == rank) {
        std::vector<TransferRequestPtr> reqs;
        reqs.push_back(comm.peer(1 - rank).postSend(tag, ball));
        KOLO_RETURN_IF_ERROR(comm.waitAll(reqs));
      } else {
        Bytes in(ball.size());
        std::vector<TransferRequestPtr> reqs;
        reqs.push_back(comm.peer(1 - rank).postRecv(tag, in));
        KOLO_RETURN_IF_ERROR(comm.waitAll(reqs));
        KOLO_RETURN_IF_ERROR(expectBytes(in, ball, fmt::format("round {}", round)));
        ball[static_cast<size_t>(round)] ^= std::byte{0x5a};  // the next round sends new data
      }
      if ((round % 2) == rank) ball[static_cast<size_t>(round)] ^= std::byte{0x5a};
    }
    return Status::ok();
  });
  for (auto& s : results) EXPECT_TRUE(s.isOk()) << s.toString();
}

// Every rank sends every other rank messages under many tags in a shuffled order, with
// varying sizes; receives are posted in another order, some before and some after arrival.
class TcpAllPairs : public ::testing::TestWithParam<int> {};

TEST_P(TcpAllPairs, ManyTagsOutOfOrder) {
  int n = GetParam();
  MemoryStore store;
  auto world = connectTcpWorld(n, store, uniqueJobId("tags"));
  constexpr int kTags = 150;
  auto sizeOf = [](int src, int tag) { return static_cast<size_t>((tag * 977 + src * 31) % 9000); };
  auto seedOf = [n](int src, int dst, int tag) {
    return static_cast<uint32_t>((src * n + dst) * 1000 + tag);
  };
  auto results = runRanks(world, [&](int rank, Communicator& comm) -> Status {
    std::mt19937 rng(static_cast<uint32_t>(rank) + 7);
    std::vector<Bytes> outs, ins;
    std::vector<TransferRequestPtr> reqs;
    std::vector<std::pair<int, int>> sends, recvs;
    for (int p = 0; p < n; ++p) {
      if (p == rank) continue;
      for (int t = 0; t < kTags; ++t) {
        sends.emplace_back(p, t);
        recvs.emplace_back(p, t);
      }
    }
    std::shuffle(sends.begin(), sends.end(), rng);
    std::shuffle(recvs.begin(), recvs.end(), rng);
    outs.reserve(sends.size());
    ins.reserve(recvs.size());
    // Half the receives first, then all sends, then the rest of the receives.
    size_t half = recvs.size() / 2;
    auto postRecv = [&](size_t i) {
      auto [p, t] = recvs[i];
      ins.emplace_back(sizeOf(p, t));
      reqs.push_back(comm.peer(p).postRecv(static_cast<uint64_t>(t) << 8, ins.back()));
    };
    for (size_t i = 0; i < half; ++i) postRecv(i);
    for (auto [p, t] : sends) {
      outs.push_back(patternBytes(sizeOf(rank, t), seedOf(rank, p, t)));
      reqs.push_back(comm.peer(p).postSend(static_cast<uint64_t>(t) << 8, outs.back()));
    }
    for (size_t i = half; i < recvs.size(); ++i) postRecv(i);
    KOLO_RETURN_IF_ERROR(comm.waitAll(reqs));
    for (size_t i = 0; i < recvs.size(); ++i) {
      auto [p, t] = recvs[i];
      KOLO_RETURN_IF_ERROR(expectBytes(ins[i], patternBytes(sizeOf(p, t), seedOf(p, rank, t)),
                                       fmt::format("rank {} from {} tag {}", rank, p, t)));
    }
    return Status::ok();
  });
  for (auto& s : results) EXPECT_TRUE(s.isOk()) << s.toString();
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, TcpAllPairs, ::testing::Values(2, 3, 4));

TEST(TcpTransport, ZeroByteAnd64MiBMessagesBothWays) {
  MemoryStore store;
  // Pinned 1 MiB socket buffers: the payload crosses in many partial writes and reads.
  TcpOptions options;
  options.socketBufferBytes = 1 << 20;
  auto world = connectTcpWorld(2, store, uniqueJobId("big"), options);
  constexpr size_t kBig = 64u << 20;
  auto results = runRanks(world, [&](int rank, Communicator& comm) -> Status {
    int peer = 1 - rank;
    Bytes big = patternBytes(kBig, static_cast<uint32_t>(rank));
    Bytes bigIn(kBig);
    Bytes empty, emptyIn;
    std::vector<TransferRequestPtr> reqs;
    reqs.push_back(comm.peer(peer).postSend(1, empty));
    reqs.push_back(comm.peer(peer).postRecv(2, bigIn));
    reqs.push_back(comm.peer(peer).postSend(2, big));
    reqs.push_back(comm.peer(peer).postRecv(1, emptyIn));
    KOLO_RETURN_IF_ERROR(comm.waitAll(reqs));
    return expectBytes(bigIn, patternBytes(kBig, static_cast<uint32_t>(peer)), "64 MiB");
  });
  for (auto& s : results) EXPECT_TRUE(s.isOk()) << s.toString();
}

TEST(TcpTransport, SizeMismatchFailsTheReceiveAndKeepsTheStreamInSync) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("mismatch"));
  Transport& t0 = *world[0];
  Transport& t1 = *world[1];
  Communicator c1(world[1], nullptr, CommunicatorOptions{10.0});
  Bytes a = patternBytes(100, 1), b = patternBytes(200000, 2), c = patternBytes(7, 3);
  // Tag 5 is received into a buffer posted before the message arrives; tag 6 is received
  // after it arrived (unexpected path); tag 7 checks the stream is still in sync.
  Bytes small(50), wrong(300), last(7);
  std::vector<TransferRequestPtr> first;
  first.push_back(t1.channel(0).postRecv(5, small));
  std::vector<TransferRequestPtr> sends;
  sends.push_back(t0.channel(1).postSend(5, a));
  sends.push_back(t0.channel(1).postSend(6, b));
  sends.push_back(t0.channel(1).postSend(7, c));
  Status s5 = c1.waitAll(first, Deadline::afterSeconds(10));
  EXPECT_EQ(s5.code(), Code::kMismatch) << s5.toString();
  EXPECT_NE(s5.message().find("expected 50 B but the message has 100 B"), std::string::npos)
      << s5.message();
  EXPECT_NE(s5.message().find("rank 0"), std::string::npos) << s5.message();
  // Tag 7 arriving proves tag 6 arrived whole before it.
  std::vector<TransferRequestPtr> third;
  third.push_back(t1.channel(0).postRecv(7, last));
  ASSERT_TRUE(c1.waitAll(third, Deadline::afterSeconds(10)).isOk());
  EXPECT_EQ(last, c);
  std::vector<TransferRequestPtr> second;
  second.push_back(t1.channel(0).postRecv(6, wrong));
  Status s6 = c1.waitAll(second, Deadline::afterSeconds(10));
  EXPECT_EQ(s6.code(), Code::kMismatch);
  EXPECT_NE(s6.message().find("expected 300 B but the message has 200000 B"), std::string::npos)
      << s6.message();
  Communicator c0(world[0], nullptr, CommunicatorOptions{10.0});
  EXPECT_TRUE(c0.waitAll(sends, Deadline::afterSeconds(10)).isOk());
}

TEST(TcpTransport, DestroyedPeerFailsPendingAndLaterRequestsWithIoErrorNamingIt) {
  MemoryStore store;
  auto world = connectTcpWorld(3, store, uniqueJobId("dead"));
  Communicator c1(world[1], nullptr, CommunicatorOptions{10.0});
  Bytes in(64), in2(64);
  std::vector<TransferRequestPtr> pending;
  pending.push_back(world[1]->channel(0).postRecv(3, in));
  // A message that arrived whole before the peer died can still be received.
  Bytes last = patternBytes(64, 9);
  {
    std::vector<TransferRequestPtr> lastSend;
    lastSend.push_back(world[0]->channel(1).postSend(4, last));
    Communicator c0(world[0], nullptr, CommunicatorOptions{10.0});
    ASSERT_TRUE(c0.waitAll(lastSend, Deadline::afterSeconds(10)).isOk());
  }
  ASSERT_EQ(world[0].use_count(), 1);
  world[0].reset();  // rank 0's transport is destroyed: its sockets close

  Status s = c1.waitAll(pending, Deadline::afterSeconds(10));
  EXPECT_EQ(s.code(), Code::kIoError) << s.toString();
  EXPECT_NE(s.message().find("connection to rank 0 (127.0.0.1:"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("lost"), std::string::npos) << s.message();

  auto later = world[1]->channel(0).postSend(5, in);
  ASSERT_TRUE(later->test()) << "a send to a dead peer fails at once";
  EXPECT_EQ(later->status().code(), Code::kIoError);
  auto arrived = world[1]->channel(0).postRecv(4, in2);
  ASSERT_TRUE(arrived->test());
  EXPECT_TRUE(arrived->status().isOk()) << arrived->status().toString();
  EXPECT_EQ(in2, last);

  // Rank 2 is unaffected by rank 0's death.
  Bytes ok = patternBytes(10, 1), okIn(10);
  std::vector<TransferRequestPtr> live;
  live.push_back(world[2]->channel(1).postSend(1, ok));
  live.push_back(world[1]->channel(2).postRecv(1, okIn));
  EXPECT_TRUE(c1.waitAll(live, Deadline::afterSeconds(10)).isOk());
  EXPECT_EQ(okIn, ok);
}

TEST(TcpTransport, SilentPeerTimesOutNamingItAndCancelledBufferIsNeverTouched) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("silent"));
  Communicator c1(world[1], nullptr, CommunicatorOptions{0.2});
  constexpr size_t kSize = 1u << 20;
  Bytes sentinel(kSize, std::byte{0xee});
  Bytes in = sentinel;
  std::vector<TransferRequestPtr> reqs;
  reqs.push_back(world[1]->channel(0).postRecv(7, in));
  Status s = c1.waitAll(reqs, Deadline::afterSeconds(0.2));
  EXPECT_EQ(s.code(), Code::kTimeout) << s.toString();
  EXPECT_NE(s.message().find("recv of 1048576 B from rank 0 (tag 0x7)"), std::string::npos)
      << s.message();
  ASSERT_TRUE(reqs[0]->test());
  EXPECT_EQ(reqs[0]->status().code(), Code::kAborted);

  // The late message must not land in the cancelled buffer; a second receive on the same tag
  // gets it.
  Bytes late = patternBytes(kSize, 3), lateIn(kSize);
  std::vector<TransferRequestPtr> sends, recvs;
  sends.push_back(world[0]->channel(1).postSend(7, late));
  recvs.push_back(world[1]->channel(0).postRecv(7, lateIn));
  Communicator c0(world[0], nullptr, CommunicatorOptions{10.0});
  EXPECT_TRUE(c1.waitAll(recvs, Deadline::afterSeconds(10)).isOk());
  EXPECT_TRUE(c0.waitAll(sends, Deadline::afterSeconds(10)).isOk());
  EXPECT_EQ(lateIn, late);
  EXPECT_EQ(in, sentinel);
}

TEST(TcpTransport, ReceiveCancelledWhilePayloadStreamsInDiscardsTheRest) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("cancel-mid"));
  constexpr size_t kSize = 32u << 20;
  Bytes sentinel(kSize, std::byte{0xab});
  Bytes in = sentinel;
  auto recv = world[1]->channel(0).postRecv(1, in);
  Bytes big = patternBytes(kSize, 5), tail = patternBytes(16, 6), tailIn(16);
  auto send = world[0]->channel(1).postSend(1, big);
  auto send2 = world[0]->channel(1).postSend(2, tail);
  // Give the payload a moment to start streaming in, then cancel and scribble over the buffer.
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  if (!recv->test()) recv->cancel();
  std::fill(in.begin(), in.end(), std::byte{0x11});
  auto recv2 = world[1]->channel(0).postRecv(2, tailIn);
  Communicator c1(world[1], nullptr, CommunicatorOptions{10.0});
  std::vector<TransferRequestPtr> reqs;
  reqs.push_back(std::move(recv2));
  reqs.push_back(std::move(send));
  reqs.push_back(std::move(send2));
  ASSERT_TRUE(c1.waitAll(reqs, Deadline::afterSeconds(10)).isOk());
  EXPECT_EQ(tailIn, tail);
  // After cancel() nothing wrote into the buffer (it still holds our scribble), or the receive
  // had already finished whole before we could cancel it.
  if (recv->status().isOk()) {
    SUCCEED() << "receive finished before cancel";
  } else {
    EXPECT_EQ(recv->status().code(), Code::kAborted);
    EXPECT_TRUE(
        std::all_of(in.begin(), in.end(), [](std::byte b) { return b == std::byte{0x11}; }));
  }
}

TEST(TcpTransport, SendCancelledHalfWrittenStillDeliversTheOriginalBytes) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("cancel-send"));
  constexpr size_t kSize = 64u << 20;  // far more than the socket buffers hold
  Bytes data = patternBytes(kSize, 8);
  Bytes original = data;
  auto send = world[0]->channel(1).postSend(3, data);
  ASSERT_FALSE(send->test()) << "64 MiB cannot fit in the socket buffers";
  send->cancel();
  ASSERT_TRUE(send->test());
  EXPECT_EQ(send->status().code(), Code::kAborted);
  std::fill(data.begin(), data.end(), std::byte{0});
  Bytes in(kSize);
  std::vector<TransferRequestPtr> reqs;
  reqs.push_back(world[1]->channel(0).postRecv(3, in));
  Communicator c1(world[1], nullptr, CommunicatorOptions{10.0});
  ASSERT_TRUE(c1.waitAll(reqs, Deadline::afterSeconds(20)).isOk());
  EXPECT_TRUE(in == original);
}

TEST(TcpTransport, WakeMovesTheEpochAndReleasesAParkedWaiter) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("wake"));
  uint32_t seen = world[0]->activityEpoch();
  std::thread waker([&] { EXPECT_TRUE(world[0]->wake()); });
  // Parks until wake() moved the epoch; nothing else rings an idle transport.
  Deadline limit = Deadline::afterSeconds(10);
  while (world[0]->activityEpoch() == seen && !limit.expired()) {
    world[0]->waitForActivity(seen, std::chrono::milliseconds(100));
  }
  waker.join();
  EXPECT_NE(world[0]->activityEpoch(), seen);
}

TEST(TcpTransport, DestructionFailsUnfinishedRequests) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("destroy"));
  Bytes in(8);
  auto recv = world[1]->channel(0).postRecv(1, in);
  world[1].reset();
  ASSERT_TRUE(recv->test());
  EXPECT_EQ(recv->status().code(), Code::kAborted);
  recv.reset();
  world[0].reset();
}

}  // namespace
}  // namespace kolo::test
