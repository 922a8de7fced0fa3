#include "transport/loopback/loopback_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <thread>

#include "kolo/collectives/communicator.h"

namespace kolo {
namespace {

using ::testing::HasSubstr;

std::span<std::byte> bytesOf(std::vector<uint8_t>& v) {
  return std::as_writable_bytes(std::span(v));
}

// Waits through a Communicator so every test has a deadline.
Status waitOne(const std::shared_ptr<Transport>& t, const TransferRequestPtr& r,
               double seconds = 5.0) {
  Communicator comm(t, nullptr, CommunicatorOptions{seconds});
  return comm.waitAll(std::span<const TransferRequestPtr>(&r, 1));
}

TEST(LoopbackTransport, ReportsRankSizeAndName) {
  auto world = makeLoopbackWorld(3);
  ASSERT_EQ(world.size(), 3u);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(world[r]->rank(), r);
    EXPECT_EQ(world[r]->size(), 3);
    EXPECT_STREQ(world[r]->name(), "loopback");
  }
  EXPECT_EQ(world[0]->channel(2).peer(), 2);
}

TEST(LoopbackTransport, MatchesTagsOutOfOrder) {
  auto world = makeLoopbackWorld(2);
  std::vector<uint8_t> a{1, 2, 3}, b{4, 5, 6, 7};
  auto s1 = world[0]->channel(1).postSend(10, bytesOf(a));
  std::vector<uint8_t> gotB(4), gotA(3);
  // Tag 20 is posted before it was sent, tag 10 after: one direct delivery, one unexpected.
  auto r2 = world[1]->channel(0).postRecv(20, bytesOf(gotB));
  EXPECT_FALSE(r2->test());
  auto s2 = world[0]->channel(1).postSend(20, bytesOf(b));
  auto r1 = world[1]->channel(0).postRecv(10, bytesOf(gotA));
  ASSERT_TRUE(waitOne(world[1], r2).isOk());
  ASSERT_TRUE(waitOne(world[1], r1).isOk());
  EXPECT_EQ(gotA, a);
  EXPECT_EQ(gotB, b);
  EXPECT_TRUE(s1->test() && s1->status().isOk());
  EXPECT_TRUE(s2->test() && s2->status().isOk());
}

TEST(LoopbackTransport, SameTagMatchesInSendOrder) {
  auto world = makeLoopbackWorld(2);
  std::vector<uint8_t> first{1}, second{2};
  auto s1 = world[0]->channel(1).postSend(7, bytesOf(first));
  auto s2 = world[0]->channel(1).postSend(7, bytesOf(second));
  std::vector<uint8_t> x(1), y(1);
  auto r1 = world[1]->channel(0).postRecv(7, bytesOf(x));
  auto r2 = world[1]->channel(0).postRecv(7, bytesOf(y));
  ASSERT_TRUE(waitOne(world[1], r1).isOk());
  ASSERT_TRUE(waitOne(world[1], r2).isOk());
  EXPECT_EQ(x[0], 1);
  EXPECT_EQ(y[0], 2);
}

TEST(LoopbackTransport, MessagesFromDifferentPeersDoNotMix) {
  auto world = makeLoopbackWorld(3);
  std::vector<uint8_t> from0{10}, from1{11};
  auto s0 = world[0]->channel(2).postSend(5, bytesOf(from0));
  auto s1 = world[1]->channel(2).postSend(5, bytesOf(from1));
  std::vector<uint8_t> got1(1), got0(1);
  auto r1 = world[2]->channel(1).postRecv(5, bytesOf(got1));
  auto r0 = world[2]->channel(0).postRecv(5, bytesOf(got0));
  ASSERT_TRUE(waitOne(world[2], r1).isOk());
  ASSERT_TRUE(waitOne(world[2], r0).isOk());
  EXPECT_EQ(got0[0], 10);
  EXPECT_EQ(got1[0], 11);
}

TEST(LoopbackTransport, SizeMismatchNamesBothSizesAndPeer) {
  for (bool recvFirst : {true, false}) {
    auto world = makeLoopbackWorld(2);
    std::vector<uint8_t> sent(16, 1), got(8, 0);
    TransferRequestPtr recv, send;
    if (recvFirst) recv = world[1]->channel(0).postRecv(3, bytesOf(got));
    send = world[0]->channel(1).postSend(3, bytesOf(sent));
    if (!recvFirst) recv = world[1]->channel(0).postRecv(3, bytesOf(got));
    Status st = waitOne(world[1], recv);
    EXPECT_EQ(st.code(), Code::kMismatch) << st.toString();
    EXPECT_THAT(st.message(), HasSubstr("from rank 0"));
    EXPECT_THAT(st.message(), HasSubstr("expected 8 B"));
    EXPECT_THAT(st.message(), HasSubstr("16 B"));
    EXPECT_EQ(got, std::vector<uint8_t>(8, 0)) << "a mismatched message must not be copied";
  }
}

TEST(LoopbackTransport, CancelledReceiveLeavesBufferAloneAndKeepsTheMessage) {
  auto world = makeLoopbackWorld(2);
  std::vector<uint8_t> got(4, 0xEE);
  auto recv = world[1]->channel(0).postRecv(9, bytesOf(got));
  EXPECT_FALSE(recv->test());
  recv->cancel();
  EXPECT_TRUE(recv->test());
  EXPECT_EQ(recv->status().code(), Code::kAborted);
  std::vector<uint8_t> payload{1, 2, 3, 4};
  auto send = world[0]->channel(1).postSend(9, bytesOf(payload));
  EXPECT_EQ(got, std::vector<uint8_t>(4, 0xEE));
  std::vector<uint8_t> again(4);
  auto recv2 = world[1]->channel(0).postRecv(9, bytesOf(again));
  ASSERT_TRUE(waitOne(world[1], recv2).isOk());
  EXPECT_EQ(again, payload);
}

TEST(LoopbackTransport, DestroyingAnUnfinishedReceiveUnpostsIt) {
  auto world = makeLoopbackWorld(2);
  {
    std::vector<uint8_t> got(2);
    auto recv = world[1]->channel(0).postRecv(1, bytesOf(got));
  }
  std::vector<uint8_t> payload{5, 6};
  auto send = world[0]->channel(1).postSend(1, bytesOf(payload));
  std::vector<uint8_t> again(2);
  auto recv = world[1]->channel(0).postRecv(1, bytesOf(again));
  ASSERT_TRUE(waitOne(world[1], recv).isOk());
  EXPECT_EQ(again, payload);
}

TEST(LoopbackTransport, DeliveryRingsTheReceiversDoorbell) {
  auto world = makeLoopbackWorld(2);
  uint32_t before = world[1]->activityEpoch();
  std::vector<uint8_t> payload{1};
  auto send = world[0]->channel(1).postSend(1, bytesOf(payload));
  EXPECT_NE(world[1]->activityEpoch(), before);
}

TEST(LoopbackTransport, ParkedWaiterWakesOnDelivery) {
  auto world = makeLoopbackWorld(2);
  std::vector<uint8_t> got(3);
  auto recv = world[1]->channel(0).postRecv(4, bytesOf(got));
  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    std::vector<uint8_t> payload{7, 8, 9};
    auto send = world[0]->channel(1).postSend(4, bytesOf(payload));
  });
  Status st = waitOne(world[1], recv);
  sender.join();
  ASSERT_TRUE(st.isOk()) << st.toString();
  EXPECT_EQ(got, (std::vector<uint8_t>{7, 8, 9}));
}

TEST(LoopbackFaults, DroppedMessageTimesOutNamingThePeer) {
  auto faults = std::make_shared<FaultPlan>();
  auto world = makeLoopbackWorld(3, faults);
  faults->dropFrom(2);
  std::vector<uint8_t> payload{1}, got(1);
  auto send = world[2]->channel(0).postSend(6, bytesOf(payload));
  EXPECT_TRUE(send->test() && send->status().isOk()) << "a silent peer's sends still succeed";
  auto recv = world[0]->channel(2).postRecv(6, bytesOf(got));
  Status st = waitOne(world[0], recv, 0.2);
  EXPECT_EQ(st.code(), Code::kTimeout) << st.toString();
  EXPECT_THAT(st.message(), HasSubstr("from rank 2"));
  // Other links are unaffected.
  auto ok = world[1]->channel(0).postSend(6, bytesOf(payload));
  auto recv1 = world[0]->channel(1).postRecv(6, bytesOf(got));
  EXPECT_TRUE(waitOne(world[0], recv1).isOk());
}

TEST(LoopbackFaults, DropToLosesOnlyMessagesForThatRank) {
  auto faults = std::make_shared<FaultPlan>();
  auto world = makeLoopbackWorld(3, faults);
  faults->dropTo(1);
  std::vector<uint8_t> payload{3}, got1(1), got2(1);
  auto s1 = world[0]->channel(1).postSend(2, bytesOf(payload));
  auto s2 = world[0]->channel(2).postSend(2, bytesOf(payload));
  auto r1 = world[1]->channel(0).postRecv(2, bytesOf(got1));
  auto r2 = world[2]->channel(0).postRecv(2, bytesOf(got2));
  EXPECT_TRUE(waitOne(world[2], r2).isOk());
  EXPECT_EQ(waitOne(world[1], r1, 0.1).code(), Code::kTimeout);
}

TEST(LoopbackFaults, DelayedMessageArrivesLateAndInOrder) {
  auto faults = std::make_shared<FaultPlan>();
  auto world = makeLoopbackWorld(2, faults);
  faults->setDelay(std::chrono::milliseconds(200));
  std::vector<uint8_t> first{1}, second{2};
  auto s1 = world[0]->channel(1).postSend(1, bytesOf(first));
  faults->setDelay(std::chrono::milliseconds(0));
  // Sent without delay, but must not overtake the delayed message to the same receiver.
  auto s2 = world[0]->channel(1).postSend(1, bytesOf(second));
  std::vector<uint8_t> x(1), y(1);
  auto r1 = world[1]->channel(0).postRecv(1, bytesOf(x));
  auto r2 = world[1]->channel(0).postRecv(1, bytesOf(y));
  EXPECT_FALSE(r1->test()) << "delivered before its 200 ms delay";
  ASSERT_TRUE(waitOne(world[1], r1).isOk());
  ASSERT_TRUE(waitOne(world[1], r2).isOk());
  EXPECT_EQ(x[0], 1);
  EXPECT_EQ(y[0], 2);
}

TEST(LoopbackFaults, KillFailsPendingAndFutureRequests) {
  auto faults = std::make_shared<FaultPlan>();
  auto world = makeLoopbackWorld(3, faults);
  std::vector<uint8_t> got(4), payload(4, 1);
  auto pending = world[0]->channel(1).postRecv(1, bytesOf(got));
  Status waited;
  std::thread waiter([&] { waited = waitOne(world[0], pending, 30.0); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  faults->kill(1);
  waiter.join();
  EXPECT_EQ(waited.code(), Code::kIoError) << waited.toString();
  EXPECT_THAT(waited.message(), HasSubstr("connection to rank 1 lost"));

  auto send = world[0]->channel(1).postSend(2, bytesOf(payload));
  ASSERT_TRUE(send->test());
  EXPECT_EQ(send->status().code(), Code::kIoError);
  EXPECT_THAT(send->status().message(), HasSubstr("rank 1"));

  auto own = world[1]->channel(2).postSend(2, bytesOf(payload));
  ASSERT_TRUE(own->test());
  EXPECT_THAT(own->status().message(), HasSubstr("rank 1 is dead"));

  // Ranks 0 and 2 still talk.
  auto s = world[2]->channel(0).postSend(3, bytesOf(payload));
  auto r = world[0]->channel(2).postRecv(3, bytesOf(got));
  EXPECT_TRUE(waitOne(world[0], r).isOk());
}

}  // namespace
}  // namespace kolo
