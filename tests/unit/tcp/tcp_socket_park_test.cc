// Waiters that park on the TCP connections themselves (TcpTransport::parkOnSockets) and the
// doorbell's eventfd that lets a ring() reach a thread asleep in poll().
#include <gtest/gtest.h>
#include <poll.h>

#include <thread>

#include "kolo/base/cpu_contention.h"
#include "kolo/collectives/doorbell.h"
#include "tcp_world.h"

namespace kolo::test {
namespace {

using Bytes = std::vector<std::byte>;
using Clock = std::chrono::steady_clock;

// A park that nothing ends lasts this long; every wait below must end far sooner.
constexpr auto kLongPark = std::chrono::seconds(30);
constexpr auto kNoHang = std::chrono::seconds(10);

// Sleeps in poll() on the bell's eventfd as a socket park does; returns the poll's revents,
// or -1 when beginFdWait said the epoch had moved already.
int sleepOnFd(Doorbell& bell, int fd, uint32_t seen) {
  if (!bell.beginFdWait(seen)) return -1;
  pollfd p{fd, POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kLongPark).count()));
  bell.endFdWait();
  return p.revents;
}

TEST(DoorbellFdWake, RingReachesAThreadAsleepInPoll) {
  LocalDoorbell local;
  const int fd = local.enableFdWake();
  ASSERT_GE(fd, 0);
  const uint32_t seen = local.bell().epoch();
  const auto start = Clock::now();
  std::thread ringer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    local.bell().ring();
  });
  EXPECT_EQ(sleepOnFd(local.bell(), fd, seen), POLLIN);
  ringer.join();
  EXPECT_LT(Clock::now() - start, kNoHang);
  EXPECT_NE(local.bell().epoch(), seen);
}

TEST(DoorbellFdWake, AMovedEpochMeansNoSleepAndTheLastSleeperDrainsTheSignal) {
  LocalDoorbell local;
  const int fd = local.enableFdWake();
  ASSERT_GE(fd, 0);
  const uint32_t seen = local.bell().epoch();
  local.bell().ring();
  EXPECT_EQ(sleepOnFd(local.bell(), fd, seen), -1);

  // Two sleepers, one ring: both wake (the first out leaves the signal for the second), and
  // the eventfd is clear once both left.
  const uint32_t now = local.bell().epoch();
  int revents[2] = {0, 0};
  std::thread a([&] { revents[0] = sleepOnFd(local.bell(), fd, now); });
  std::thread b([&] { revents[1] = sleepOnFd(local.bell(), fd, now); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  local.bell().ring();
  a.join();
  b.join();
  // A sleeper that registered after the ring returns at once (-1); one that slept woke.
  for (int r : revents) EXPECT_TRUE(r == POLLIN || r == -1) << r;
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "the last sleeper out drained the eventfd";
}

class SocketPark : public ::testing::Test {
 protected:
  // Waiters spin (and so park on the sockets) whatever this machine's load.
  void SetUp() override { CpuContention::setModeForTesting(1); }
  void TearDown() override { CpuContention::setModeForTesting(-1); }
};

// Waits for `req` as Communicator's waiters do: poll the connections, then park. False when
// it is not done, or only after a park ran into its long timeout (a missed wake-up).
bool parkUntilDone(Transport& t, TransferRequest& req) {
  const auto limit = Clock::now() + kNoHang;
  while (!req.test() && Clock::now() < limit) {
    const uint32_t epoch = t.activityEpoch();
    if (t.pollIncoming() || req.test()) continue;
    t.waitForActivity(epoch, std::chrono::duration_cast<std::chrono::microseconds>(kLongPark));
  }
  return req.test() && Clock::now() < limit;
}

TEST_F(SocketPark, BytesOnTheConnectionWakeAParkedReceiver) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("park"));
  for (size_t bytes : {size_t{8}, size_t{40000}, size_t{3} << 20}) {
    Bytes out = patternBytes(bytes, static_cast<uint32_t>(bytes)), in(bytes);
    auto recv = world[1]->channel(0).postRecv(7, in);
    std::thread sender([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      auto send = world[0]->channel(1).postSend(7, out);
      EXPECT_TRUE(parkUntilDone(*world[0], *send)) << bytes << " B: the send never finished";
    });
    EXPECT_TRUE(parkUntilDone(*world[1], *recv)) << bytes << " B: the parked receiver slept on";
    sender.join();
    ASSERT_TRUE(recv->status().isOk()) << recv->status().toString();
    EXPECT_EQ(in, out) << bytes << " B";
  }
}

// Waits as a coordinator waiting for a peer's go does: it only tests the request and parks.
bool onlyParkUntilDone(Transport& t, TransferRequest& req) {
  const auto limit = Clock::now() + kNoHang;
  while (!req.test() && Clock::now() < limit) {
    t.waitForActivity(t.activityEpoch(),
                      std::chrono::duration_cast<std::chrono::microseconds>(kLongPark));
  }
  return req.test() && Clock::now() < limit;
}

TEST_F(SocketPark, AWaiterThatNeverPollsGetsBytesThatArriveWhileCallersRead) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("park-only"));
  // Polling waits leave the connections to the callers (the io thread stops watching them);
  // a waiter that then only parks must still see its message arrive.
  for (int round = 0; round < 20; ++round) {
    Bytes out = patternBytes(64, static_cast<uint32_t>(round)), in(64), in2(64);
    auto polled = world[1]->channel(0).postRecv(1, in);
    auto parked = world[1]->channel(0).postRecv(2, in2);
    auto first = world[0]->channel(1).postSend(1, out);
    EXPECT_TRUE(parkUntilDone(*world[1], *polled)) << "round " << round;
    std::thread sender([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      auto second = world[0]->channel(1).postSend(2, out);
      EXPECT_TRUE(parkUntilDone(*world[0], *second));
    });
    EXPECT_TRUE(onlyParkUntilDone(*world[1], *parked)) << "round " << round << ": slept on";
    sender.join();
    EXPECT_TRUE(parkUntilDone(*world[0], *first));
    ASSERT_EQ(in2, out) << "round " << round;
  }
}

TEST_F(SocketPark, APeerThatDiesWakesTheParkedReceiverWithAnErrorNamingIt) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("park-dead"));
  Bytes in(64);
  auto recv = world[1]->channel(0).postRecv(3, in);
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    world[0].reset();  // its sockets close
  });
  EXPECT_TRUE(parkUntilDone(*world[1], *recv)) << "the receiver slept through the peer's end";
  killer.join();
  EXPECT_EQ(recv->status().code(), Code::kIoError) << recv->status().toString();
  EXPECT_NE(recv->status().message().find("rank 0"), std::string::npos)
      << recv->status().message();
}

TEST_F(SocketPark, AHeldFrameIsDeliveredOnceItsReceiveIsPostedAfterTheReceiverParked) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("park-held"));
  // A large frame that arrives while no receive is posted is held unread in the socket; the
  // park does not watch that socket (it stays readable), and the frame lands in place once
  // its receive is posted.
  Bytes big = patternBytes(size_t{1} << 20, 5), bigIn(big.size());
  auto sendBig = world[0]->channel(1).postSend(1, big);
  for (int i = 0; i < 3; ++i) {
    const uint32_t epoch = world[1]->activityEpoch();
    world[1]->pollIncoming();
    world[1]->waitForActivity(epoch, std::chrono::milliseconds(20));
  }
  auto recvBig = world[1]->channel(0).postRecv(1, bigIn);
  std::thread sender([&] { EXPECT_TRUE(parkUntilDone(*world[0], *sendBig)); });
  EXPECT_TRUE(parkUntilDone(*world[1], *recvBig));
  sender.join();
  ASSERT_TRUE(recvBig->status().isOk()) << recvBig->status().toString();
  EXPECT_EQ(bigIn, big);
}

}  // namespace
}  // namespace kolo::test
